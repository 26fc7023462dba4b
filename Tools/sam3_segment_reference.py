#!/usr/bin/env python3
"""PyTorch reference of the SAM 3 engine of docs/METHOD.md section 9 (SegEarth-OV3's
training-free method on our tile grid), over `transformers.Sam3Model` and `CLIPTokenizer`.

Written from METHOD.md section 9 alone, as the independent implementation the Swift
`SAM3Segmenter` is checked against; section 5 (tile origins, blend weights, blending) is the
CLIP reference's (Tools/segment_reference.py), which the Swift stitcher already matches.

Per tile and rotation r (section 9):
  1. the tile (3 x H x W, 0..255 float32), nodata pixels set to 127.5 (0 once normalized),
     torch.rot90(k = r / 90), F.interpolate to S x S (bilinear, align_corners=False,
     antialias=False), (x / 255 - 0.5) / 0.5;
  2. vision = model.get_vision_features(pixels);
  3. every prompt of every class one query: CLIPTokenizer, padding to 32, attention mask;
  4. per query: out = model(vision_embeds=vision, input_ids, attention_mask);
     p = sigmoid(presence_logits), s = sigmoid(pred_logits) * p, kept = s > object_threshold,
     M = sigmoid(interp(pred_masks, (Hr, Wr))), G = sigmoid(interp(semantic_seg, (Hr, Wr))),
     m = p * max(0, max_kept(s_i M_i), G);
  5. rot90 back (k = -r / 90), mean over rotations, blend tiles (float64 accumulators);
  6. class score = max over the class's queries, class = argmax (first on ties), below
     `threshold` -> background; nodata 255.
Objects (detect): kept objects of instance classes, mask = interp(pred_masks) > 0 (M > 0.5),
  turned back, restricted to the tile's valid pixels.

Usage:
  python3 Tools/sam3_segment_reference.py goldens [--out Tests/SegmentationTests/Fixtures]
      writes sam3.json, sam3_scores.f32 (C x H x W after the synonym max), sam3_classes.u8,
      sam3_margin.f32, sam3_tile_r{0,90}.f32 (K x th x tw maps of the first tile per rotation)
      and sam3_objects.json (the first tile's objects at rotation 0: query, score, pixel count)
      for the tiny SAM 3 (Tests/SAM3Tests/Fixtures/tiny-sam3) with the cut tokenizer of
      Tests/CLITests/Fixtures/predict, on a crop of Tests/SegmentationTests/Fixtures/scene_rgb.u8.
  python3 Tools/sam3_segment_reference.py scene --model DIR --rgb RAW --width W --height H
      --classes "a, b; c" [--tile 512 --overlap 128 --object-threshold 0.1 --rotations 0] --out DIR
      runs the reference on raw RGB bytes (H x W x 3, e.g. `gdal_translate -of ENVI -co
      INTERLEAVE=BIP` of a crop) and writes scores.f32, classes.u8, margin.f32 into DIR;
  python3 Tools/sam3_segment_reference.py compare --ours P.raw --classes MAP.raw --ref DIR
      --width W --height H
      compares `segment`'s probabilities and class map (as raw ENVI bytes) with them: max
      absolute difference <= 1e-3, <= 1% of each class's range, correlation >= 0.9999, classes
      equal outside near-ties. The manual check of docs/segment.md ("Checking the SAM 3 engine").
Needs torch, transformers, numpy.
"""
import argparse
import json
import pathlib
import sys

import numpy as np
import torch
import torch.nn.functional as F
from transformers import CLIPTokenizer, Sam3Model
from transformers.utils import logging as hf_logging

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "Tools"))
from segment_reference import blend  # noqa: E402  (section 5, shared with the CLIP engine)

TINY = ROOT / "Tests/SAM3Tests/Fixtures/tiny-sam3"
TINY_TOKENIZER = ROOT / "Tests/CLITests/Fixtures/predict"
FIXTURES = ROOT / "Tests/SegmentationTests/Fixtures"


