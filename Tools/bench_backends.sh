#!/usr/bin/env bash
# Alternated rounds of the matrix-product backends and kernel sets (docs/benchmarks.md,
# "Matrix-product backends"):
#   Tools/bench_backends.sh MODEL [ROUNDS] [THREADS] > rounds.jsonl
# Each round runs every configuration below in turn: bench gemm 4100 x 3072 x 768 (10 runs), then
# bench encoder at 512, --batch 1 and --batch 4 (3 runs each). One JSON line per entry on stdout:
# round, entry, configuration (its environment), /proc/loadavg (1 min) before it, bench's JSON.
# OPENBLAS_CORETYPE and DNNL_MAX_CPU_ISA are set here only, per entry, to measure the kernels a
# machine may be pinned to; LANDSCRIBE_BACKEND / LANDSCRIBE_KERNELS pin ours.
set -euo pipefail
model=${1:?model folder}; rounds=${2:-3}; threads=${3:-2}
bin=${LANDSCRIBE_BIN:-.build/release/landscribe}
gemm_configs=(
    "LANDSCRIBE_BACKEND=openblas"
    "LANDSCRIBE_BACKEND=openblas OPENBLAS_CORETYPE=Haswell"
    "LANDSCRIBE_BACKEND=openblas OPENBLAS_CORETYPE=SkylakeX"
    "LANDSCRIBE_BACKEND=onednn DNNL_MAX_CPU_ISA=AVX2"
    "LANDSCRIBE_BACKEND=onednn"
)
encoder_configs=(
    "LANDSCRIBE_BACKEND=openblas"   # batch 1 only: 4-5x slower than the others (see gemm)
    "LANDSCRIBE_BACKEND=openblas OPENBLAS_CORETYPE=SkylakeX"
    "LANDSCRIBE_BACKEND=onednn LANDSCRIBE_KERNELS=avx2"
    "LANDSCRIBE_BACKEND=onednn"
)
entry() { # name config command...
    local name=$1 config=$2; shift 2
    local load json
    load=$(cut -d' ' -f1 /proc/loadavg)
    json=$(env $config "$@" | tr -d '\n ')
    echo "{\"round\":$round,\"entry\":\"$name\",\"config\":\"$config\",\"load\":$load,\"result\":$json}"
}
for round in $(seq 1 "$rounds"); do
    for config in "${gemm_configs[@]}"; do
        entry gemm "$config" "$bin" bench gemm --m 4100 --n 3072 --k 768 --threads "$threads" --runs 10 --json
    done
    for batch in 1 4; do
        for config in "${encoder_configs[@]}"; do
            [ "$batch" = 4 ] && [ "$config" = "LANDSCRIBE_BACKEND=openblas" ] && continue
            entry "b$batch" "$config" "$bin" bench encoder --model "$model" --size 512 --batch "$batch" --runs 3 --threads "$threads" --json
        done
    done
done
