#!/usr/bin/env python3
"""Time transformers' Sam3Model.get_vision_features (ViT backbone + FPN neck) like
`landscribe bench encoder --model SAM3_DIR --size 1008`.

    /work/venv/bin/python Tools/bench_torch_sam3.py --model /tmp/sam3-full --batch 1 --runs 3 --threads 2

Prints one JSON line with the fields of `bench encoder`: {"size", "batch", "runs",
"median_seconds", "seconds_per_image", "threads", "seconds"}. Random pixels, one warm-up,
torch.inference_mode, float32, the default (sdpa) attention. GFLOP/s are left to the Swift side's
count (SAM3VisionConfig.backboneFlops + neckFlops); divide that by median_seconds to compare.
"""
import argparse
import json
import statistics
import time

import torch
from transformers import Sam3Model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = Sam3Model.from_pretrained(a.model, dtype=torch.float32).eval()
    size = model.config.vision_config.backbone_config.image_size
    x = torch.randn(a.batch, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        model.get_vision_features(pixel_values=x)
        seconds = []
        for _ in range(a.runs):
            start = time.perf_counter()
            model.get_vision_features(pixel_values=x)
            seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds)
    print(json.dumps({"size": size, "batch": a.batch, "runs": a.runs, "median_seconds": median,
                      "seconds_per_image": median / a.batch, "threads": a.threads, "seconds": seconds}))


if __name__ == "__main__":
    main()