def load(model_dir, tokenizer_dir):
    hf_logging.disable_progress_bar()
    model = Sam3Model.from_pretrained(str(model_dir), dtype=torch.float32, attn_implementation="eager").eval()
    tok = CLIPTokenizer.from_pretrained(str(tokenizer_dir))  # (5.x ignores vocab_file= / merges_file= keywords)
    return model, tok


def text_inputs(tok, model, prompts):
    n = model.config.text_config.max_position_embeddings
    t = tok(prompts, padding="max_length", max_length=n, truncation=True, return_tensors="pt")
    return t["input_ids"], t["attention_mask"]


def score_map(out, height, width, object_threshold):
    """Step 4 for one query (batch of one) at the turned tile's size: (map Hr x Wr, kept objects
    as (query index, score, boolean mask Hr x Wr))."""
    p = torch.sigmoid(out.presence_logits[0, 0])
    s = torch.sigmoid(out.pred_logits[0]) * p
    g = torch.sigmoid(F.interpolate(out.semantic_seg, size=(height, width), mode="bilinear", align_corners=False))[0, 0]
    best = g.clone()
    kept = []
    for i in torch.nonzero(s > object_threshold).flatten().tolist():
        logits = F.interpolate(out.pred_masks[:, i:i + 1], size=(height, width), mode="bilinear", align_corners=False)[0, 0]
        best = torch.maximum(best, s[i] * torch.sigmoid(logits))
        kept.append((i, float(s[i]), logits > 0))
    return p * torch.clamp(best, min=0), kept


@torch.no_grad()
def encode_tile(model, ids, mask, chw, valid, rotations, object_threshold, keep=None, objects=None):
    """chw: 3 x H x W float32 0..255, valid: H x W bool -> K x H x W score maps (mean over
    rotations). `keep` gets each rotation's maps; `objects` (a list) the objects of rotation 0."""
    size = model.config.vision_config.backbone_config.image_size
    x = chw.clone()
    x[:, ~valid] = 127.5
    maps = []
    for r in rotations:
        k = r // 90
        turned = torch.rot90(x, k, dims=(-2, -1))
        hr, wr = turned.shape[-2:]
        pixels = F.interpolate(turned[None], size=(size, size), mode="bilinear", align_corners=False, antialias=False)
        pixels = (pixels / 255 - 0.5) / 0.5
        vision = model.get_vision_features(pixel_values=pixels)
        planes = []
        for q in range(ids.shape[0]):
            out = model(vision_embeds=vision, input_ids=ids[q:q + 1], attention_mask=mask[q:q + 1])
            m, kept = score_map(out, hr, wr, object_threshold)
            planes.append(torch.rot90(m, -k, dims=(-2, -1)))
            if objects is not None and r == rotations[0]:
                for i, score, turned_mask in kept:
                    back = torch.rot90(turned_mask, -k, dims=(-2, -1)) & valid
                    objects.append(dict(query=q, index=i, score=score, pixels=int(back.sum())))
        stacked = torch.stack(planes)
        if keep is not None:
            keep[r] = stacked
        maps.append(stacked)
    return torch.stack(maps).mean(dim=0)


def classify(scores, valid, query_class, n_classes, threshold, background):
    """scores: K x H x W float32 -> (C x H x W class scores, classes uint8, margin)."""
    s = torch.from_numpy(scores)
    probs = torch.zeros((n_classes,) + s.shape[1:])
    for c in range(n_classes):
        ks = [k for k, qc in enumerate(query_class) if qc == c]
        if ks:
            probs[c] = s[ks].max(dim=0).values
    top2 = torch.topk(probs, 2, dim=0).values if n_classes > 1 else torch.cat([probs, torch.zeros_like(probs)])
    classes = torch.argmax(probs, dim=0)
    margin = top2[0] - top2[1]
    if background is not None:
        classes[top2[0] < threshold] = background
        margin = torch.minimum(margin, (top2[0] - threshold).abs())
    invalid = torch.from_numpy(~valid)
    probs[:, invalid] = 0
    classes[invalid] = 255
    margin[invalid] = float("inf")
    return probs.numpy(), classes.numpy().astype(np.uint8), margin.numpy()


