#!/usr/bin/env bash
# The run journal's cost (docs/benchmarks.md): segment on a scene with two builds, alternating.
# Usage: BEFORE=/path/landscribe AFTER=/path/landscribe TINY=tiny-model-dir BIG=clip-dir Tools/bench_journal.sh SCENE
set -euo pipefail
scene=${1:?usage: $0 SCENE}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
export LANDSCRIBE_CACHE=$work/cache
cd "$work"
for round in 1 2 3; do
  for model in tiny big; do
    if [ $model = tiny ]; then m=(--model "$TINY" --tile 128 --overlap 32); else m=(--model "$BIG" --rotations 0); fi
    for bin in BEFORE AFTER; do
      rm -f lc.* p.* .lc.* .p.*
      s=$("${!bin}" segment "$scene" -o lc.tif --probabilities p.tif --classes "water; land; tree, forest; building" "${m[@]}" --json \
          | python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')
      echo "round=$round model=$model build=$bin seconds=$s"
    done
  done
done
