#!/usr/bin/env python3
"""Regenerate the SAM 3 parity fixtures in Tests/SAM3Tests/Fixtures (needed only to regenerate them).

    python3 Tools/make_sam3_fixtures.py [--out Tests/SAM3Tests/Fixtures]

Writes
  tiny-sam3/config.json, tiny-sam3/model.safetensors: the tiny random SAM 3 of
      ../shared/tools/make_random_sam3.py --arch tiny (seed 0; transformers Sam3Model, Hugging Face
      layout and key names), with two changes to keep the fixture small: the text token table is
      cut to its first 1024 rows (text_config.vocab_size 1024, bos/eos ids 1022/1023; the table is
      3.2 M of the 3.7 M parameters), the q_proj and k_proj (weights and biases) of the backbone,
      the DETR encoder and the DETR decoder are multiplied by 6 so that attention is far from
      uniform, the decoder's box_rpb_embed_x/y by 30 and its o_proj and box_head.layer3 by 10 so
      that the box relative position bias and box refinement matter, and every parameter is rounded to F16 and stored as F16.
      The reference below runs the same F16-rounded values in float32.
  layouts.json: every tensor key and shape of the tiny fixture and of Sam3Model(Sam3Config())
      (the facebook/sam3 configuration; built on the meta device, no weights).
  golden.json + golden.bin: reference outputs of transformers (eager attention, float32),
      golden.json names each tensor with its shape and float offset into golden.bin
      (little-endian float32) and gives the image spec.
Stages (prefix "base." for the config as written, "window6." for the same weights with
vision_config.backbone_config.window_size 6, whose 16 x 16 grid pads to 18 x 18 in windowed layers):
  embeddings [1, 256, 64] (patch embedding + tiled position embeddings), pre_layers (after
  backbone.layer_norm), layer{i} (output of backbone layer i, [1, 256, 64]), last_hidden_state,
  text.features [3, 32, 32]: get_text_features(input_ids) (no attention mask), text.features_masked
  the same with the processor's attention mask (text_ids and text_mask in golden.json);
  detr_encoder.prompt{0,2}.{layer0,last_hidden_state} [1, 256, 32]: the DETR encoder on fpn2 and
  fpn_pos2 with text prompt 0 (padded, masked) or 2 (32 real tokens), and the masked text features
  it got (.text_features, [1, 32, 32]); detr_decoder.prompt{0,2}.{intermediate_hidden_states
  [layers, 1, queries, 32], reference_boxes [layers, 1, queries, 4], presence_logits [layers, 1, 1]}:
  the DETR decoder on that encoder output (box relative position bias on);
  segment.{pred_logits [1, Q], pred_boxes [1, Q, 4], presence_logits [1, 1], pred_masks [1, Q, 64, 64],
  semantic_seg [1, 1, 64, 64]}: Sam3Model(pixel_values, input_ids = prompt 0, attention_mask);
  and for "base." only fpn{l} [1, 32, h, w] and fpn_pos{l} (the neck's sine position encodings)
  for the 4 levels.
The image is not stored: pixel i of the flat [B, 3, H, W] image with spec {batch, height, width, seed} is
  v = ((i + seed * 1000003) * 2654435761 mod 2^32) >> 24,  x = (float32(v) / 255 - 0.5) / 0.5
in float32 (SAM 3's mean and std are 0.5), which the Swift tests compute the same way.
Needs torch, transformers, safetensors, numpy (torchvision is not needed for the vision path).
"""
import argparse, json, os, subprocess, sys, tempfile
import numpy as np
import torch
import transformers
from safetensors.torch import load_file
from transformers import Sam3Config, Sam3Model

HERE = os.path.dirname(os.path.abspath(__file__))
MAKE_RANDOM = os.path.join(HERE, "..", "..", "shared", "tools", "make_random_sam3.py")
VOCAB = 1024