def segment(model, tok, classes, rgb, valid, cfg, keep=None, objects=None):
    """classes: [(name, [prompts])] (a background class without prompts may come last);
    rgb: H x W x 3 uint8; valid: H x W bool."""
    prompts = [p for _, ps in classes for p in ps]
    query_class = [c for c, (_, ps) in enumerate(classes) for _ in ps]
    ids, mask = text_inputs(tok, model, prompts)
    height, width = valid.shape
    chw = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).float()
    vt = torch.from_numpy(valid)
    first = [True]

    def encode(row, col, th, tw):
        tile_keep = {} if (keep is not None and first[0]) else None
        tile_objects = [] if (objects is not None and first[0]) else None
        out = encode_tile(model, ids, mask, chw[:, row:row + th, col:col + tw], vt[row:row + th, col:col + tw],
                          cfg["rotations"], cfg["object_threshold"], tile_keep, tile_objects)
        if first[0]:
            if keep is not None:
                keep.update(tile_keep)
            if objects is not None:
                objects.extend(tile_objects)
            first[0] = False
        return out.numpy()

    scores, wsum, tiles, encoded = blend(width, height, cfg["tile"], cfg["overlap"], valid, len(prompts), encode)
    assert np.all(wsum[valid] > 0)
    probs, cls, margin = classify(scores, valid, query_class, len(classes), cfg["threshold"], cfg["background"])
    return dict(scores=scores, probs=probs, classes=cls, margin=margin, tiles=tiles, encoded=encoded)


GOLDEN = dict(
    name="sam3",
    crop=dict(x=100, y=96, width=90, height=70),  # holds the nodata corner x < 140, y < 132
    classes=[dict(name="car", prompts=["a red car", "car"]), dict(name="tree", prompts=["tree"]),
             dict(name="water", prompts=["storage tanks", "water"]), dict(name="other", prompts=[])],
    background_index=3, threshold=0.265, rotations=[0, 90], tile=48, overlap=16, object_threshold=0.2,
)


def goldens(out):
    model, tok = load(TINY, TINY_TOKENIZER)
    scene = json.loads((FIXTURES / "scene.json").read_text())
    fw, fh = scene["width"], scene["height"]
    rgb = np.fromfile(FIXTURES / "scene_rgb.u8", dtype=np.uint8).reshape(fh, fw, 3)
    valid = np.fromfile(FIXTURES / "scene_valid.u8", dtype=np.uint8).reshape(fh, fw) == 1
    c = GOLDEN["crop"]
    rgb = rgb[c["y"]:c["y"] + c["height"], c["x"]:c["x"] + c["width"]]
    valid = valid[c["y"]:c["y"] + c["height"], c["x"]:c["x"] + c["width"]]
    classes = [(k["name"], k["prompts"]) for k in GOLDEN["classes"]]
    cfg = dict(rotations=GOLDEN["rotations"], tile=GOLDEN["tile"], overlap=GOLDEN["overlap"],
               object_threshold=GOLDEN["object_threshold"], threshold=GOLDEN["threshold"], background=GOLDEN["background_index"])
    keep, objects = {}, []
    r = segment(model, tok, classes, rgb, valid, cfg, keep=keep, objects=objects)
    out = pathlib.Path(out)
    r["probs"].astype(np.float32).tofile(out / "sam3_scores.f32")
    r["classes"].tofile(out / "sam3_classes.u8")
    r["margin"].astype(np.float32).tofile(out / "sam3_margin.f32")
    for rot, maps in keep.items():
        maps.numpy().astype(np.float32).tofile(out / f"sam3_tile_r{rot}.f32")
    counts = np.bincount(r["classes"][valid], minlength=len(classes))
    meta = dict(GOLDEN, width=c["width"], height=c["height"], tiles=r["tiles"], encoded=r["encoded"],
                class_pixels=counts.tolist(), first_tile_objects=objects)
    (out / "sam3.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"{r['tiles']} tiles ({r['encoded']} encoded), class pixels {counts.tolist()}, "
          f"{len(objects)} objects in the first tile at rotation 0, scores {r['probs'].min():.4f}..{r['probs'].max():.4f}")


