#!/usr/bin/env bash
# Peak resident memory of `landscribe segment` on synthetic scenes of one width and several
# heights: with the strip stitcher and a block cache sized by width, it must level off with the
# height. Usage: Tools/segment_memory.sh MODEL_DIR WIDTH HEIGHT [HEIGHT ...]   (gdal-bin, GNU time)
set -euo pipefail
model=${1:?usage: $0 MODEL_DIR WIDTH HEIGHT [HEIGHT ...]}; w=${2:?width}; shift 2
bin=${LANDSCRIBE:-.build/release/landscribe}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for h in "$@"; do
  gdal_create -q -of GTiff -outsize "$w" "$h" -bands 3 -ot Byte -burn 90 -burn 120 -burn 60 -a_srs EPSG:32632 \
    -a_ullr 500000 $((5700000 + h / 2)) $((500000 + w / 2)) 5700000 -co TILED=YES "$tmp/scene.tif"
  /usr/bin/time -f "%M" -o "$tmp/rss" "$bin" segment "$tmp/scene.tif" -o "$tmp/map.tif" --probabilities "$tmp/p.tif" \
    --classes "water; grass; road; building" --model "$model" --rotations 0 --quiet --overwrite
  echo "width $w height $h: peak RSS $(( $(cat "$tmp/rss") / 1024 )) MiB"
done
