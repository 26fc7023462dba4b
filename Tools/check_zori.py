#!/usr/bin/env python3
"""End-to-end check of `landscribe segment --dec --exemplars` against the PyTorch reference
(Tools/segment_reference.py, docs/METHOD.md sections 2-6 and 10) on a real georeferenced crop.

Writes exemplar polygons in EPSG:4326 (GeoJSON; several classes, a multipolygon, one too small
to hold a patch-cell centre), runs the landscribe binary on the crop with those exemplars, `dec`,
four rotations and synonyms, runs the reference on the same pixels with the same polygons
brought back to the scene's pixel grid, and compares the class probabilities: the largest
absolute difference, the largest difference over each class's range, and the correlation.
Coordinates go through GDAL's command-line tools (gdalinfo, gdaltransform, gdal_translate),
which must be on PATH.

Usage (from the package root):
  python3 Tools/check_zori.py --scene crop.tif --model /tmp/clip-b16-random \
      [--landscribe .build/debug/landscribe] [--out /tmp/zori-check] [--dec-keep 0.390625]
"""
import argparse
import json
import pathlib
import subprocess
import time

import numpy as np
import torch

import segment_reference as ref

CLASSES = [("building", ["building", "house"]), ("road", ["road", "highway"]),
           ("field", ["field", "farmland"]), ("tree", ["tree", "forest"])]
# Exemplars as fractions of the scene's width and height (x right, y down): class, polygons.
EXEMPLARS = [
    ("field", [[[(0.05, 0.06), (0.30, 0.05), (0.32, 0.28), (0.06, 0.30)]]]),
    ("tree", [[[(0.55, 0.60), (0.80, 0.58), (0.78, 0.85), (0.57, 0.83)]]]),
    ("road", [[[(0.40, 0.10), (0.46, 0.10), (0.46, 0.90), (0.40, 0.90)]]]),
    ("building", [[[(0.85, 0.10), (0.95, 0.10), (0.95, 0.22), (0.85, 0.22)]],
                  [[(0.10, 0.70), (0.20, 0.70), (0.20, 0.80), (0.10, 0.80)]]]),
    ("field", [[[(0.631, 0.312), (0.638, 0.312), (0.638, 0.321), (0.631, 0.321)]]]),  # tiny
]


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def transform(points, s_srs, t_srs):
    out = run(["gdaltransform", "-s_srs", s_srs, "-t_srs", t_srs, "-output_xy"],
              input="".join(f"{x:.12f} {y:.12f}\n" for x, y in points))
    return [tuple(float(v) for v in line.split()) for line in out.strip().split("\n")]


