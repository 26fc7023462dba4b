#!/usr/bin/env python3
"""Regenerate the fixtures of `landscribe predict` in Tests/CLITests/Fixtures/predict.

    /work/venv/bin/python Tools/make_predict_golden.py [--out Tests/CLITests/Fixtures/predict]

Needs torch, transformers (Sam3Model, CLIPTokenizer), numpy, and the
tiny SAM 3 of Tests/SAM3Tests/Fixtures/tiny-sam3 (Tools/make_sam3_fixtures.py).

Writes
  vocab.json, merges.txt: CLIP's BPE (../shared/data/clip-tokenizer) cut to the tiny model's
      1024-row token table: ids 0-1021 of OpenAI's vocabulary (256 bytes, 256 bytes + "</w>",
      the tokens of the first 510 merges), the first 510 merges, <|startoftext|> = 1022 and
      <|endoftext|> = 1023 (the tiny config's bos/eos ids).
  image.png: a deterministic 53 x 41 RGB picture (not square: the resize is checked).
  golden.json: for each prompt in PROMPTS, transformers' CLIPTokenizer ids and attention mask
      (padding="max_length", max_length=32, truncation=True), and Sam3Model's pred_logits,
      pred_boxes (x0, y0, x1, y1 relative to the image, as Sam3Model returns them) and
      presence_logits on that image, preprocessed as predict does: RGB 0-255 as float, resized
      to 224 x 224 with F.interpolate(bilinear, align_corners=False, antialias=False), then
      (x / 255 - 0.5) / 0.5. Eager attention, float32.
"""
import argparse
import json
import os

import numpy as np
import torch
import torch.nn.functional as F
import struct
import zlib
from transformers import CLIPTokenizer, Sam3Model

HERE = os.path.dirname(os.path.abspath(__file__))
TOKENIZER = os.path.join(HERE, "..", "..", "shared", "data", "clip-tokenizer")
MODEL = os.path.join(HERE, "..", "Tests", "SAM3Tests", "Fixtures", "tiny-sam3")
VOCAB = 1024
PROMPTS = ["a red car", "Storage tanks", " ".join(["tree"] * 40)]


def write_png(path, rgb):
    """An 8-bit RGB PNG, filter 0 on every row (no imaging library needed)."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[r].tobytes() for r in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "..", "Tests", "CLITests", "Fixtures", "predict"))
    ap.add_argument("--tokenizer", default=TOKENIZER)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)

    with open(os.path.join(a.tokenizer, "vocab.json"), encoding="utf-8") as f:
        full = json.load(f)
    vocab = {t: i for t, i in full.items() if i < VOCAB - 2}
    vocab["<|startoftext|>"] = VOCAB - 2
    vocab["<|endoftext|>"] = VOCAB - 1
    with open(os.path.join(a.tokenizer, "merges.txt"), encoding="utf-8") as f:
        lines = f.read().split("\n")
    merges = [l for l in lines[1:] if l][: VOCAB - 2 - 512]
    for l in merges:  # every merge's result is in the cut vocabulary
        assert l.replace(" ", "") in vocab or l.replace(" ", "").endswith("</w>"), l
        assert "".join(l.split(" ")) in vocab, l
    with open(os.path.join(a.out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False, sort_keys=True)
    with open(os.path.join(a.out, "merges.txt"), "w", encoding="utf-8") as f:
        f.write(lines[0] + "\n" + "\n".join(merges) + "\n")

    h, w = 41, 53
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([(x * 5 + y * 3) % 256, (x * y) % 256, (255 - 4 * y + 7 * (x % 9)) % 256], axis=-1).astype(np.uint8)
    write_png(os.path.join(a.out, "image.png"), rgb)

    tok = CLIPTokenizer.from_pretrained(a.out)  # (5.x ignores vocab_file= / merges_file= keywords)
    model = Sam3Model.from_pretrained(MODEL, dtype=torch.float32, attn_implementation="eager").eval()
    size = model.config.vision_config.backbone_config.image_size
    img = torch.from_numpy(rgb).float()
    img = img.permute(2, 0, 1)[None]
    px = F.interpolate(img, size=(size, size), mode="bilinear", align_corners=False, antialias=False)
    px = (px / 255 - 0.5) / 0.5

    prompts = []
    with torch.no_grad():
        for text in PROMPTS:
            enc = tok(text, padding="max_length", max_length=32, truncation=True)
            out = model(pixel_values=px, input_ids=torch.tensor([enc["input_ids"]]),
                        attention_mask=torch.tensor([enc["attention_mask"]]))
            prompts.append({
                "text": text,
                "input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
                "untruncated_tokens": len(tok(text)["input_ids"]),
                "pred_logits": out.pred_logits[0].tolist(),
                "pred_boxes": out.pred_boxes[0].tolist(),
                "presence_logits": out.presence_logits[0].tolist(),
            })
    import transformers
    with open(os.path.join(a.out, "golden.json"), "w") as f:
        json.dump({"generator": "Tools/make_predict_golden.py", "torch": torch.__version__,
                   "transformers": transformers.__version__, "image": {"width": w, "height": h},
                   "model_image_size": size, "prompts": prompts}, f, indent=1)


if __name__ == "__main__":
    main()
