#!/usr/bin/env python3
"""Export transformers' CLIPVisionModel to ONNX and time it in ONNX Runtime like
`landscribe bench encoder` (issue 12's side-by-side reference).

    /work/venv/bin/pip install torch transformers onnx onnxscript onnxruntime
    /work/venv/bin/python Tools/bench_onnx_encoder.py --model /tmp/clip-b16-random --size 512 \
        --batch 1 4 --runs 3 --threads 2 [--onnx /tmp/clip-b16-512.onnx]

The model is exported once per size (to --onnx, default /tmp/<model folder>-<size>.onnx; an
existing file is reused) with a dynamic batch axis and interpolate_pos_encoding=True, the same
graph `bench_torch_encoder.py` times: last_hidden_state of the vision tower. Before timing, the
ONNX output is checked against PyTorch on the same pixels (max |difference| printed to stderr).

ONNX Runtime runs the CPU execution provider with all graph optimisations, intra-op threads =
--threads, inter-op threads 1, sequential execution. Prints one JSON line per batch with the
fields of `bench encoder`: {"size", "batch", "runs", "median_seconds", "seconds_per_image",
"gflops_per_second", "threads", "seconds", "cpu_seconds", "runtime"}. Random pixels, one warm-up.
"""
import json
import os
import statistics
import sys

import numpy as np
import onnxruntime as ort
import torch
from transformers import CLIPVisionModel

from bench_torch_encoder import flops, parser, time_runs  # the PyTorch side's FLOP count, options, timing (Tools/)


class LastHidden(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        return self.model(pixel_values=pixel_values, interpolate_pos_encoding=True).last_hidden_state


def export(model, size, path):
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    tmp = path + ".part"
    with torch.inference_mode():
        torch.onnx.export(LastHidden(model), (x,), tmp, input_names=["pixel_values"],
                          output_names=["last_hidden_state"],
                          dynamic_axes={"pixel_values": {0: "batch"}, "last_hidden_state": {0: "batch"}},
                          opset_version=17, dynamo=False)
    os.replace(tmp, path)


def main():
    ap = parser()
    ap.add_argument("--onnx")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = CLIPVisionModel.from_pretrained(a.model, dtype=torch.float32).eval()
    path = a.onnx or f"/tmp/{os.path.basename(os.path.normpath(a.model))}-{a.size}.onnx"
    if not os.path.exists(path):
        export(model, a.size, path)

    options = ort.SessionOptions()
    options.intra_op_num_threads = a.threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    check = torch.randn(1, 3, a.size, a.size, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        expected = LastHidden(model)(check).numpy()
    got = session.run(None, {"pixel_values": check.numpy()})[0]
    diff = float(np.abs(got - expected).max())
    print(f"onnx vs torch: max |difference| {diff:.3g} (scale {float(np.abs(expected).max()):.3g})", file=sys.stderr)

    for batch in a.batch:
        x = torch.randn(batch, 3, a.size, a.size, generator=torch.Generator().manual_seed(0)).numpy()
        seconds, cpu_seconds = time_runs(lambda: session.run(None, {"pixel_values": x}), a.runs)
        median = statistics.median(seconds)
        print(json.dumps({"size": a.size, "batch": batch, "runs": a.runs, "median_seconds": median,
                          "seconds_per_image": median / batch,
                          "gflops_per_second": flops(model.config, a.size) * batch / median / 1e9,
                          "threads": a.threads, "seconds": seconds, "cpu_seconds": cpu_seconds,
                          "runtime": f"onnxruntime {ort.__version__}"}), flush=True)


if __name__ == "__main__":
    main()