def scene(a):
    """A crop of a real scene (raw RGB bytes H x W x 3 and validity bytes H x W, as written by
    `gdal_translate -of ENVI` or numpy), for the manual check with the full model."""
    model, tok = load(a.model, a.tokenizer or a.model)
    rgb = np.fromfile(a.rgb, dtype=np.uint8).reshape(a.height, a.width, 3)
    valid = np.fromfile(a.valid, dtype=np.uint8).reshape(a.height, a.width) == 1 if a.valid else np.ones((a.height, a.width), bool)
    classes = []
    for part in a.classes.split(";"):
        names = [p.strip() for p in part.split(",") if p.strip()]
        classes.append((names[0], names))
    cfg = dict(rotations=[int(x) for x in a.rotations.split(",")], tile=a.tile, overlap=a.overlap,
               object_threshold=a.object_threshold, threshold=a.threshold, background=None)
    r = segment(model, tok, classes, rgb, valid, cfg)
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    r["probs"].astype(np.float32).tofile(out / "scores.f32")
    r["classes"].tofile(out / "classes.u8")
    r["margin"].astype(np.float32).tofile(out / "margin.f32")
    print(f"{r['tiles']} tiles ({r['encoded']} encoded) -> {out}")


def compare(a):
    """Our probabilities (raw float32 bands, C x H x W: `gdal_translate -of ENVI` of segment's
    --probabilities) and class map (raw uint8) against `scene`'s outputs in --ref."""
    ref = pathlib.Path(a.ref)
    theirs = np.fromfile(ref / "scores.f32", dtype=np.float32)
    c = theirs.size // (a.width * a.height)
    theirs = theirs.reshape(c, a.height, a.width)
    ours = np.fromfile(a.ours, dtype=np.float32)[: theirs.size].reshape(theirs.shape)
    diff = np.abs(ours - theirs)
    ranges = theirs.reshape(c, -1).max(1) - theirs.reshape(c, -1).min(1)
    rel = diff.reshape(c, -1).max(1) / np.maximum(ranges, 1e-12)
    corr = np.corrcoef(ours.ravel(), theirs.ravel())[0, 1]
    classes = np.fromfile(a.classes, dtype=np.uint8).reshape(a.height, a.width)
    ref_classes = np.fromfile(ref / "classes.u8", dtype=np.uint8).reshape(a.height, a.width)
    margin = np.fromfile(ref / "margin.f32", dtype=np.float32).reshape(a.height, a.width)
    outside_ties = margin > 2 * diff.max()
    mismatches = int(((classes != ref_classes) & outside_ties).sum())
    print(f"max abs {diff.max():.3g}; max per class / range {rel.max():.3g}; correlation {corr:.7f}; "
          f"class mismatches outside ties {mismatches} ({int((~outside_ties).sum())} near-ties of {classes.size})")
    ok = diff.max() <= 1e-3 and rel.max() <= 0.01 and corr >= 0.9999 and mismatches == 0
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("goldens")
    g.add_argument("--out", default=str(FIXTURES))
    s = sub.add_parser("scene")
    s.add_argument("--model", required=True)
    s.add_argument("--tokenizer")
    s.add_argument("--rgb", required=True)
    s.add_argument("--valid")
    s.add_argument("--width", type=int, required=True)
    s.add_argument("--height", type=int, required=True)
    s.add_argument("--classes", required=True)
    s.add_argument("--tile", type=int, default=512)
    s.add_argument("--overlap", type=int, default=128)
    s.add_argument("--rotations", default="0")
    s.add_argument("--object-threshold", type=float, default=0.1)
    s.add_argument("--threshold", type=float, default=0.0)
    s.add_argument("--out", required=True)
    k = sub.add_parser("compare")
    k.add_argument("--ours", required=True, help="raw float32 probabilities, C x H x W")
    k.add_argument("--classes", required=True, help="raw uint8 class map, H x W")
    k.add_argument("--ref", required=True, help="the --out folder of `scene`")
    k.add_argument("--width", type=int, required=True)
    k.add_argument("--height", type=int, required=True)
    a = ap.parse_args()
    {"goldens": lambda: goldens(a.out), "scene": lambda: scene(a), "compare": lambda: compare(a)}[a.cmd]()


if __name__ == "__main__":
    main()
