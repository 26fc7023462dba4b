# shellcheck shell=bash
# Shell helpers of the deployment checks (Tools/slurm_e2e.sh, Tools/k8s_check.sh); sourced after
# they set root (the repository) and started (SECONDS at the start).
# shellcheck disable=SC2154  # root and started: set by the script that sources this
failures=0
check() {  # NAME COMMAND...: prints PASS or FAIL NAME as the command succeeds or not; counts failures
  local name=$1
  shift
  if "$@"; then echo "PASS: $name"; else echo "FAIL: $name"; failures=$((failures + 1)); fi
}
same_files() {  # DIR_A DIR_B: the same file names, each byte-identical (cmp); a STAC item but for
  # its "created" and "datetime", the clock time of the run
  local a=$1 b=$2 f clock='^ *"(created|datetime)" : '
  diff <(file_names "$a") <(file_names "$b") || return 1
  while read -r f; do
    case $f in
      *.stac.json) diff <(grep -Ev "$clock" "$a/$f") <(grep -Ev "$clock" "$b/$f") || return 1 ;;
      *) cmp "$a/$f" "$b/$f" || return 1 ;;
    esac
  done < <(file_names "$a")
}
file_names() {  # DIR: its files' paths under it, sorted, one a line
  (cd "$1" && find . -type f | sed 's|^\./||' | sort)
}
copy_tiny_model() {  # DIR: the tiny random CLIP of the test fixtures as a model folder (its map means nothing)
  local fixtures=$root/Tests/CLIPTests/Fixtures
  mkdir -p "$1"
  cp "$fixtures/tiny-clip/config.json" "$fixtures/tiny-clip/model.safetensors" \
    "$fixtures/clip-tokenizer/vocab.json" "$fixtures/clip-tokenizer/merges.txt" "$1/"
}
finish() {  # NAME: the summary line and the exit status
  echo "$1: $((SECONDS - started)) s in all"
  if [ "$failures" != 0 ]; then
    echo "$failures check(s) FAILED" >&2
    exit 1
  fi
  echo "all checks PASSED"
}
