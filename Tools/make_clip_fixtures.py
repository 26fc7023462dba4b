#!/usr/bin/env python3
"""Regenerate the CLIP parity fixtures in Tests/CLIPTests/Fixtures (needed only to regenerate them).

    python3 Tools/make_clip_fixtures.py [--out Tests/CLIPTests/Fixtures]

Writes
  tiny-clip/config.json, tiny-clip/model.safetensors  a tiny random CLIP in Hugging Face layout,
      stored as F16 (the F32 reference model holds the same F16-rounded values);
  golden.json + golden.bin  reference outputs of transformers (eager attention, float32):
      golden.json names each tensor with its shape and float offset into golden.bin
      (little-endian float32), and lists the token ids and image specs used.
Images are not stored: pixel (b, c, y, x) of an image spec {batch, height, width, seed} is
  v = ((i + seed * 1000003) * 2654435761 mod 2^32) >> 24, i the flat index in [B, 3, H, W],
  x = (float32(v) / 255 - mean[c]) / std[c] in float32 with CLIP's mean and std,
which the Swift tests compute the same way.
Needs torch, transformers, safetensors, numpy.
"""
import argparse, json, os
import numpy as np
import torch
import torch.nn.functional as F
from transformers import CLIPConfig, CLIPModel

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


def pixels(batch, height, width, seed):
    i = np.arange(batch * 3 * height * width, dtype=np.uint64)
    v = (((i + np.uint64(seed) * np.uint64(1000003)) * np.uint64(2654435761)) % np.uint64(2**32)) >> np.uint64(24)
    x = (v.astype(np.float32) / np.float32(255)).reshape(batch, 3, height, width)
    mean = np.array(MEAN, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.array(STD, dtype=np.float32).reshape(1, 3, 1, 1)
    return torch.from_numpy((x - mean) / std)


def build(hidden_act):
    text = dict(vocab_size=49408, hidden_size=24, intermediate_size=96, num_hidden_layers=2, num_attention_heads=3,
                max_position_embeddings=77, hidden_act=hidden_act, bos_token_id=49406, eos_token_id=49407,
                pad_token_id=49407)
    vision = dict(hidden_size=64, intermediate_size=256, num_hidden_layers=3, num_attention_heads=4, image_size=224,
                  patch_size=16, hidden_act=hidden_act, num_channels=3)
    cfg = CLIPConfig(text_config=text, vision_config=vision, projection_dim=32, logit_scale_init_value=4.6052)
    cfg._attn_implementation = "eager"
    return CLIPModel(cfg).eval()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "Tests", "CLIPTests", "Fixtures"))
    a = ap.parse_args()
    torch.manual_seed(1234)
    model = build("quick_gelu")
    g = torch.Generator().manual_seed(99)
    with torch.no_grad():  # livelier than the default init, so attention and MLP matter; then F16-rounded
        for name, p in model.named_parameters():
            if "layer_norm" in name or "layrnorm" in name:
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("proj.weight") or name.endswith("fc1.weight") or name.endswith("fc2.weight"):
                p.mul_(4.0)
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            p.copy_(p.half().float())
    model_dir = os.path.join(a.out, "tiny-clip")
    os.makedirs(model_dir, exist_ok=True)
    model.half().save_pretrained(model_dir, safe_serialization=True)
    model.float()
    for f in os.listdir(model_dir):
        if f not in ("config.json", "model.safetensors"):
            os.remove(os.path.join(model_dir, f))
    gelu = build("gelu")
    gelu.load_state_dict(model.state_dict())

    tensors, blobs, offset = {}, [], 0

    def put(name, t):
        nonlocal offset
        arr = t.detach().float().contiguous().numpy().astype("<f4")
        tensors[name] = {"shape": list(arr.shape), "offset": offset}
        blobs.append(arr.tobytes())
        offset += arr.size

    sentences = [[49406, 320, 1125, 539, 320, 2368, 269, 49407],          # a photo of a cat.
                 [49406, 320, 10508, 2867, 539, 320, 1759, 269, 49407],   # a satellite image of a road.
                 [49406, 2102, 49407]]
    ids77 = [s + [49407] * (77 - len(s)) for s in sentences]
    ids12 = [s + [49407] * (12 - len(s)) for s in sentences]
    images = {"image224": dict(batch=2, height=224, width=224, seed=1),
              "image512": dict(batch=1, height=512, width=512, seed=2),
              "image320x480": dict(batch=1, height=320, width=480, seed=3)}
    rows = {"image512": 8, "image320x480": 4}  # stored token stride of hidden states

    with torch.no_grad():
        for tag, m in (("", model), ("gelu.", gelu)):
            put(tag + "text77.features", m.get_text_features(input_ids=torch.tensor(ids77)).pooler_output)
            put(tag + "text12.features", m.get_text_features(input_ids=torch.tensor(ids12)).pooler_output)
            for name, spec in images.items():
                px = pixels(**spec)
                out = m.get_image_features(pixel_values=px, interpolate_pos_encoding=True, output_hidden_states=True)
                put(tag + name + ".features", out.pooler_output)
                if name in rows and not tag:
                    s = rows[name]
                    put(name + ".last_hidden_state", out.last_hidden_state[:, ::s])
                    put(name + ".before_last_layer", out.hidden_states[-2][:, ::s])
        gb = torch.Generator().manual_seed(7)
        grid = torch.randn(2, 5, 7, generator=gb)
        put("bicubic.input", grid)
        for h, w in ((9, 4), (3, 11), (5, 7), (32, 32)):
            put(f"bicubic.{h}x{w}", F.interpolate(grid[None], size=(h, w), mode="bicubic", align_corners=False)[0])

    with open(os.path.join(a.out, "golden.bin"), "wb") as f:
        f.write(b"".join(blobs))
    meta = {"generator": "Tools/make_clip_fixtures.py", "torch": torch.__version__,
            "transformers": __import__("transformers").__version__,
            "ids77": ids77, "ids12": ids12, "images": images, "token_stride": rows, "tensors": tensors}
    with open(os.path.join(a.out, "golden.json"), "w") as f:
        json.dump(meta, f, indent=1)
    total = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(a.out) for fn in fns)
    print(f"wrote fixtures to {a.out}: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
