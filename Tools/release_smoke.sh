#!/usr/bin/env bash
# The release build, run once end to end (make smoke-release; CI runs it). The tests run the
# debug build; a fault that only the optimised build shows (a task-local in the scene runner
# crashed every release run while all debug tests passed, session 6) would otherwise first show
# in `make demo` or a user's run.
# Maps the synthetic sample scene with the tiny random CLIP and SAM 3 of the test fixtures (the
# maps mean nothing): segment with preview and area table, detect, a 2-shard plan merged and
# compared byte for byte with the single run, and the SAM 3 engine with its progress line.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
swift="${SWIFT:-swift}"
cd "$root"
"$swift" build -c release --product landscribe
bin="$("$swift" build -c release --show-bin-path)/landscribe"
work="$(mktemp -d "${TMPDIR:-/tmp}/landscribe-smoke.XXXXXX")"
trap 'rm -rf "$work"' EXIT
fixtures="$root/Tests"
mkdir -p "$work/clip" "$work/sam3"
cp "$fixtures/CLIPTests/Fixtures/tiny-clip/config.json" "$fixtures/CLIPTests/Fixtures/tiny-clip/model.safetensors" \
   "$fixtures/CLIPTests/Fixtures/clip-tokenizer/vocab.json" "$fixtures/CLIPTests/Fixtures/clip-tokenizer/merges.txt" "$work/clip/"
cp "$fixtures/SAM3Tests/Fixtures/tiny-sam3/config.json" "$fixtures/SAM3Tests/Fixtures/tiny-sam3/model.safetensors" \
   "$fixtures/CLITests/Fixtures/predict/vocab.json" "$fixtures/CLITests/Fixtures/predict/merges.txt" "$work/sam3/"
Samples/make_sample_scene.sh "$work/scene.tif" >/dev/null
export LANDSCRIBE_CACHE="$work/cache"
classes="water; tree, forest; building, roof; road"
step() { echo "smoke: $*"; }

step "segment (release) with preview and area table"
"$bin" segment "$work/scene.tif" -o "$work/one.tif" --probabilities "$work/one-p.tif" --classes "$classes" --model "$work/clip" \
  --tile 256 --overlap 64 --preview "$work/one.png" --stats "$work/one.csv" --quiet
step "detect (release)"
"$bin" detect "$work/scene.tif" -o "$work/objects.geojson" --classes "$classes" --model "$work/clip" --tile 256 --overlap 64 --quiet
step "plan, 2 shards, merge (release), compared with the single run"
"$bin" segment "$work/scene.tif" --plan 2 --shard-dir "$work/shards" -o "$work/two.tif" --probabilities "$work/two-p.tif" \
  --classes "$classes" --model "$work/clip" --tile 256 --overlap 64 --quiet
"$bin" shard "$work/shards" --index 1 --quiet
JOB_COMPLETION_INDEX=0 "$bin" shard "$work/shards" --quiet
"$bin" merge "$work/shards" --quiet
cmp "$work/one.tif" "$work/two.tif"
cmp "$work/one-p.tif" "$work/two-p.tif"
step "segment with the SAM 3 engine (release), progress inside tiles"
"$bin" segment "$work/scene.tif" -o "$work/sam3.tif" --classes "car, vehicle; tree" --model "$work/sam3" \
  --tile 512 --overlap 128 --object-threshold 0.2 2> "$work/sam3.log"
grep -q "step" "$work/sam3.log" || { echo "smoke: no step progress from the SAM 3 engine" >&2; cat "$work/sam3.log" >&2; exit 1; }
step "all passed"
