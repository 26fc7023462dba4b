#!/usr/bin/env python3
"""Compare `landscribe embed` with transformers' get_text_features / get_image_features.

    python3 Tools/check_embed.py --model /tmp/clip-b16-random [--landscribe .build/release/landscribe]
        [--precision bf16 --tolerance 3e-2]

Texts are tokenized with transformers' CLIPTokenizer (padding to 77). The image is a synthetic
RGB GeoTIFF written with numpy + GDAL's command-line tools; both sides resize it to the model's
size with bilinear interpolation (align_corners=False, no antialiasing) and normalize with
CLIP's mean/std. Prints the max abs difference relative to the reference's max magnitude, the
median relative difference per embedding and the cosine similarity, and exits 1 above
--tolerance (1e-4). With --precision bf16 landscribe runs its products in bf16 while the
reference stays float32: the figures are bf16's parity cost. Needs torch, transformers, numpy and gdal-bin; only this script does.
"""
import argparse, json, os, subprocess, sys, tempfile
import numpy as np
import torch
import torch.nn.functional as F
from transformers import CLIPModel, CLIPTokenizer

MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)

def features(out):
    # transformers 4 returns a tensor, 5 an output object with the projection in pooler_output.
    return out if torch.is_tensor(out) else out.pooler_output

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--landscribe", default=".build/release/landscribe")
    ap.add_argument("--size", type=int, default=None)
    ap.add_argument("--precision", default="f32")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    a = ap.parse_args()
    model = CLIPModel.from_pretrained(a.model, torch_dtype=torch.float32).eval()
    tok = CLIPTokenizer.from_pretrained(a.model)
    texts = ["a satellite image of a storage tank.", "an aerial image of a river.", "building"]
    ids = tok(texts, padding="max_length", max_length=77, return_tensors="pt").input_ids
    with torch.no_grad():
        ref_text = features(model.get_text_features(input_ids=ids))
    args = [a.landscribe, "embed", "--model", a.model, "--json", "--precision", a.precision]
    got_text = torch.tensor(json.loads(subprocess.check_output(args + sum([["--text", t] for t in texts], [])))["embeddings"])

    n = a.size or model.config.vision_config.image_size
    rng = np.random.default_rng(0)
    h, w = 300, 260
    img = (np.add.outer(np.arange(h), np.arange(w))[..., None] * np.array([1, 2, 3]) % 256 + rng.integers(0, 20, (h, w, 3))).clip(0, 255).astype(np.uint8)
    with tempfile.TemporaryDirectory() as d:
        raw = os.path.join(d, "img.raw")
        img.tofile(raw)
        with open(os.path.join(d, "img.vrt"), "w") as f:
            f.write(f'<VRTDataset rasterXSize="{w}" rasterYSize="{h}">' + "".join(
                f'<VRTRasterBand dataType="Byte" band="{b+1}" subClass="VRTRawRasterBand"><SourceFilename relativetoVRT="1">img.raw</SourceFilename>'
                f'<ImageOffset>{b}</ImageOffset><PixelOffset>3</PixelOffset><LineOffset>{3*w}</LineOffset></VRTRasterBand>' for b in range(3)) + "</VRTDataset>")
        tif = os.path.join(d, "img.tif")
        subprocess.check_call(["gdal_translate", "-q", os.path.join(d, "img.vrt"), tif])
        got_image = torch.tensor(json.loads(subprocess.check_output(args + ["--image", tif, "--size", str(n)]))["embeddings"])
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float()
    x = F.interpolate(x, size=(n, n), mode="bilinear", align_corners=False, antialias=False)
    x = (x / 255 - MEAN) / STD
    with torch.no_grad():
        ref_image = features(model.get_image_features(pixel_values=x, interpolate_pos_encoding=True))
    ok = True
    for name, ref, got in [("text", ref_text, got_text), ("image", ref_image, got_image)]:
        rel = (ref - got).abs().max().item() / ref.abs().max().item()
        norm = ((ref - got).norm(dim=1) / ref.norm(dim=1)).median().item()
        cos = F.cosine_similarity(ref, got, dim=1).min().item()
        print(f"{name}: shape {tuple(got.shape)} vs {tuple(ref.shape)}, max |diff| / max |ref| = {rel:.2e}, "
              f"median |diff| / |ref| per embedding = {norm:.2e}, min cosine = {cos:.6f}")
        ok &= got.shape == ref.shape and rel <= a.tolerance
    sys.exit(0 if ok else 1)

if __name__ == "__main__":
    main()
