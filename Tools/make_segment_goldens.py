#!/usr/bin/env python3
"""Write the segmentation goldens of Tests/SegmentationTests/Fixtures/ (layout: its README.md).

Runs Tools/segment_reference.py (docs/METHOD.md sections 2-6 and 10 over transformers) on a
seeded synthetic scene with the tiny random CLIP, in six configurations, after its self-checks.
Deterministic: torch runs on one thread, the scene comes from a formula and a seeded numpy
generator; two runs write byte-identical files.

Usage (from the package root):
  python3 Tools/make_segment_goldens.py [--model Tests/CLIPTests/Fixtures/tiny-clip]
      [--tokenizer Tests/CLIPTests/Fixtures/clip-tokenizer] [--out Tests/SegmentationTests/Fixtures]
"""
import argparse
import json
import time

import numpy as np
import torch

import segment_reference as ref

WIDTH, HEIGHT = 264, 228
NODATA_BLOCK = (140, 132)  # x < 140 and y < 132 is nodata: holds the whole tile at (0, 0)
CROP = dict(x=100, y=90, width=100, height=90)  # config c: one tile, not a multiple of 16
SEED = 20241123

BASE = dict(tile=128, overlap=32, logit_scale=50.0, cls_lambda=-0.3)
FOUR = [("building", ["building", "house"]), ("road", ["road", "highway"]), ("parking lot", ["parking lot"]),
        ("farmland", ["farmland"])]
CONFIGS = {
    "a": dict(classes=FOUR, templates="aeroseg", rotations=[0, 90, 180, 270], threshold=0.0,
              background=None),
    # "background" names no listed class: it is appended as the last class, with no prompts
    # (probability 0); pixels get it only through the threshold.
    "b": dict(classes=[("house", ["house"]), ("highway", ["highway"]), ("parking lot", ["parking lot"]),
                       ("bare soil", ["bare soil"])],
              templates="single", rotations=[0], threshold=0.7, background="background"),
    "c": dict(classes=FOUR, templates="imagenet80", rotations=[0, 90, 180, 270], threshold=0.0,
              background=None, crop=CROP),
    # METHOD.md section 10: dec alone, dec with exemplars, exemplars alone.
    "d": dict(classes=FOUR, templates="aeroseg", rotations=[0, 90, 180, 270], threshold=0.0,
              background=None, dec=0.5, crop=CROP),
    "e": dict(classes=FOUR, templates="aeroseg", rotations=[0, 90, 180, 270], threshold=0.0,
              background=None, dec=0.5, exemplars="EXEMPLARS", exemplar_weight=1.0),
    "f": dict(classes=FOUR, templates="single", rotations=[0], threshold=0.0,
              background=None, exemplars="EXEMPLARS", exemplar_weight=2.0),
}
# Exemplars in scene pixel coordinates (x right, y down), each (class, polygons of rings):
# a field, the block of roofs (its window clamped at the right edge), a thin strip of road,
# two parts of farmland, and a road square too small to hold a cell centre (point-on-surface).
EXEMPLARS = [
    ("farmland", [[[(20.0, 140.0), (90.0, 138.0), (95.0, 175.0), (25.0, 180.0)]]]),
    ("building", [[[(152.0, 131.0), (263.5, 131.0), (263.5, 159.0), (152.0, 159.0)]]]),
    ("road", [[[(108.3, 140.2), (125.6, 140.2), (125.6, 221.7), (108.3, 221.7)]]]),
    ("farmland", [[[(200.2, 180.4), (230.8, 180.4), (230.8, 205.3), (200.2, 205.3)]],
                  [[(240.1, 120.2), (259.7, 120.2), (259.7, 140.6), (240.1, 140.6)]]]),
    ("road", [[[(61.2, 200.3), (63.9, 200.3), (63.9, 202.8), (61.2, 202.8)]]]),
]