def pixels(batch, height, width, seed):
    i = np.arange(batch * 3 * height * width, dtype=np.uint64)
    v = (((i + np.uint64(seed) * np.uint64(1000003)) * np.uint64(2654435761)) % np.uint64(2**32)) >> np.uint64(24)
    x = (v.astype(np.float32) / np.float32(255)).reshape(batch, 3, height, width)
    return torch.from_numpy((x - np.float32(0.5)) / np.float32(0.5))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "..", "Tests", "SAM3Tests", "Fixtures"))
    ap.add_argument("--make-random", default=MAKE_RANDOM, help="path of make_random_sam3.py")
    a = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, a.make_random, "--arch", "tiny", "--out", tmp, "--seed", "0"], check=True)
        with open(os.path.join(tmp, "config.json")) as f:
            config = json.load(f)
        state = load_file(os.path.join(tmp, "model.safetensors"))
    config["text_config"].update(vocab_size=VOCAB, bos_token_id=VOCAB - 2, eos_token_id=VOCAB - 1)
    key = "text_encoder.text_model.embeddings.token_embedding.weight"
    state[key] = state[key][:VOCAB].clone()
    # Livelier attention than the random init (scores of 0.02-std weights are nearly uniform, so
    # RoPE, window borders, position encodings and masks would hardly show): the q and k
    # projections of the backbone, the DETR encoder and the DETR decoder x 6.
    for k in state:
        if k.startswith(("vision_encoder.backbone.layers.", "detr_encoder.layers.", "detr_decoder.layers.")) \
                and (".q_proj." in k or ".k_proj." in k):
            state[k] = state[k] * 6
        # The decoder's box relative position bias, attention outputs and box refinement, so that
        # they matter.
        if k.startswith("detr_decoder.box_rpb_embed_"):
            state[k] = state[k] * 30
        if k.startswith("detr_decoder.box_head.layer3.") or (k.startswith("detr_decoder.layers.") and ".o_proj." in k):
            state[k] = state[k] * 10
    state = {k: v.half().float() for k, v in state.items()}

    def build(window=None):
        cfg = json.loads(json.dumps(config))
        if window is not None:
            cfg["vision_config"]["backbone_config"]["window_size"] = window
        c = Sam3Config(**{k: v for k, v in cfg.items() if k not in ("architectures", "transformers_version", "dtype")})
        c._attn_implementation = "eager"
        for sub in ("vision_config", "text_config"):
            getattr(c, sub)._attn_implementation = "eager"
        c.vision_config.backbone_config._attn_implementation = "eager"
        m = Sam3Model(c).eval()
        missing, unexpected = m.load_state_dict(state, strict=False)
        assert not unexpected, unexpected
        assert not [k for k in missing if "position_ids" not in k], missing
        return m

    model = build()
    model_dir = os.path.join(a.out, "tiny-sam3")
    os.makedirs(model_dir, exist_ok=True)
    model.half().save_pretrained(model_dir, safe_serialization=True)
    model.float()
    for f in os.listdir(model_dir):
        if f not in ("config.json", "model.safetensors"):
            os.remove(os.path.join(model_dir, f))
    # The F16 file must hold exactly the reference's values and keys.
    saved = load_file(os.path.join(model_dir, "model.safetensors"))
    assert set(saved) == set(state), set(saved) ^ set(state)
    assert all(torch.equal(saved[k].float(), state[k]) for k in state)

    tensors, blobs, offset = {}, [], 0

    def put(name, t):
        nonlocal offset
        arr = t.detach().float().contiguous().numpy().astype("<f4")
        tensors[name] = {"shape": list(arr.shape), "offset": offset}
        blobs.append(arr.tobytes())
        offset += arr.size

    image = dict(batch=1, height=224, width=224, seed=5)
    px = pixels(**image)
    for tag, m in (("base.", model), ("window6.", build(window=6))):
        vision = m.vision_encoder
        backbone = vision.backbone
        captured = {}
        hooks = [backbone.embeddings.register_forward_hook(lambda mod, i, o: captured.__setitem__("embeddings", o)),
                 backbone.layer_norm.register_forward_hook(lambda mod, i, o: captured.__setitem__("pre_layers", o))]
        for n, layer in enumerate(backbone.layers):
            hooks.append(layer.register_forward_hook(lambda mod, i, o, n=n: captured.__setitem__(f"layer{n}", o)))
        with torch.no_grad():
            out = vision(pixel_values=px)
        for h in hooks:
            h.remove()
        b = px.shape[0]
        put(tag + "embeddings", captured["embeddings"])
        put(tag + "pre_layers", captured["pre_layers"].reshape(b, -1, captured["pre_layers"].shape[-1]))
        for n in range(len(backbone.layers)):
            o = captured[f"layer{n}"]
            o = o[0] if isinstance(o, tuple) else o
            put(tag + f"layer{n}", o.reshape(b, -1, o.shape[-1]))
        put(tag + "last_hidden_state", out.last_hidden_state)
        if tag == "base.":  # the neck is the same code on either backbone output
            for level, (f, p) in enumerate(zip(out.fpn_hidden_states, out.fpn_position_encoding)):
                put(tag + f"fpn{level}", f)
                put(tag + f"fpn_pos{level}", p)

    # Text features (get_text_features: text_projection of every token's last hidden state), without
    # an attention mask, and with the processor's mask (real tokens up to the first eos).
    bos, eos = VOCAB - 2, VOCAB - 1
    sentences = [[bos, 320, 1005, 539, 320, 188, 269, eos], [bos, 2, eos], [bos] + list(range(3, 1003, 33)) + [eos]]
    ids = [s[:32] + [eos] * (32 - len(s[:32])) for s in sentences]
    mask = [[1] * min(len(s), 32) + [0] * (32 - min(len(s), 32)) for s in sentences]
    with torch.no_grad():
        put("text.features", model.get_text_features(input_ids=torch.tensor(ids)).pooler_output)
        put("text.features_masked", model.get_text_features(input_ids=torch.tensor(ids),
                                                            attention_mask=torch.tensor(mask)).pooler_output)

    # DETR encoder on the scale-1 FPN level (Sam3Model drops the last level, then takes the last
    # remaining one) with one text prompt per image: prompt 0 (padded, masked) and prompt 2 (full).
    with torch.no_grad():
        vis = model.vision_encoder(pixel_values=px)
        text = model.get_text_features(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask)).pooler_output
        for p in (0, 2):
            captured = {}
            hook = model.detr_encoder.layers[0].register_forward_hook(lambda mod, i, o: captured.__setitem__("layer0", o))
            enc = model.detr_encoder(vision_features=[vis.fpn_hidden_states[2]], text_features=text[p:p + 1],
                                     vision_pos_embeds=[vis.fpn_position_encoding[2]],
                                     text_mask=torch.tensor(mask[p:p + 1]).bool())
            hook.remove()
            put(f"detr_encoder.prompt{p}.layer0", captured["layer0"][0] if isinstance(captured["layer0"], tuple) else captured["layer0"])
            put(f"detr_encoder.prompt{p}.last_hidden_state", enc.last_hidden_state)
            put(f"detr_encoder.prompt{p}.text_features", text[p:p + 1])
            # DETR decoder on the encoder's output (spatial shape given: box relative position bias on).
            h, w = vis.fpn_hidden_states[2].shape[-2:]
            dec = model.detr_decoder(vision_features=enc.last_hidden_state, text_features=text[p:p + 1],
                                     vision_pos_encoding=enc.pos_embeds_flattened,
                                     text_mask=torch.tensor(mask[p:p + 1]).bool(),
                                     spatial_shapes=torch.tensor([[h, w]]))
            put(f"detr_decoder.prompt{p}.intermediate_hidden_states", dec.intermediate_hidden_states)
            put(f"detr_decoder.prompt{p}.reference_boxes", dec.reference_boxes)
            put(f"detr_decoder.prompt{p}.presence_logits", dec.presence_logits)

    # The whole image path with one text prompt (prompt 0, padded and masked).
    with torch.no_grad():
        segmented = model(pixel_values=px, input_ids=torch.tensor(ids[0:1]), attention_mask=torch.tensor(mask[0:1]))
    for name in ("pred_logits", "pred_boxes", "presence_logits", "pred_masks", "semantic_seg"):
        put("segment." + name, getattr(segmented, name))

    # The checkpoint layout (every key and shape) of the tiny fixture and of the default
    # Sam3Config() (facebook/sam3), the latter built on the meta device (no memory, no weights).
    with torch.device("meta"):
        full = Sam3Model(Sam3Config())
    layouts = {"tiny": {k: list(v.shape) for k, v in state.items()},
               "default": {k: list(v.shape) for k, v in full.state_dict().items()}}
    with open(os.path.join(a.out, "layouts.json"), "w") as f:
        json.dump(layouts, f, indent=0, sort_keys=True)

    with open(os.path.join(a.out, "golden.bin"), "wb") as f:
        f.write(b"".join(blobs))
    meta = {"generator": "Tools/make_sam3_fixtures.py", "torch": torch.__version__,
            "transformers": transformers.__version__, "image": image, "text_ids": ids, "text_mask": mask,
            "tensors": tensors}
    with open(os.path.join(a.out, "golden.json"), "w") as f:
        json.dump(meta, f, indent=1)
    total = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(a.out) for fn in fns)
    print(f"wrote fixtures to {a.out}: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
