#!/usr/bin/env bash
# Runs the libFuzzer targets one after another (docs/fuzzing.md); `make fuzz` calls it.
#
#   Tools/fuzz.sh [TARGET...]     default: every target in Fuzz/Corpus
#
# Environment: FUZZ_SECONDS (60) per target, FUZZ_RUNS (unlimited) stops a target earlier,
# FUZZ_TIMEOUT (10) seconds for one input before it counts as a hang, SWIFT (swift).
# Each target runs on a copy of its committed seed corpus under .build-fuzz/runs/<target>/,
# which also receives the crash-*/timeout-*/oom-* files; the committed corpus is never written.
# Exits 1 when a target crashed, hung or ran out of memory.
set -uo pipefail
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_RUNS=${FUZZ_RUNS:--1}
FUZZ_TIMEOUT=${FUZZ_TIMEOUT:-10}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=($(ls Fuzz/Corpus))

# libFuzzer's LLVMFuzzerRunDriver is called from Swift's main (Sources/Fuzz/FuzzSupport), so
# it must be in the dynamic symbol table.
build=(-c debug --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address
       -Xlinker --export-dynamic-symbol=LLVMFuzzerRunDriver)
for t in "${targets[@]}"; do
  echo "building $t (fuzzer + address sanitizer)"
  mkdir -p .build-fuzz
  "$SWIFT" build "${build[@]}" --product "$t" >.build-fuzz/build.log 2>&1
  rc=$?
  # ld.gold warns about every ASan helper it cannot export; those lines say nothing.
  grep -E "error:|Build" .build-fuzz/build.log | grep -v "Cannot export local symbol" | sort -u
  [ $rc = 0 ] || { echo "building $t failed (.build-fuzz/build.log)"; exit 1; }
done

# Swift's own crash handler would catch a trap before libFuzzer does, and its helper process
# can outlive a target that the address sanitizer stops: libFuzzer reports crashes alone.
export SWIFT_BACKTRACE=enable=no
status=0
summary=()
for t in "${targets[@]}"; do
  run=.build-fuzz/runs/$t
  rm -rf "$run" && mkdir -p "$run/corpus" "$run/artifacts"
  cp Fuzz/Corpus/"$t"/* "$run/corpus/"
  echo "fuzzing $t for at most ${FUZZ_SECONDS}s (log: $run/log)"
  ".build-fuzz/debug/$t" -max_total_time="$FUZZ_SECONDS" -runs="$FUZZ_RUNS" -timeout="$FUZZ_TIMEOUT" \
    -artifact_prefix="$run/artifacts/" -print_final_stats=1 "$run/corpus" >"$run/log" 2>&1
  rc=$?
  done_line=$(grep -E "^Done [0-9]+ runs in [0-9]+ second" "$run/log" | tail -1)
  execs=$(grep -E "^stat::number_of_executed_units:" "$run/log" | tail -1 | awk '{print $2}')
  artifacts=$(ls "$run/artifacts")
  if [ $rc -ne 0 ] || [ -n "$artifacts" ]; then
    status=1
    summary+=("$t: FAILED (exit $rc) after ${execs:-?} executions; artifacts: $(echo $artifacts)")
    grep -E "ERROR|SUMMARY|Fatal error|deadly signal|timeout|out-of-memory" "$run/log" | head -5
  else
    summary+=("$t: ${done_line:-? runs}, corpus $(ls "$run/corpus" | wc -l) inputs")
  fi
done
echo
printf '%s\n' "${summary[@]}"
[ $status = 0 ] || echo "replay an input: .build-fuzz/debug/<target> <file> (make it a regression test, docs/fuzzing.md)"
exit $status