def smooth_noise(rng, height, width, passes=3, radius=3):
    """Seeded noise smoothed by repeated box filters (edge-clamped), roughly in [-1, 1]."""
    n = rng.standard_normal((height, width))
    for _ in range(passes):
        p = np.pad(n, radius, mode="edge")
        c = np.cumsum(np.cumsum(p, 0), 1)
        c = np.pad(c, ((1, 0), (1, 0)))
        k = 2 * radius + 1
        n = (c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / (k * k)
    return n / np.abs(n).max()


def make_scene():
    """H x W x 3 uint8 and H x W bool: fields, a river, two roads, a block of roofs, a wood,
    texture, and a nodata corner (RGB 0 there)."""
    rng = np.random.default_rng(SEED)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    # fields: a smooth alternation of green and brown parcels
    parcel = np.sin(xx / 23.0) * np.cos(yy / 31.0 + 0.4 * np.sin(xx / 50.0))
    green, brown = np.array([96, 140, 70]), np.array([150, 120, 80])
    t = (parcel[..., None] + 1) / 2
    img = green * t + brown * (1 - t)
    # wood: dark green blob
    wood = ((xx - 230) / 45) ** 2 + ((yy - 70) / 35) ** 2 < 1
    img[wood] = [40, 80, 40]
    # roofs: a grid of red rectangles
    roofs = (xx > 150) & (xx < 270) & (yy > 130) & (yy < 160) & ((xx.astype(int) // 12) % 2 == 0)
    img[roofs] = [180, 70, 60]
    # river: a meandering blue band
    river = np.abs(yy - (195 + 20 * np.sin(xx / 35.0))) < 10
    img[river] = [50, 90, 160]
    # roads: grey straight lines
    roads = (np.abs(xx - 120) < 4) | (np.abs(yy - 112) < 3)
    img[roads] = [128, 128, 124]
    img = img + 18 * smooth_noise(rng, HEIGHT, WIDTH)[..., None] + rng.normal(0, 4, img.shape)
    rgb = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    valid = ~((xx < NODATA_BLOCK[0]) & (yy < NODATA_BLOCK[1]))
    rgb[~valid] = 0
    return rgb, valid


def write(path, array, dtype):
    a = np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder("<"))
    path.write_bytes(a.tobytes())


def run_config(model, tokenizer, name, spec, rgb, valid, out):
    classes = [(n, list(p)) for n, p in spec["classes"]]
    background = None
    if spec["background"] is not None:
        names = [n for n, _ in classes]
        if spec["background"] not in names:
            classes.append((spec["background"], []))
            names.append(spec["background"])
        background = names.index(spec["background"])
    templates = ref.templates_named(spec["templates"])
    queries, query_class = ref.text_queries(model, tokenizer, classes, templates)
    assert torch.allclose(queries.norm(dim=-1), torch.ones(len(query_class)), atol=1e-6)
    if "crop" in spec:
        c = spec["crop"]
        rgb = rgb[c["y"]:c["y"] + c["height"], c["x"]:c["x"] + c["width"]]
        valid = valid[c["y"]:c["y"] + c["height"], c["x"]:c["x"] + c["width"]]
    cfg = dict(BASE, rotations=spec["rotations"], threshold=spec["threshold"], background=background)
    extra, files = {}, []
    if "dec" in spec:
        channels = ref.dec_channels(queries, spec["dec"])
        cfg["channels"] = channels
        write(out / f"{name}_scores.f64", ref.channel_scores(queries).numpy(), "f8")
        files.append(f"{name}_scores.f64")
        extra.update(dec_keep=spec["dec"], channels=channels)
    if "exemplars" in spec:
        names = [n for n, _ in classes]
        exemplars = [(names.index(c), polys) for c, polys in EXEMPLARS]
        keys, details = ref.exemplar_keys(model, rgb, valid, exemplars, BASE["tile"], cfg.get("channels"))
        cfg["cache"] = dict(keys=keys, key_class=[c for c, _ in exemplars], query_class=query_class,
                            weight=spec["exemplar_weight"])
        write(out / f"{name}_keys.f32", keys.numpy(), "f4")
        files.append(f"{name}_keys.f32")
        assert details[-1]["fallback"] and not any(d["fallback"] for d in details[:-1])
        extra.update(exemplar_weight=spec["exemplar_weight"], keys_shape=list(keys.shape), exemplars=[
            dict(cls=c, class_index=names.index(c), polygons=[[[list(p) for p in ring] for ring in poly] for poly in polys], **d)
            for (c, polys), d in zip(EXEMPLARS, details)])
    keep = {} if "crop" in spec else None
    res = ref.segment(model, queries, query_class, len(classes), rgb, valid, cfg, keep)
    height, width = valid.shape

    write(out / f"{name}_queries.f32", queries.numpy(), "f4")
    write(out / f"{name}_probs.f32", res["probs"], "f4")
    write(out / f"{name}_classes.u8", res["classes"], "u1")
    write(out / f"{name}_margin.f32", res["margin"], "f4")
    files = [f"{name}_queries.f32", f"{name}_probs.f32", f"{name}_classes.u8", f"{name}_margin.f32"] + files
    if keep is not None:
        (tile,) = keep.values()  # one tile
        for r, m in tile.items():
            write(out / f"{name}_logits_r{r}.f32", m.numpy(), "f4")
            files.append(f"{name}_logits_r{r}.f32")
        mean = torch.stack(list(tile.values())).mean(dim=0).numpy()
        assert np.array_equal(res["logits"][:, valid], mean[:, valid]), "one tile: blend = rotation mean"

    counts = np.bincount(res["classes"].ravel(), minlength=256)
    summary = {
        "name": name,
        "scene": "scene_rgb.u8 / scene_valid.u8" + (" cropped to `crop`" if "crop" in spec else ""),
        "width": width, "height": height,
        "classes": [{"name": n, "prompts": p} for n, p in classes],
        "background": spec["background"], "background_index": background,
        "threshold": spec["threshold"],
        "templates": spec["templates"], "template_list": templates,
        "rotations": spec["rotations"],
        "tile": BASE["tile"], "overlap": BASE["overlap"],
        "logit_scale": BASE["logit_scale"], "cls_lambda": BASE["cls_lambda"],
        "queries_shape": list(queries.shape), "query_class": query_class,
        "tile_columns": ref.tile_origins(width, BASE["tile"], BASE["overlap"]),
        "tile_rows": ref.tile_origins(height, BASE["tile"], BASE["overlap"]),
        "tiles": res["tiles"], "encoded_tiles": res["encoded"],
        "encoder_runs": res["encoded"] * len(spec["rotations"]),
        "class_pixels": {n: int(counts[i]) for i, (n, _) in enumerate(classes)},
        "nodata_pixels": int(counts[255]),
        "pixels_margin_below_1e-5": int((res["margin"] < 1e-5).sum()),
        "pixels_margin_below_1e-3": int((res["margin"] < 1e-3).sum()),
        "files": files,
    }
    if "crop" in spec:
        summary["crop"] = spec["crop"]
    summary.update(extra)
    (out / f"{name}.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=ref.DEFAULT_MODEL)
    ap.add_argument("--tokenizer", default=ref.DEFAULT_TOKENIZER)
    ap.add_argument("--out", default="Tests/SegmentationTests/Fixtures")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    start = time.perf_counter()
    model, tokenizer = ref.load(args.model, args.tokenizer)
    ref.self_checks(model)
    out = ref.ROOT / args.out
    out.mkdir(parents=True, exist_ok=True)

    rgb, valid = make_scene()
    write(out / "scene_rgb.u8", rgb, "u1")
    write(out / "scene_valid.u8", valid, "u1")
    (out / "scene.json").write_text(json.dumps({
        "width": WIDTH, "height": HEIGHT, "seed": SEED,
        "rgb": "scene_rgb.u8: uint8, H x W x 3, row-major, R G B interleaved; nodata pixels are 0 0 0",
        "valid": "scene_valid.u8: uint8, H x W, row-major, 1 valid / 0 nodata",
        "nodata": f"the block x < {NODATA_BLOCK[0]} and y < {NODATA_BLOCK[1]} (holds the whole tile at 0,0)",
    }, indent=1) + "\n")

    for name, spec in CONFIGS.items():
        s = run_config(model, tokenizer, name, spec, rgb, valid, out)
        print(name, s["width"], "x", s["height"], "tiles", s["tiles"], "encoded", s["encoded_tiles"],
              s["class_pixels"], "margin<1e-5:", s["pixels_margin_below_1e-5"])
    b = json.loads((out / "b.json").read_text())
    assert 0 < b["class_pixels"]["background"] < WIDTH * HEIGHT - b["nodata_pixels"], \
        "config b's threshold sends some, not all, pixels to background"
    a = json.loads((out / "a.json").read_text())
    assert a["encoded_tiles"] < a["tiles"], "config a skips an all-nodata tile"
    print(f"done in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