def raw(path, out, bands, dtype):
    args = ["gdal_translate", "-q", "-of", "ENVI", "-co", "INTERLEAVE=BSQ"] + sum((["-b", str(b)] for b in bands), []) + [str(path), str(out)]
    run(args)
    return np.fromfile(out, dtype=dtype)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scene", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--landscribe", default=".build/debug/landscribe")
    ap.add_argument("--out", default="/tmp/zori-check")
    ap.add_argument("--dec-keep", type=float, default=0.390625)
    ap.add_argument("--weight", type=float, default=1.0)
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--no-dec", action="store_true", help="leave dec off (both sides)")
    ap.add_argument("--no-exemplars", action="store_true", help="leave the exemplars off (both sides)")
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    info = json.loads(run(["gdalinfo", "-json", args.scene]))
    width, height = info["size"]
    gt = info["geoTransform"]
    wkt = out / "scene.wkt"
    wkt.write_text(info["coordinateSystem"]["wkt"])
    srs = str(wkt)

    def to_world(x, y):
        return gt[0] + x * gt[1] + y * gt[2], gt[3] + x * gt[4] + y * gt[5]

    # exemplars -> EPSG:4326 GeoJSON
    features = []
    for cls, polys in EXEMPLARS:
        coords = []
        for poly in polys:
            rings = []
            for ring in poly:
                pts = [to_world(fx * width, fy * height) for fx, fy in ring]
                lonlat = transform(pts, srs, "EPSG:4326")
                rings.append([list(p) for p in lonlat + lonlat[:1]])
            coords.append(rings)
        features.append({"type": "Feature", "properties": {"class": cls.upper() if cls == "tree" else cls},
                         "geometry": {"type": "MultiPolygon", "coordinates": coords}})
    assert all(-180 <= p[0] <= 180 and -90 <= p[1] <= 90 for f in features for r in f["geometry"]["coordinates"] for q in r for p in q)
    geojson = out / "exemplars.geojson"
    geojson.write_text(json.dumps({"type": "FeatureCollection", "features": features}))

    # landscribe
    class_list = "; ".join(", ".join(p) for _, p in CLASSES)
    cmd = [args.landscribe, "segment", args.scene, "-o", str(out / "map.tif"), "--probabilities", str(out / "probs.tif"),
           "--classes", class_list, "--model", args.model, "--tile", str(args.tile), "--overwrite", "--json", "--quiet"]
    if not args.no_dec:
        cmd += ["--dec", "--dec-keep", str(args.dec_keep)]
    if not args.no_exemplars:
        cmd += ["--exemplars", str(geojson), "--exemplar-weight", str(args.weight)]
    start = time.perf_counter()
    summary = json.loads(run(cmd))
    swift_seconds = time.perf_counter() - start
    probs = raw(out / "probs.tif", out / "probs.raw", range(1, len(CLASSES) + 1), "<f4").reshape(len(CLASSES), height, width)

    # the reference, on the same pixels and the polygons brought back to the pixel grid
    rgb = raw(args.scene, out / "scene.raw", [1, 2, 3], "u1").reshape(3, height, width).transpose(1, 2, 0)
    valid = np.ones((height, width), dtype=bool)
    inv = np.linalg.inv(np.array([[gt[1], gt[2]], [gt[4], gt[5]]]))
    exemplars = []
    for (cls, _), f in zip(EXEMPLARS, features):
        polys = []
        for rings in f["geometry"]["coordinates"]:
            poly = []
            for ring in rings:
                world = transform([tuple(p) for p in ring], "EPSG:4326", srs)
                poly.append([tuple(inv @ np.array([x - gt[0], y - gt[3]])) for x, y in world][:-1])
            polys.append(poly)
        exemplars.append(([c for c, _ in CLASSES].index(cls), polys))
    torch.set_num_threads(2)
    model, tokenizer = ref.load(args.model, args.model)
    templates = ref.templates_named("aeroseg")
    queries, query_class = ref.text_queries(model, tokenizer, CLASSES, templates)
    channels = None if args.no_dec else ref.dec_channels(queries, args.dec_keep)
    cache, details = None, []
    if not args.no_exemplars:
        keys, details = ref.exemplar_keys(model, rgb, valid, exemplars, args.tile, channels)
        cache = dict(keys=keys, key_class=[c for c, _ in exemplars], query_class=query_class, weight=args.weight)
    cfg = dict(tile=args.tile, overlap=128, rotations=[0, 90, 180, 270], cls_lambda=-0.3, logit_scale=50.0,
               threshold=0.0, background=None, channels=channels, cache=cache)
    res = ref.segment(model, queries, query_class, len(CLASSES), rgb, valid, cfg)

    diff = np.abs(probs - res["probs"])
    ranges = np.ptp(res["probs"].reshape(len(CLASSES), -1), axis=1)
    per_class = [float(diff[c].max() / max(ranges[c], 1e-12)) for c in range(len(CLASSES))]
    corr = float(np.corrcoef(probs.ravel(), res["probs"].ravel())[0, 1])
    classes_equal = float((np.argmax(probs, 0) == res["classes"]).mean())
    np.save(out / "reference_probs.npy", res["probs"])
    report = dict(scene=args.scene, size=[width, height], dec_keep=None if args.no_dec else args.dec_keep,
                  kept=None if channels is None else len(channels),
                  exemplars=[dict(cls=CLASSES[c][0], **d) for (c, _), d in zip(exemplars, details)],
                  swift_summary=summary.get("exemplars"), swift_seconds=round(swift_seconds, 1),
                  max_abs=float(diff.max()), max_over_range=max(per_class), per_class_over_range=per_class,
                  correlation=corr, same_class=classes_equal)
    print(json.dumps(report, indent=1))
    ok = report["max_abs"] <= 1e-3 and report["max_over_range"] <= 0.01 and corr >= 0.9999
    assert args.no_exemplars or any(d["fallback"] for d in details), "one exemplar is too small to hold a cell centre"
    print("PASS" if ok else "FAIL")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
