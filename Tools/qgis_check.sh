#!/usr/bin/env bash
# The QGIS check (make test-qgis): makes a class map and objects with landscribe on the
# synthetic sample scene (the tiny random CLIP of the test fixtures: the map means nothing,
# its form is what is checked), then opens them in PyQGIS headless (Tools/qgis_check.py).
# Usage: Tools/qgis_check.sh LANDSCRIBE_BINARY OUT_DIR
# Leaves OUT_DIR/qgis-render.png (the map with the objects over it, as QGIS draws it).
set -euo pipefail
bin=${1:?usage: $0 LANDSCRIBE_BINARY OUT_DIR}
out=${2:?usage: $0 LANDSCRIBE_BINARY OUT_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fixtures=$root/Tests/CLIPTests/Fixtures
mkdir -p "$work/model"
cp "$fixtures/tiny-clip/config.json" "$fixtures/tiny-clip/model.safetensors" "$fixtures/clip-tokenizer/vocab.json" "$fixtures/clip-tokenizer/merges.txt" "$work/model/"
export LANDSCRIBE_CACHE=$work/cache
run=(--model "$work/model" --tile 256 --overlap 64 --rotations 0 --quiet)

"$root/Samples/make_sample_scene.sh" "$work/scene.tif" > /dev/null
"$bin" segment "$work/scene.tif" -o "$work/map.tif" --pipeline "$root/Pipelines/landcover.yaml" --confidence "${run[@]}"
mkdir "$work/copy"
cp "$work/map.tif" "$work/map.qml" "$work/copy/"
classes="building; road; tree; water"
"$bin" detect "$work/scene.tif" -o "$work/objects.geojson" --gpkg "$work/objects.gpkg" --classes "$classes" "${run[@]}" --json > "$work/detect.json"
"$bin" detect "$work/scene.tif" -o "$work/objects.fgb" --classes "$classes" "${run[@]}"

# A scene without a CRS or geotransform: objects in pixel coordinates.
gdal_translate -q -outsize 400 300 -co PROFILE=BASELINE "$work/scene.tif" "$work/plain.tif"
rm -f "$work/plain.tif.aux.xml"
"$bin" segment "$work/plain.tif" -o "$work/plain-map.tif" --classes "$classes" "${run[@]}"
"$bin" detect "$work/plain.tif" -o "$work/plain-objects.gpkg" --classes "$classes" --pixel-coordinates "${run[@]}"

# What QGIS should show, read from the pipeline file and detect's summary (not from the outputs).
/usr/bin/python3 - "$root/Pipelines/landcover.yaml" "$work/detect.json" > "$work/expected.json" <<'EOF'
import json, re, sys
entries = re.findall(r'\{name: ([^,]+), .*color: "(#[0-9a-fA-F]{6})"', open(sys.argv[1]).read())
print(json.dumps({"classes": [n.strip() for n, _ in entries], "colors": [c.lower() for _, c in entries],
                  "objects": json.load(open(sys.argv[2]))["objects"]}))
EOF
QT_QPA_PLATFORM=offscreen XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$work} /usr/bin/python3 "$root/Tools/qgis_check.py" "$work" "$out/qgis-render.png"
