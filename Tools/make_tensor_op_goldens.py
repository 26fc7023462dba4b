#!/usr/bin/env python3
"""Regenerate Tests/TensorTests/Fixtures (ops.json + ops.bin): inputs and PyTorch outputs of the
Tensor target's convolution, pooling, rotary, window, group-norm and nearest-resize operations (needed only to regenerate).

    python3 Tools/make_tensor_op_goldens.py [--out Tests/TensorTests/Fixtures]

ops.json names each tensor with its shape and float offset into ops.bin (little-endian float32)
and gives each case's parameters. Inputs are seeded torch.randn values stored beside the outputs.
The rotary and window cases call transformers' own SAM 3 functions (Sam3ViTRotaryEmbedding,
Sam3ViTLayer.position_ids, apply_rotary_pos_emb_2d, window_partition, window_unpartition).
Needs torch, transformers, numpy.
"""
import argparse, json, os
import torch
import torch.nn.functional as F
import transformers
import transformers.models.sam3.modeling_sam3 as sam3
from transformers import Sam3ViTConfig


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "Tests", "TensorTests", "Fixtures"))
    a = ap.parse_args()
    g = torch.Generator().manual_seed(2026)
    tensors, blobs, cases, offset = {}, [], {}, 0

    def put(name, t):
        nonlocal offset
        arr = t.detach().float().contiguous().numpy().astype("<f4")
        tensors[name] = {"shape": list(arr.shape), "offset": offset}
        blobs.append(arr.tobytes())
        offset += arr.size

    def randn(*shape):
        return torch.randn(*shape, generator=g)

    with torch.no_grad():
        # conv2d: (name, input shape, out channels, kernel, stride, padding, bias)
        for name, shape, out, k, s, p, bias in (
                ("conv3x3", (2, 3, 9, 11), 5, 3, 1, 1, True),      # SAM 3 FPN proj2
                ("conv1x1", (2, 6, 5, 7), 4, 1, 1, 0, True),       # SAM 3 FPN proj1
                ("conv3s2", (1, 4, 10, 9), 3, 3, 2, 0, False),
                ("patch4", (1, 3, 12, 16), 8, 4, 4, 0, False),     # patch embedding
                ("conv5p2s3", (1, 2, 11, 8), 3, 5, 3, 2, True)):
            x, w = randn(*shape), randn(out, shape[1], k, k)
            b = randn(out) if bias else None
            put(name + ".input", x); put(name + ".weight", w)
            if bias: put(name + ".bias", b)
            put(name + ".output", F.conv2d(x, w, b, stride=s, padding=p))
            cases[name] = dict(stride=s, padding=p, bias=bias)
        # conv_transpose2d: weight [in, out, k, k]
        for name, shape, out, k, s, p, bias in (
                ("deconv2s2", (2, 6, 5, 7), 4, 2, 2, 0, True),     # SAM 3 FPN upsampling
                ("deconv3s2p1", (1, 3, 4, 5), 2, 3, 2, 1, True),
                ("deconv3s1", (1, 2, 3, 3), 3, 3, 1, 0, False)):
            x, w = randn(*shape), randn(shape[1], out, k, k)
            b = randn(out) if bias else None
            put(name + ".input", x); put(name + ".weight", w)
            if bias: put(name + ".bias", b)
            put(name + ".output", F.conv_transpose2d(x, w, b, stride=s, padding=p))
            cases[name] = dict(stride=s, padding=p, bias=bias)
        # max pooling, kernel 2 stride 2 (odd sizes: floor) and kernel 3 stride 2
        for name, shape, k, s in (("maxpool2", (2, 3, 7, 9), 2, 2), ("maxpool3s2", (1, 2, 8, 7), 3, 2)):
            x = randn(*shape)
            put(name + ".input", x)
            put(name + ".output", F.max_pool2d(x, kernel_size=k, stride=s))
            cases[name] = dict(kernel=k, stride=s)
        # axial RoPE as a windowed layer (grid = window, scale 1) and a global layer (grid =
        # image / patch, positions scaled by window / grid), on [tokens, heads * head_dim].
        for name, hidden, heads, image, patch, window, global_layer in (
                ("rope_window", 64, 4, 70, 14, 5, False),
                ("rope_global", 64, 4, 84, 14, 4, True),
                ("rope_global_hd32", 96, 3, 112, 14, 3, True)):
            cfg = Sam3ViTConfig(hidden_size=hidden, num_attention_heads=heads, image_size=image, patch_size=patch,
                                window_size=window, num_hidden_layers=1, global_attn_indexes=[0] if global_layer else [])
            layer_window = 0 if global_layer else window
            positions = sam3.Sam3ViTLayer(cfg, window_size=layer_window).position_ids
            rope = sam3.Sam3ViTRotaryEmbedding(cfg)
            tokens = positions.shape[0]
            head_dim = hidden // heads
            q, k = randn(1, tokens, heads, head_dim), randn(1, tokens, heads, head_dim)
            cos, sin = rope(q, positions)
            qr, kr = sam3.apply_rotary_pos_emb_2d(q.transpose(1, 2), k.transpose(1, 2), cos=cos, sin=sin)
            grid = window if not global_layer else image // patch
            put(name + ".q", q.reshape(tokens, hidden)); put(name + ".k", k.reshape(tokens, hidden))
            put(name + ".q_rotated", qr.transpose(1, 2).reshape(tokens, hidden))
            put(name + ".k_rotated", kr.transpose(1, 2).reshape(tokens, hidden))
            cases[name] = dict(head_dim=head_dim, heads=heads, grid=grid,
                               scale=(window / grid) if global_layer else 1.0, theta=10000.0)
        # window partition with padding (10 x 13 by 4: padded to 12 x 16), and no padding
        for name, shape, window in (("windows_pad", (2, 10, 13, 3), 4), ("windows_exact", (1, 6, 6, 2), 3)):
            x = randn(*shape)
            windows, padded = sam3.window_partition(x, window)
            put(name + ".input", x)
            put(name + ".windows", windows)
            changed = windows * 2 + 1  # padding positions become non-zero: unpartition must drop them
            put(name + ".changed", changed)
            put(name + ".unpartitioned", sam3.window_unpartition(changed, window, padded, shape[1:3]))
            cases[name] = dict(window=window, padded=list(padded))

        # group norm (SAM 3's pixel decoder: GroupNorm(8, C)) with an offset mean, and nearest resizing
        for name, shape, groups in (("groupnorm8", (2, 16, 5, 6), 8), ("groupnorm2", (1, 6, 3, 7), 2)):
            x = randn(*shape) * 3 + 5
            w, b = randn(shape[1]), randn(shape[1])
            put(name + ".input", x); put(name + ".weight", w); put(name + ".bias", b)
            put(name + ".output", F.group_norm(x, groups, w, b, eps=1e-5))
            cases[name] = dict(groups=groups)
        for name, shape, size in (("nearest2x", (1, 3, 4, 5), (8, 10)), ("nearest_odd", (2, 2, 5, 3), (7, 8)),
                                  ("nearest_down", (1, 2, 9, 7), (4, 3))):
            x = randn(*shape)
            put(name + ".input", x)
            put(name + ".output", F.interpolate(x, size=size, mode="nearest"))
            cases[name] = dict(size=list(size))

    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "ops.bin"), "wb") as f:
        f.write(b"".join(blobs))
    meta = {"generator": "Tools/make_tensor_op_goldens.py", "torch": torch.__version__,
            "transformers": transformers.__version__, "cases": cases, "tensors": tensors}
    with open(os.path.join(a.out, "ops.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"wrote {offset * 4 / 1e3:.1f} kB of goldens to {a.out}")


if __name__ == "__main__":
    main()
