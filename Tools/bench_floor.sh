#!/usr/bin/env bash
# How fast an F32 forward can get on this CPU, beside ours and PyTorch's (docs/benchmarks.md,
# "Where 0.6x PyTorch lies"):
#   Tools/bench_floor.sh CLIP_MODEL SAM3_MODEL [ROUNDS] [THREADS]
# Each round times, alternating the order every other round:
# - the floor: every linear-layer product of one forward as one plain product (bench gemm,
#   --runs 5, median) at the model's shapes (CLIP ViT-B/16 at 512, batch 4: 4100 rows, 12 layers;
#   SAM 3's ViT at 1008: 5184 rows, 32 layers), summed; and the attention of one forward on our
#   kernels (bench attention at the same shapes; SAM 3: 28 windowed layers of 9 windows of 576
#   tokens, 4 global layers of 5184; 16 heads of 64; CLIP: 12 layers of 12 heads of 64, 1025 tokens);
# - our forward (bench encoder: CLIP --batch 4 --runs 3, SAM 3 --runs 2) and PyTorch's
#   (Tools/bench_torch_encoder.py, Tools/bench_torch_sam3.py: get_vision_features).
# One line per entry: round, model, what, seconds per image.
# PYTHON: the interpreter with torch and transformers (default python3);
# LANDSCRIBE_BIN: the build (default .build/release/landscribe).
set -euo pipefail
clip=${1:?CLIP model folder}; sam3=${2:?SAM 3 model folder}; rounds=${3:-3}; threads=${4:-2}
bin=${LANDSCRIBE_BIN:-.build/release/landscribe}; python=${PYTHON:-python3}
field() { python3 -c "import json, sys; print(json.load(sys.stdin)['$1'])"; }
sum() { python3 -c "import sys; print(round(sum(float(x) for x in sys.argv[1:]), 3))" "$@"; }
times() { python3 -c "print(round($1 * $2, 3))"; }
products() { # rows layers "n k"... -> seconds of every product of one forward
    local m=$1 layers=$2; shift 2
    local each=()
    for nk in "$@"; do
        set -- $nk
        each+=("$("$bin" bench gemm --m "$m" --n "$1" --k "$2" --threads "$threads" --runs 5 --json | field median_seconds)")
    done
    times "$(sum "${each[@]}")" "$layers"
}
attention() { # tokens heads -> median seconds
    "$bin" bench attention --tokens "$1" --head-dim 64 --heads "$2" --threads "$threads" --runs 5 --json | field median_seconds
}
line() { echo "round=$round $*"; }
clip_floor() {
    line clip products "$(times "$(products 4100 12 '2304 768' '768 768' '3072 768' '768 3072')" 0.25)"
    line clip attention "$(times "$(attention 1025 12)" 12)"
}
clip_ours() {
    line clip ours "$("$bin" bench encoder --model "$clip" --size 512 --batch 4 --runs 3 --threads "$threads" --json | field seconds_per_image)"
}
clip_torch() {
    line clip pytorch "$("$python" Tools/bench_torch_encoder.py --model "$clip" --size 512 --batch 4 --runs 3 --threads "$threads" | tail -1 | field seconds_per_image)"
}
sam3_floor() {
    line sam3 products "$(products 5184 32 '3072 1024' '1024 1024' '4736 1024' '1024 4736')"
    # 48 heads = 3 windows of 16 heads: 3 calls per windowed layer.
    line sam3 attention "$(sum "$(times "$(attention 576 48)" 84)" "$(times "$(attention 5184 16)" 4)")"
}
sam3_ours() {
    line sam3 ours "$("$bin" bench encoder --model "$sam3" --size 1008 --runs 2 --threads "$threads" --json | field seconds_per_image)"
}
sam3_torch() {
    line sam3 pytorch "$("$python" Tools/bench_torch_sam3.py --model "$sam3" --batch 1 --runs 2 --threads "$threads" | tail -1 | field seconds_per_image)"
}
for round in $(seq 1 "$rounds"); do
    if (( round % 2 )); then
        sam3_floor; sam3_ours; sam3_torch; clip_floor; clip_ours; clip_torch
    else
        clip_torch; clip_ours; clip_floor; sam3_torch; sam3_ours; sam3_floor
    fi
done
