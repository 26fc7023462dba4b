#!/usr/bin/env bash
# Every parity test under every matrix-product backend and C kernel set this machine runs
# (issue 12, item 4; `make test` runs it after `swift test`, which covers the automatic choice).
#
#   Tools/parity_matrix.sh            # after `swift build --build-tests`
#
# For each pair of LANDSCRIBE_BACKEND (onednn, openblas) and LANDSCRIBE_KERNELS (avx512, avx2,
# baseline), asks the debug binary whether the pair is honoured here (`bench gemm` on a tiny
# product prints a warning and falls back when it is not; then the pair is skipped and said so),
# and runs the parity suites with that environment: CLIP and SAM 3 against transformers' goldens,
# METHOD.md against the PyTorch reference (both engines, ZoRI's options, buffer reuse), the tensor
# ops against PyTorch, and the backend and kernel tests, which include a check that the pinned
# pair is the one in use. The tolerances are the suites' own. OPENBLAS_CORETYPE is left as the machine sets it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
swift="${SWIFT:-swift}"
cd "$root"
bin="$("$swift" build --show-bin-path)/landscribe"
suites='CLIPTests.ParityTests|CLIPTests.BF16ParityTests|SAM3Tests.SAM3ParityTests|SegmentationTests|TensorTests'
automatic="$("$bin" bench gemm --m 8 --n 8 --k 8 --runs 1 --threads 1 --json 2>/dev/null | sed -n 's/.*"backend" : "\([a-z]*\) .*/\1/p')"
log="$(mktemp "${TMPDIR:-/tmp}/parity-matrix.XXXXXX")"
trap 'rm -f "$log"' EXIT
ran=0
for backend in onednn openblas; do
  for kernels in avx512 avx2 baseline; do
    if ! warning="$(LANDSCRIBE_BACKEND=$backend LANDSCRIBE_KERNELS=$kernels "$bin" bench gemm --m 8 --n 8 --k 8 --runs 1 --threads 1 --json 2>&1 >/dev/null)"; then
      echo "parity matrix: bench gemm failed with LANDSCRIBE_BACKEND=$backend LANDSCRIBE_KERNELS=$kernels: $warning" >&2
      exit 1
    fi
    if [ -n "$warning" ]; then
      echo "parity matrix: $backend + $kernels not run here: $warning"
      continue
    fi
    echo "parity matrix: LANDSCRIBE_BACKEND=$backend LANDSCRIBE_KERNELS=$kernels (automatic backend here: $automatic)"
    status=0
    # One test at a time: BLAS.withThreads sets a process-wide count (OpenBLAS's own is global),
    # the CLIP encoders set it to 1 while they run, and an OpenBLAS product's last bits depend on
    # it, so a byte-for-byte check running beside a CLIP test could see two counts (seen once in
    # eight runs with openblas). ThreadCountPin orders the tests, not the library's own calls.
    LANDSCRIBE_BACKEND=$backend LANDSCRIBE_KERNELS=$kernels "$swift" test --skip-build --no-parallel --filter "$suites" > "$log" 2>&1 || status=$?
    grep -E '✘|Test run' "$log" || true
    if [ "$status" -ne 0 ]; then
      tail -n 60 "$log"
      echo "parity matrix: failures with LANDSCRIBE_BACKEND=$backend LANDSCRIBE_KERNELS=$kernels" >&2
      exit 1
    fi
    ran=$((ran + 1))
  done
done
echo "parity matrix: $ran backend and kernel pairs passed"
