#!/usr/bin/env python3
"""PyTorch reference of the segmentation method of docs/METHOD.md (sections 2-6 and 10).

Written from METHOD.md alone, over `transformers.CLIPModel` / `CLIPTokenizer`, as the
independent implementation that the Swift one is checked against (see
Tools/make_segment_goldens.py, which writes the golden files with it).

Every tensor is float32 except the blending accumulators of section 5 (weights, weighted sum
and summed weights), which are float64; the blended logits are cast back to float32 before
section 6. The model is loaded in float32 whatever the dtype of its safetensors.

Usage: python3 Tools/segment_reference.py [--model DIR] [--tokenizer DIR]
runs the self-checks (from the package root). Needs torch, transformers, numpy.
"""
import argparse
import pathlib

import numpy as np
import torch
import torch.nn.functional as F
from transformers import CLIPModel, CLIPTokenizer
from transformers.utils import logging as hf_logging

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_MODEL = "Tests/CLIPTests/Fixtures/tiny-clip"
DEFAULT_TOKENIZER = "Tests/CLIPTests/Fixtures/clip-tokenizer"
TEMPLATES_DIR = ROOT / "Pipelines" / "templates"
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
CONTEXT = 77


def load(model_dir, tokenizer_dir):
    hf_logging.disable_progress_bar()
    model = CLIPModel.from_pretrained(str(ROOT / model_dir), dtype=torch.float32).eval()
    return model, CLIPTokenizer.from_pretrained(str(ROOT / tokenizer_dir))


def templates_named(name):
    """`aeroseg`, `single`, `imagenet80` (Pipelines/templates/NAME.txt, one template a line)."""
    lines = (TEMPLATES_DIR / f"{name}.txt").read_text(encoding="utf-8").split("\n")
    return [t for t in lines if t]


# ---------------------------------------------------------------- section 2: text queries
@torch.no_grad()
def text_queries(model, tokenizer, classes, templates):
    """classes: [(name, [prompt, ...])]; an empty prompt list is a class without queries.

    Returns (Q: K x D unit rows, query_class: [class index of each row])."""
    rows, query_class = [], []
    for c, (_, prompts) in enumerate(classes):
        for prompt in prompts:
            texts = [t.replace("{}", prompt) for t in templates]
            batch = tokenizer(texts, padding="max_length", max_length=CONTEXT, truncation=True,
                              return_tensors="pt")
            e = model.get_text_features(**batch).pooler_output  # T x D, projected, at end of text
            e = F.normalize(e, dim=-1).mean(dim=0)
            rows.append(F.normalize(e, dim=-1))
            query_class.append(c)
    return torch.stack(rows), query_class


# ---------------------------------------------------------------- section 3: one tile, one rotation
def segearth_last_layer(layer, x):
    """Section 3.6: y = ln1(x); sum of q-q, k-k, v-v attentions applied to v; out_proj.
    No residual, no MLP."""
    attn = layer.self_attn
    b, n, _ = x.shape
    heads, d = attn.num_heads, attn.head_dim
    y = layer.layer_norm1(x)

    def split(t):  # B x N x (H*d) -> B x H x N x d
        return t.view(b, n, heads, d).transpose(1, 2)

    q, k, v = split(attn.q_proj(y)), split(attn.k_proj(y)), split(attn.v_proj(y))
    s = d ** -0.5
    a = sum(torch.softmax(s * (t @ t.transpose(-1, -2)), dim=-1) for t in (q, k, v))
    o = (a @ v).transpose(1, 2).reshape(b, n, heads * d)
    return attn.out_proj(o)


def pad_sizes(n, patch):
    """SegEarth-OV compute_padsize along one axis: (before, after)."""
    pad = (-n) % patch
    return pad // 2, pad - pad // 2


