#!/usr/bin/env python3
"""Time transformers' CLIPVisionModel (interpolate_pos_encoding=True) like `landscribe bench encoder`.

    python3 Tools/bench_torch_encoder.py --model /tmp/clip-b16-random --size 512 --batch 1 4 --runs 3 --threads 2

Prints one JSON line per batch with the fields of `bench encoder`:
{"size", "batch", "runs", "median_seconds", "seconds_per_image", "gflops_per_second", "threads", "seconds", "cpu_seconds"} (process CPU seconds of each run).
Random pixels, one warm-up, torch.inference_mode, float32, the default (sdpa) attention.
"""
import argparse, json, statistics, time
import torch
from transformers import CLIPVisionModel


def flops(cfg, size):
    t = 1 + (size // cfg.patch_size) ** 2
    d, i = cfg.hidden_size, cfg.intermediate_size
    per_layer = 2 * t * d * 3 * d + 4 * t * t * d + 2 * t * d * d + 4 * t * d * i
    return 2 * (t - 1) * cfg.num_channels * cfg.patch_size ** 2 * d + cfg.num_hidden_layers * per_layer


def time_runs(run, runs):
    """Calls run() once to warm up, then `runs` times: (wall seconds, process CPU seconds) of each."""
    run()
    seconds, cpu_seconds = [], []
    for _ in range(runs):
        start, cpu_start = time.perf_counter(), time.process_time()
        run()
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - cpu_start)
    return seconds, cpu_seconds


def parser():
    """The options of both encoder benchmarks (bench_onnx_encoder.py adds --onnx)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    return ap


def main():
    a = parser().parse_args()
    torch.set_num_threads(a.threads)
    model = CLIPVisionModel.from_pretrained(a.model, dtype=torch.float32).eval()
    for batch in a.batch:
        x = torch.randn(batch, 3, a.size, a.size, generator=torch.Generator().manual_seed(0))
        with torch.inference_mode():
            seconds, cpu_seconds = time_runs(lambda: model(pixel_values=x, interpolate_pos_encoding=True), a.runs)
        median = statistics.median(seconds)
        print(json.dumps({"size": a.size, "batch": batch, "runs": a.runs, "median_seconds": median,
                          "seconds_per_image": median / batch,
                          "gflops_per_second": flops(model.config, a.size) * batch / median / 1e9,
                          "threads": a.threads, "seconds": seconds, "cpu_seconds": cpu_seconds}))


if __name__ == "__main__":
    main()
