#!/usr/bin/env python3
"""The share of pixels whose class changes between `segment --precision f32` and `--precision bf16`.

    /work/venv/bin/python Tools/bf16_class_change.py --scene SCENE.tif --model /tmp/clip-b16-random \
        --classes "building; road; tree; low vegetation; water; bare soil" [--crop 0,0,1000,1000] [--threads 2]

Runs the same command twice (same scene, classes, tiles, rotations, threads), once per precision,
and compares the class maps pixel by pixel (read through `gdal_translate -of ENVI`, so only
numpy and GDAL's command-line tools are needed). Prints the share of changed pixels, the share
among pixels whose f32 confidence margin (best minus second probability) is under 0.05, and
each run's seconds. With random weights the figure measures numerical sensitivity, not quality.
"""
import argparse, os, subprocess, sys, tempfile, time
import numpy as np

def read(path, tmp, name):
    raw = os.path.join(tmp, name + ".raw")
    subprocess.check_call(["gdal_translate", "-q", "-of", "ENVI", path, raw])
    hdr = open(os.path.join(tmp, name + ".hdr")).read()
    fields = {k.strip(): v.strip() for k, v in (l.split("=", 1) for l in hdr.splitlines() if "=" in l)}
    w, h, b = (int(fields[k].strip()) for k in ("samples", "lines", "bands"))
    dtype = {1: np.uint8, 4: np.float32, 12: np.uint16}[int(fields["data type"].strip())]
    return np.fromfile(raw, dtype=dtype).reshape(b, h, w)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scene", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--classes", required=True)
    ap.add_argument("--crop", help="x,y,width,height of the scene to map (gdal_translate -srcwin)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--landscribe", default=".build/release/landscribe")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scene = a.scene
        if a.crop:
            scene = os.path.join(tmp, "crop.tif")
            subprocess.check_call(["gdal_translate", "-q", "-srcwin", *a.crop.split(","), a.scene, scene])
        maps, probs = {}, {}
        for precision in ["f32", "bf16"]:
            out, p = os.path.join(tmp, precision + ".tif"), os.path.join(tmp, precision + ".p.tif")
            start = time.time()
            subprocess.check_call([a.landscribe, "segment", scene, "-o", out, "--probabilities", p, "--probabilities-type", "float32",
                                   "--classes", a.classes, "--model", a.model, "--threads", str(a.threads), "--quiet",
                                   "--precision", precision])
            print(f"{precision}: {time.time() - start:.1f} s")
            maps[precision], probs[precision] = read(out, tmp, precision)[0], read(p, tmp, precision + "p")
        changed = maps["f32"] != maps["bf16"]
        top2 = np.sort(probs["f32"], axis=0)[-2:]
        close = (top2[1] - top2[0]) < 0.05
        print(f"pixels: {changed.size}, changed class: {changed.sum()} ({100 * changed.mean():.3f}%)")
        print(f"pixels with an f32 margin under 0.05: {close.sum()} ({100 * close.mean():.2f}%), "
              f"of which changed: {100 * changed[close].mean() if close.any() else 0:.2f}%; "
              f"changed with a margin of 0.05 or more: {(changed & ~close).sum()}")
        print(f"max |probability difference|: {np.abs(probs['f32'] - probs['bf16']).max():.2e}")

if __name__ == "__main__":
    sys.exit(main())