@torch.no_grad()
def unit_tokens(model, rgb, valid, rotation, channels=None):
    """Steps 3.1 - 3.7 up to the unit tokens: (u: D, f: hw x D, geometry), u and f cut to
    `channels` and normalized again when given (section 10, dec)."""
    vm = model.vision_model
    patch = model.config.vision_config.patch_size
    k = rotation // 90
    x = torch.rot90(rgb, k, dims=(-2, -1))
    v = torch.rot90(valid, k, dims=(-2, -1))
    mean = torch.tensor(CLIP_MEAN, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(CLIP_STD, dtype=torch.float32).view(3, 1, 1)
    x = (x / 255.0 - mean) / std
    x = torch.where(v, x, torch.zeros(()))
    hh, ww = x.shape[-2:]
    top, bottom = pad_sizes(hh, patch)
    left, right = pad_sizes(ww, patch)
    x = F.pad(x, (left, right, top, bottom))  # zeros in normalized space
    gh, gw = x.shape[-2] // patch, x.shape[-1] // patch

    h = vm.pre_layrnorm(vm.embeddings(x[None], interpolate_pos_encoding=True))
    for layer in vm.encoder.layers[:-1]:
        h = layer(h, None)
    z = model.visual_projection(vm.post_layernorm(segearth_last_layer(vm.encoder.layers[-1], h)))[0]

    u = F.normalize(z[0], dim=-1)
    f = F.normalize(z[1:], dim=-1)
    if channels is not None:
        u, f = cut(u, channels), cut(f, channels)
    geometry = dict(k=k, hh=hh, ww=ww, top=top, left=left, gh=gh, gw=gw, ph=x.shape[-2], pw=x.shape[-1], patch=patch)
    return u, f, geometry


@torch.no_grad()
def encode_rotation(model, rgb, valid, rotation, queries, cls_lambda, channels=None, cache=None):
    """rgb: 3 x H x W float32 in [0, 255]; valid: H x W bool. Returns K x H x W logits in the
    tile's own orientation (steps 3.1 - 3.10). `channels` (dec) and `cache` (exemplars: dict
    keys E x n, key_class, query_class, weight) as in section 10."""
    u, f, g = unit_tokens(model, rgb, valid, rotation, channels)
    if channels is not None:
        queries = cut(queries, channels)
    logits = f @ queries.T + cls_lambda * (u @ queries.T)  # hw x K
    if cache is not None:
        logits = logits + cache_logits(f, cache)
    grid = logits.T.reshape(1, -1, g["gh"], g["gw"])
    up = F.interpolate(grid, size=(g["ph"], g["pw"]), mode="bilinear", align_corners=False)[0]
    cut_map = up[:, g["top"]:g["top"] + g["hh"], g["left"]:g["left"] + g["ww"]]
    return torch.rot90(cut_map, -g["k"], dims=(-2, -1))  # back, clockwise by r


def encode_tile(model, rgb, valid, rotations, queries, cls_lambda, keep=None, channels=None, cache=None):
    """Section 4: mean over rotations. `keep`, a dict, receives each rotation's map."""
    maps = []
    for r in rotations:
        m = encode_rotation(model, rgb, valid, r, queries, cls_lambda, channels, cache)
        if keep is not None:
            keep[r] = m
        maps.append(m)
    return torch.stack(maps).mean(dim=0)


# ---------------------------------------------------------------- section 5: tiling, blending
def tile_origins(n, size, overlap):
    if n <= size:
        return [0]
    return list(range(0, n - size, size - overlap)) + [n - size]


def axis_weights(length, start_on_edge, end_on_edge, overlap):
    """w(t) = a(t) b(L-1-t), float64."""
    t = np.arange(length, dtype=np.float64)

    def ramp(pos, on_edge):
        if on_edge or overlap == 0:
            return np.ones(length)
        return np.minimum(1.0, (pos + 0.5) / overlap)

    return ramp(t, start_on_edge) * ramp(length - 1 - t, end_on_edge)


def blend(width, height, size, overlap, valid, n_queries, encode):
    """encode(row, col, th, tw) -> K x th x tw logits of that tile. Returns (K x H x W float32
    logits, H x W float64 summed weights, tiles, encoded tiles)."""
    acc = np.zeros((n_queries, height, width))
    wsum = np.zeros((height, width))
    rows, cols = tile_origins(height, size, overlap), tile_origins(width, size, overlap)
    th, tw = min(size, height), min(size, width)
    encoded = 0
    for row in rows:
        wy = axis_weights(th, row == 0, row + th == height, overlap)
        for col in cols:
            tv = valid[row:row + th, col:col + tw]
            if not tv.any():
                continue  # an all-nodata tile is not encoded
            encoded += 1
            wx = axis_weights(tw, col == 0, col + tw == width, overlap)
            w = wy[:, None] * wx[None, :] * tv
            logits = np.asarray(encode(row, col, th, tw), dtype=np.float64)
            acc[:, row:row + th, col:col + tw] += logits * w
            wsum[row:row + th, col:col + tw] += w
    out = np.divide(acc, wsum, out=np.zeros_like(acc), where=wsum > 0)
    return out.astype(np.float32), wsum, len(rows) * len(cols), encoded


# ---------------------------------------------------------------- section 6: classes
def classify(logits, valid, query_class, n_classes, logit_scale, threshold, background):
    """logits: K x H x W float32. Returns (C x H x W probabilities after the synonym max,
    H x W uint8 classes, H x W float32 decision margin; nodata: 0, 255, +inf)."""
    p = torch.softmax(logit_scale * torch.from_numpy(logits), dim=0)
    probs = torch.zeros((n_classes,) + p.shape[1:])
    for c in range(n_classes):
        ks = [k for k, qc in enumerate(query_class) if qc == c]
        if ks:
            probs[c] = p[ks].max(dim=0).values
    top2 = torch.topk(probs, 2, dim=0).values
    classes = torch.argmax(probs, dim=0)  # first index on ties
    margin = top2[0] - top2[1]
    if background is not None:
        classes[top2[0] < threshold] = background
        margin = torch.minimum(margin, (top2[0] - threshold).abs())
    invalid = torch.from_numpy(~valid)
    probs[:, invalid] = 0
    classes[invalid] = 255
    margin[invalid] = float("inf")
    return probs.numpy(), classes.numpy().astype(np.uint8), margin.numpy(), p


def segment(model, queries, query_class, n_classes, rgb, valid, cfg, keep=None):
    """rgb: H x W x 3 uint8; valid: H x W bool; cfg: tile, overlap, rotations, cls_lambda,
    logit_scale, threshold, background (class index or None)."""
    height, width = valid.shape
    chw = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).float()
    vt = torch.from_numpy(valid)

    def encode(row, col, th, tw):
        tile_keep = {} if keep is not None else None
        out = encode_tile(model, chw[:, row:row + th, col:col + tw], vt[row:row + th, col:col + tw],
                          cfg["rotations"], queries, cfg["cls_lambda"], tile_keep,
                          cfg.get("channels"), cfg.get("cache"))
        if keep is not None:
            keep[(row, col)] = tile_keep
        return out.numpy()

    logits, wsum, tiles, encoded = blend(width, height, cfg["tile"], cfg["overlap"], valid,
                                         queries.shape[0], encode)
    assert np.all(wsum[valid] > 0), "every valid pixel gets a positive weight"
    probs, classes, margin, p = classify(logits, valid, query_class, n_classes, cfg["logit_scale"],
                                         cfg["threshold"], cfg["background"])
    sums = p.sum(dim=0)[torch.from_numpy(valid)]
    assert torch.allclose(sums, torch.ones_like(sums), atol=1e-5), "softmax sums to 1"
    return dict(logits=logits, probs=probs, classes=classes, margin=margin, tiles=tiles, encoded=encoded)



