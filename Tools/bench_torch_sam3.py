#!/usr/bin/env python3
"""Time transformers' Sam3Model.get_vision_features (ViT backbone + FPN neck) like
`landscribe bench encoder --model SAM3_DIR --size 1008`, or, with --prompt, one text prompt on
cached features like `landscribe bench prompt --model SAM3_DIR --text TEXT`.

    /work/venv/bin/python Tools/bench_torch_sam3.py --model /tmp/sam3-full --batch 1 --runs 3 --threads 2
    /work/venv/bin/python Tools/bench_torch_sam3.py --model /tmp/sam3-full --prompt "a building" --runs 3 --threads 2

--prompt: the vision features of one random image (get_vision_features) and the prompt's text
features (get_text_features, ids padded to the text encoder's context as CLIPTokenizer pads) are
computed once, untimed; then Sam3Model(vision_embeds=..., text_embeds=..., attention_mask=...) is
timed: the DETR encoder and decoder, the scoring and the mask decoder. Prints {"text", "tokens",
"runs", "median_seconds", "threads", "seconds", "cpu_seconds"} (process CPU seconds of each run).

Prints one JSON line with the fields of `bench encoder`: {"size", "batch", "runs",
"median_seconds", "seconds_per_image", "threads", "seconds", "cpu_seconds"}. Random pixels, one warm-up,
torch.inference_mode, float32, the default (sdpa) attention. GFLOP/s are left to the Swift side's
count (SAM3VisionConfig.backboneFlops + neckFlops); divide that by median_seconds to compare.
"""
import argparse
import json
import statistics

import torch
from transformers import CLIPTokenizer, Sam3Model

from bench_torch_encoder import time_runs  # warm-up, then wall and CPU seconds of each run (Tools/)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = Sam3Model.from_pretrained(a.model, dtype=torch.float32).eval()
    size = model.config.vision_config.backbone_config.image_size
    if a.prompt is not None:
        prompt(model, a, size)
        return
    x = torch.randn(a.batch, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        seconds, cpu_seconds = time_runs(lambda: model.get_vision_features(pixel_values=x), a.runs)
    median = statistics.median(seconds)
    print(json.dumps({"size": size, "batch": a.batch, "runs": a.runs, "median_seconds": median,
                      "seconds_per_image": median / a.batch, "threads": a.threads, "seconds": seconds, "cpu_seconds": cpu_seconds}))


def prompt(model, a, size):
    tokenizer = CLIPTokenizer.from_pretrained(a.model)
    length = model.config.text_config.max_position_embeddings
    tokens = tokenizer([a.prompt], padding="max_length", max_length=length, truncation=True, return_tensors="pt")
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        vision = model.get_vision_features(pixel_values=x)
        text = model.get_text_features(input_ids=tokens.input_ids, attention_mask=tokens.attention_mask, return_dict=True)

        seconds, cpu_seconds = time_runs(
            lambda: model(vision_embeds=vision, text_embeds=text, attention_mask=tokens.attention_mask), a.runs)
    print(json.dumps({"text": a.prompt, "tokens": int(tokens.attention_mask.sum()), "runs": a.runs,
                      "median_seconds": statistics.median(seconds), "threads": a.threads, "seconds": seconds, "cpu_seconds": cpu_seconds}))


if __name__ == "__main__":
    main()
