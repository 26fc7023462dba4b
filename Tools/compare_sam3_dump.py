#!/usr/bin/env python3
"""Compare `landscribe predict --dump` with transformers' Sam3Model on the same image and prompt.

    landscribe predict --model DIR --image IMG --text "T" --dump /tmp/out.safetensors
    /work/venv/bin/python Tools/compare_sam3_dump.py --model DIR --image IMG --text "T" --dump /tmp/out.safetensors

The image is read through `gdal_translate -of ENVI` (any raster GDAL reads; 1 band as grey, 3
as RGB, 4 or more: the first three) and prepared as predict does: float RGB 0-255, resized to
the model's input size with F.interpolate(bilinear, align_corners=False, antialias=False), then
(x / 255 - 0.5) / 0.5. The prompt goes through CLIPTokenizer.from_pretrained(DIR) with
padding="max_length", max_length=text_config.max_position_embeddings, truncation=True. Then
Sam3Model(pixel_values, input_ids, attention_mask) in float32 (default attention).

For each dumped tensor prints the max abs difference, the reference's max abs value (scale),
their ratio and the correlation; input_ids and attention_mask must be equal. Exits 1 when a
ratio exceeds --tolerance (1e-3) or a correlation is below --min-correlation (0.9995).
Needs torch, transformers, safetensors, numpy and GDAL's command-line tools.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import load_file
from transformers import CLIPTokenizer, Sam3Model


def read_rgb(path):
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "image.bin")
        subprocess.run(["gdal_translate", "-q", "-of", "ENVI", "-ot", "Float32", "-co", "INTERLEAVE=BSQ", path, raw], check=True)
        with open(raw + ".hdr") if os.path.exists(raw + ".hdr") else open(os.path.splitext(raw)[0] + ".hdr") as f:
            hdr = {k.strip(): v.strip() for k, v in (l.split("=", 1) for l in f if "=" in l)}
        w, h, bands = int(hdr["samples"]), int(hdr["lines"]), int(hdr["bands"])
        assert hdr.get("interleave", "bsq").lower() == "bsq", hdr
        data = np.fromfile(raw, dtype="<f4").reshape(bands, h, w)
    if bands == 2:
        sys.exit(f"{path} has 2 bands")
    return data[[0, 0, 0]] if bands == 1 else data[:3]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--text", required=True)
    ap.add_argument("--dump", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tolerance", type=float, default=1e-3)
    ap.add_argument("--min-correlation", type=float, default=0.9995)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    model = Sam3Model.from_pretrained(a.model, dtype=torch.float32).eval()
    size = model.config.vision_config.backbone_config.image_size
    context = model.config.text_config.max_position_embeddings
    tok = CLIPTokenizer.from_pretrained(a.model)
    enc = tok(a.text, padding="max_length", max_length=context, truncation=True)
    rgb = torch.from_numpy(read_rgb(a.image))[None]
    px = F.interpolate(rgb, size=(size, size), mode="bilinear", align_corners=False, antialias=False)
    px = (px / 255 - 0.5) / 0.5
    with torch.inference_mode():
        out = model(pixel_values=px, input_ids=torch.tensor([enc["input_ids"]]),
                    attention_mask=torch.tensor([enc["attention_mask"]]))
    reference = {
        "input_ids": np.array(enc["input_ids"]), "attention_mask": np.array(enc["attention_mask"]),
        "pred_logits": out.pred_logits[0].numpy(), "pred_boxes": out.pred_boxes[0].numpy(),
        "presence_logits": out.presence_logits[0].numpy(), "pred_masks": out.pred_masks[0].numpy(),
        "semantic_seg": out.semantic_seg[0, 0].numpy(),
    }
    dump = load_file(a.dump)
    ok = set(dump) == set(reference)
    if not ok:
        print(f"names differ: dump {sorted(dump)} vs {sorted(reference)}")
    rows = []
    for name, ref in reference.items():
        mine = dump.get(name)
        if mine is None:
            continue
        mine = mine.reshape(ref.shape) if mine.size == ref.size else mine
        if mine.shape != ref.shape:
            ok = False
            rows.append({"tensor": name, "shape": list(mine.shape), "expected_shape": list(ref.shape)})
            continue
        if name in ("input_ids", "attention_mask"):
            equal = bool(np.array_equal(mine.astype(np.int64), ref.astype(np.int64)))
            ok &= equal
            rows.append({"tensor": name, "equal": equal})
            continue
        diff = float(np.abs(mine.astype(np.float64) - ref).max())
        scale = float(np.abs(ref).max())
        corr = float(np.corrcoef(mine.ravel().astype(np.float64), ref.ravel().astype(np.float64))[0, 1]) if ref.size > 1 else 1.0
        ratio = diff / scale if scale > 0 else float("inf")
        passed = ratio <= a.tolerance and (ref.size == 1 or corr >= a.min_correlation)
        ok &= passed
        rows.append({"tensor": name, "shape": list(ref.shape), "max_abs_diff": diff, "scale": scale,
                     "ratio": ratio, "correlation": corr, "pass": passed})
    for r in rows:
        print(json.dumps(r))
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