# ---------------------------------------------------------------- section 10: dec, exemplars
def cut(v, channels):
    """Vectors (rows) cut to `channels` and normalized again."""
    return F.normalize(v[..., channels], dim=-1)


def channel_scores(queries):
    """score_d = -0.7 * mean over ordered pairs k != l of Q[k,d] Q[l,d] + 0.3 * unbiased var_d,
    in float64, the pairs summed explicitly."""
    q = queries.double()
    kq = q.shape[0]
    outer = q[:, None, :] * q[None, :, :]                       # K x K x D
    off = ~torch.eye(kq, dtype=torch.bool)
    sim = outer[off].sum(dim=0) / (kq * (kq - 1))
    var = q.var(dim=0, unbiased=True)
    return -0.7 * sim + 0.3 * var


def dec_channels(queries, keep):
    """The round(keep x D) channels of highest score (halves away from zero), ties to the lower
    index; ascending."""
    s = channel_scores(queries).tolist()
    n = max(1, min(len(s), int(np.floor(keep * len(s) + 0.5))))
    order = sorted(range(len(s)), key=lambda d: (-s[d], d))
    return sorted(order[:n])


def cache_logits(f, cache):
    """Section 10.2: softmax over exemplars of f . k_e, summed per class, times the weight,
    for every query's class. f: hw x n. Returns hw x K."""
    a = torch.softmax(f @ cache["keys"].T, dim=-1)                # hw x E
    classes = max(max(cache["query_class"]), max(cache["key_class"])) + 1
    onehot = F.one_hot(torch.tensor(cache["key_class"]), classes).float()  # E x C
    per_class = a @ onehot                                           # hw x C
    return cache["weight"] * per_class[:, cache["query_class"]]


def inside(rings, px, py):
    """Even-odd rule over every ring of a (multi)polygon at points (px, py) (arrays)."""
    result = np.zeros(np.broadcast(px, py).shape, dtype=bool)
    for ring in rings:
        r = np.asarray(ring, dtype=np.float64)
        for (x1, y1), (x2, y2) in zip(r, np.roll(r, -1, axis=0)):
            crosses = (y1 > py) != (y2 > py)
            with np.errstate(divide="ignore", invalid="ignore"):
                xcross = x1 + (py - y1) * (x2 - x1) / (y2 - y1)
            result ^= crosses & (px < xcross)
    return result


