#!/usr/bin/env bash
# Writes a small synthetic georeferenced scene with GDAL's own tools (gdal-bin):
# 1200 x 900 pixels, 3 x Byte RGB, EPSG:32632 (UTM 32N), 0.5 m pixels, near Cologne.
# Grass everywhere, a river, a road and a few buildings, burnt in from GeoJSON shapes.
# Usage: Samples/make_sample_scene.sh OUT.tif
set -euo pipefail
out=${1:?usage: $0 OUT.tif}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
x0=356000; y0=5646000  # top-left corner (metres)
gdal_create -q -of GTiff -outsize 1200 900 -bands 3 -ot Byte -burn 96 -burn 132 -burn 64 \
  -a_srs EPSG:32632 -a_ullr $x0 $y0 $((x0 + 600)) $((y0 - 450)) -co TILED=YES "$tmp/scene.tif"
shape() {  # name r g b geojson-geometry
  printf '{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"EPSG:32632"}},"features":[{"type":"Feature","properties":{},"geometry":%s}]}' "$5" > "$tmp/$1.geojson"
  gdal_rasterize -q -b 1 -b 2 -b 3 -burn "$2" -burn "$3" -burn "$4" "$tmp/$1.geojson" "$tmp/scene.tif"
}
shape river 40 70 140 "{\"type\":\"Polygon\",\"coordinates\":[[[$x0,$((y0-300))],[$((x0+600)),$((y0-250))],[$((x0+600)),$((y0-290))],[$x0,$((y0-345))],[$x0,$((y0-300))]]]}"
shape road 150 150 150 "{\"type\":\"Polygon\",\"coordinates\":[[[$((x0+280)),$y0],[$((x0+292)),$y0],[$((x0+292)),$((y0-450))],[$((x0+280)),$((y0-450))],[$((x0+280)),$y0]]]}"
for i in 0 1 2 3; do
  bx=$((x0 + 40 + i * 55)); by=$((y0 - 40))
  shape "building$i" 190 80 70 "{\"type\":\"Polygon\",\"coordinates\":[[[$bx,$by],[$((bx+30)),$by],[$((bx+30)),$((by-25))],[$bx,$((by-25))],[$bx,$by]]]}"
done
gdal_translate -q -of COG -co COMPRESS=DEFLATE "$tmp/scene.tif" "$out"
echo "wrote $out"
