#!/usr/bin/env python3
"""Medians over rounds of Tools/bench_backends.sh output: python3 Tools/summarize_bench_rounds.py rounds.jsonl

For each (entry, configuration): the backend and kernels it ran, every round's figure
(gflops_per_second for gemm, seconds_per_image for the encoder), their median, and the load range.
"""
import json, statistics, sys
from collections import defaultdict

rows = defaultdict(list)
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    e = json.loads(line)
    rows[(e["entry"], e["config"])].append(e)
for (entry, config), es in rows.items():
    r = es[0]["result"]
    key = "gflops_per_second" if entry == "gemm" else "seconds_per_image"
    vals = [e["result"][key] for e in es]
    loads = [e["load"] for e in es]
    name = r["backend"] + (" / kernels " + r["kernels"] if "kernels" in r else "")
    print(f"{entry:5} | {config:55} | {name:48} | {key} " + " ".join(f"{v:.3f}" for v in vals)
          + f" | median {statistics.median(vals):.3f} | load {min(loads):.2f}-{max(loads):.2f}")