def point_on_surface(polygons):
    """An interior point (GEOS's InteriorPointArea): per polygon, a horizontal line at the mean
    of the nearest vertex heights above and below the middle of its bounding box; the middle of
    the widest interval of any polygon's line inside that polygon."""
    best = None
    for rings in polygons:
        pts = np.concatenate([np.asarray(r, dtype=np.float64) for r in rings])
        lo, hi = pts[:, 1].min(), pts[:, 1].max()
        centre = (lo + hi) / 2
        below, above = lo, hi
        for y in pts[:, 1]:
            if y <= centre:
                below = max(below, y)
            else:
                above = min(above, y)
        y = (below + above) / 2
        xs = []
        for ring in rings:
            r = np.asarray(ring, dtype=np.float64)
            for (x1, y1), (x2, y2) in zip(r, np.roll(r, -1, axis=0)):
                if (y1 > y) != (y2 > y):
                    xs.append(x1 + (y - y1) * (x2 - x1) / (y2 - y1))
        xs.sort()
        for a, b in zip(xs[0::2], xs[1::2]):
            if best is None or b - a > best[0]:
                best = (b - a, (a + b) / 2, y)
    return best[1], best[2]


def exemplar_window(rings, width, height, size):
    """Section 10.1's window of an exemplar in scene pixels: (x0, y0, w, h)."""
    pts = np.concatenate([np.asarray(r, dtype=np.float64) for r in rings])
    cx, cy = (pts[:, 0].min() + pts[:, 0].max()) / 2, (pts[:, 1].min() + pts[:, 1].max()) / 2
    x0 = int(min(max(np.floor(cx) - size // 2, 0), max(0, width - size)))
    y0 = int(min(max(np.floor(cy) - size // 2, 0), max(0, height - size)))
    return x0, y0, min(size, width), min(size, height)


@torch.no_grad()
def exemplar_keys(model, rgb, valid, exemplars, size, channels=None):
    """rgb: H x W x 3 uint8, valid: H x W bool; exemplars: [(class index, polygons, each a list
    of rings, in scene pixels)]; inside is the even-odd rule over all rings. Returns (keys E x n,
    details)."""
    height, width = valid.shape
    chw = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).float()
    vt = torch.from_numpy(valid)
    encoded, keys, details = {}, [], []
    for cls, polygons in exemplars:
        rings = [ring for poly in polygons for ring in poly]
        x0, y0, w, h = exemplar_window(rings, width, height, size)
        if (x0, y0, w, h) not in encoded:
            encoded[(x0, y0, w, h)] = unit_tokens(model, chw[:, y0:y0 + h, x0:x0 + w], vt[y0:y0 + h, x0:x0 + w], 0, channels)
        _, f, g = encoded[(x0, y0, w, h)]
        p = g["patch"]
        b, a = np.meshgrid(np.arange(g["gw"]), np.arange(g["gh"]))
        # cell centres in scene pixels; the pixel holding one is tested at its own centre
        cx = np.floor(x0 - g["left"] + b * p + p / 2)
        cy = np.floor(y0 - g["top"] + a * p + p / 2)
        in_scene = (cx >= 0) & (cx < width) & (cy >= 0) & (cy < height)
        hit = in_scene & inside(rings, cx + 0.5, cy + 0.5)
        cells = np.flatnonzero(hit.ravel()).tolist()
        fallback = not cells
        if fallback:
            px, py = point_on_surface(polygons)
            cb = min(max(int(np.floor((px - x0 + g["left"]) / p)), 0), g["gw"] - 1)
            ca = min(max(int(np.floor((py - y0 + g["top"]) / p)), 0), g["gh"] - 1)
            cells = [ca * g["gw"] + cb]
        keys.append(F.normalize(f[cells].mean(dim=0), dim=-1))
        details.append(dict(window=[x0, y0, w, h], cells=cells, fallback=fallback))
    return torch.stack(keys), details


def check_section10():
    q = torch.tensor([[1.0, 0.0, 0.5, 0.5], [0.0, 1.0, 0.5, 0.5], [0.0, 0.0, 0.5, 0.5]])
    s = channel_scores(q)
    # channel 0: pairs products all 0, var 1/3; channel 2: pairs 0.25, var 0
    assert abs(s[0] - 0.1) < 1e-12 and abs(s[1] - 0.1) < 1e-12 and abs(s[2] + 0.7 * 0.25) < 1e-12 and s[2] == s[3]
    assert dec_channels(q, 0.25) == [0] and dec_channels(q, 0.5) == [0, 1]
    assert dec_channels(q, 0.75) == [0, 1, 2], "ties to the lower index"
    square = [[(0, 0), (4, 0), (4, 2), (0, 2)]]
    assert point_on_surface([square]) == (2.0, 1.0)
    assert point_on_surface([square, [[(10, 10), (20, 10), (20, 13), (10, 13)]]]) == (15.0, 11.5), "widest part"
    assert inside(square, np.array([1.0, 5.0]), np.array([1.0, 1.0])).tolist() == [True, False]
    assert exemplar_window(square, 100, 50, 64) == (0, 0, 64, 50)
    assert exemplar_window([[(90, 40), (99, 40), (99, 49)]], 300, 200, 64) == (62, 12, 64, 64)
    assert exemplar_window([[(290, 190), (299, 190), (299, 199)]], 300, 200, 64) == (236, 136, 64, 64)

# ---------------------------------------------------------------- self-checks
def check_rotations():
    x = torch.arange(2 * 5 * 7, dtype=torch.float32).view(2, 5, 7)
    for k in range(4):
        assert torch.equal(torch.rot90(torch.rot90(x, k, dims=(-2, -1)), -k, dims=(-2, -1)), x)
    # counter-clockwise: the top-right corner goes to the top-left
    assert torch.rot90(x, 1, dims=(-2, -1))[0, 0, 0] == x[0, 0, -1]


def check_blend():
    def field(k, x, y):
        return (k + 1) * (0.01 * x - 0.003 * y) + 0.5 * k + np.sin((x + 2 * y) * 0.01)

    for width, height, size, overlap in [(300, 260, 128, 32), (97, 50, 16, 4), (64, 40, 64, 0), (500, 70, 128, 0)]:
        yy, xx = np.mgrid[0:height, 0:width]
        valid = ~((xx < width // 2) & (yy < height // 2)) & ((xx + yy) % 7 != 0)
        expect = np.stack([field(k, xx, yy) for k in range(3)])
        got, wsum, _, _ = blend(width, height, size, overlap, valid, 3,
                                lambda r, c, th, tw: expect[:, r:r + th, c:c + tw])
        assert np.all(wsum[valid] > 0) and np.all(wsum[~valid] == 0)
        assert np.abs(got[:, valid] - expect[:, valid]).max() < 1e-5, "blending reconstructs a global field"
    assert tile_origins(300, 128, 32) == [0, 96, 172] and tile_origins(100, 128, 32) == [0]
    w = axis_weights(128, False, False, 32)
    assert abs(w[0] - 0.5 / 32 * 1) < 1e-15 and w[64] == 1 and abs(w[127] - 0.5 / 32) < 1e-15


@torch.no_grad()
def check_encoder(model):
    """The manual loop equals transformers' own forward; the head split of the modified layer
    reproduces the layer's standard attention when given q-k scores."""
    vm = model.vision_model
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, 80, 112, generator=g)
    ref = vm(pixel_values=x, interpolate_pos_encoding=True, output_hidden_states=True)
    h = vm.pre_layrnorm(vm.embeddings(x, interpolate_pos_encoding=True))
    for layer in vm.encoder.layers[:-1]:
        h = layer(h, None)
    assert torch.allclose(h, ref.hidden_states[-2], atol=1e-5)
    last = vm.encoder.layers[-1]
    assert torch.allclose(last(h, None), ref.last_hidden_state, atol=1e-5)
    attn = last.self_attn
    y = last.layer_norm1(h)
    b, n, _ = y.shape
    split = lambda t: t.view(b, n, attn.num_heads, attn.head_dim).transpose(1, 2)
    q, k, v = split(attn.q_proj(y)), split(attn.k_proj(y)), split(attn.v_proj(y))
    a = torch.softmax(attn.head_dim ** -0.5 * (q @ k.transpose(-1, -2)), dim=-1)
    o = attn.out_proj((a @ v).transpose(1, 2).reshape(b, n, -1))
    assert torch.allclose(o, attn(y)[0], atol=1e-5)


def self_checks(model):
    check_rotations()
    check_blend()
    check_section10()
    check_encoder(model)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--tokenizer", default=DEFAULT_TOKENIZER)
    args = ap.parse_args()
    model, _ = load(args.model, args.tokenizer)
    self_checks(model)
    print("self-checks passed")


if __name__ == "__main__":
    main()
