#!/usr/bin/env bash
# Cost of --dec and --exemplars (20 polygons) on a 768 x 720 crop of a real scene
# (docs/benchmarks.md "ZoRI's --dec and --exemplars"): plain, --dec, --exemplars, both, in
# alternated rounds, one worker thread (--threads 1), rotation 0; CPU and wall seconds per run.
#
#   Tools/bench_zori.sh SCENE.tif MODEL_DIR [OUT_DIR] [ROUNDS]
#
# Needs gdal_translate, gdalinfo and python3; LANDSCRIBE (default .build/debug/landscribe).
set -euo pipefail
scene=$1 model=$2 out=${3:-/tmp/bench-zori} rounds=${4:-2}
L=${LANDSCRIBE:-.build/debug/landscribe}
mkdir -p "$out"
gdal_translate -q -srcwin 0 0 768 720 "$scene" "$out/crop.tif"
# 20 rectangles of 12-60 pixels, seeded, five per class, in the crop's CRS
python3 - "$out" <<'PY'
import json, random, subprocess, sys
out = sys.argv[1]
info = json.loads(subprocess.check_output(["gdalinfo", "-json", f"{out}/crop.tif"]))
gt, wkt = info["geoTransform"], info["coordinateSystem"]["wkt"]
epsg = subprocess.check_output(["gdalsrsinfo", "-e", f"{out}/crop.tif"], text=True).split("EPSG:")[1].split()[0]
random.seed(16)
classes, feats = ["building", "road", "field", "tree"], []
for i in range(20):
    w, h = random.uniform(12, 60), random.uniform(12, 60)
    x, y = random.uniform(0, 768 - w), random.uniform(0, 720 - h)
    ring = [(x, y), (x + w, y), (x + w, y + h), (x, y + h), (x, y)]
    world = [[gt[0] + px * gt[1], gt[3] + py * gt[5]] for px, py in ring]
    feats.append({"type": "Feature", "properties": {"class": classes[i % 4]}, "geometry": {"type": "Polygon", "coordinates": [world]}})
json.dump({"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{epsg}"}},
           "features": feats}, open(f"{out}/exemplars20.geojson", "w"))
PY
common=(segment "$out/crop.tif" --classes "building, house; road, highway; field, farmland; tree, forest" --model "$model"
        --rotations 0 --threads 1 --overwrite --json --quiet)
for round in $(seq 1 "$rounds"); do
  for cfg in plain dec exemplars both; do
    extra=()
    case $cfg in
      dec) extra=(--dec) ;;
      exemplars) extra=(--exemplars "$out/exemplars20.geojson") ;;
      both) extra=(--dec --exemplars "$out/exemplars20.geojson") ;;
    esac
    /usr/bin/time -f "round $round $cfg: wall %e s, CPU %U s" "$L" "${common[@]}" -o "$out/$cfg.tif" "${extra[@]}" \
      >"$out/${cfg}_$round.json" 2>>"$out/times.txt"
  done
done
cat "$out/times.txt"
