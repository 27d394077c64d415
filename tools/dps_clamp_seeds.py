#!/usr/bin/env python3
"""DPS with and without the clamp of the denoised estimate, in vmlmap and in deepinv 0.5,
over several seeds: the experiment that explained issue 9's DPS deblurring gap.

The official DPS code clamps each denoised estimate to [-1, 1] (`clip_denoised: True`):
in the ancestral step and in the measurement residual, whose gradient is then zero where
the clamp is active. deepinv's `DPS` does the same; vmlmap's DPS did not until
2026-11-30 (now `clip=true` by default, `--solver-opt dps:clip=false` for the paper's
Algorithm 1). This script runs the four combinations on the first N shipped images, R
seeds each, noise-free Gaussian deblurring by default, and prints mean PSNR +- standard
error over the N x R runs.

vmlmap: `vmlmap bench --images shipped:N --seeds R --batch N*R` (seeds 0..R-1). deepinv:
the same measurements as `crosscheck_deepinv.py` (DPS with the paper's step through a
`DPSDataFidelity` subclass, gradient through the network), the N images repeated R times
as one batch, generator seed 11.

Usage (about 1.5 hours on 2 busy cores for N = 5, R = 4):
    python3 tools/dps_clamp_seeds.py --out /tmp/dps-clamp [--images 5] [--seeds 4]
Writes OUT/results.jsonl (one line per run: tool, clip, image, seed, psnr) and prints the
table; a rerun with the same OUT skips the combinations already there.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crosscheck_deepinv as cc  # noqa: E402


def run_vmlmap(binary, out, n, reps, task, clip):
    d = os.path.join(out, f"vmlmap-clip-{str(clip).lower()}")
    cmd = [binary, "bench", "--images", f"shipped:{n}", "--tasks", task, "--solvers", "dps",
           "--sigma-y", "1e-9", "--seeds", str(reps), "--batch", str(n * reps), "--out", d,
           "--force", "--solver-opt", f"dps:clip={str(clip).lower()}"]
    subprocess.run(cmd, check=True, capture_output=True)
    rows = [json.loads(line) for line in open(os.path.join(d, "results.jsonl"))]
    return [{"image": r["image"], "seed": r["seed"], "psnr": r["psnr"]} for r in rows]


def run_deepinv(n, reps, task, clip):
    images = cc.shipped_images(n)
    names, xs = list(images), list(images.values())
    h = cc.operator(task)
    sy = 1e-9
    ys = [cc.measure(h, x, sy, k) for k, x in enumerate(xs)]
    den, _ = cc.load_prior()
    phys = cc.physics_of(h, sy / 2)
    y01 = torch.tensor(np.stack([(y + 1) / 2 for y in ys] * reps)).reshape(n * reps, 1, 1, -1)
    out = cc.dps_deepinv(den, phys, y01, task, seed=11, clip=(-1.0, 1.0) if clip else None)
    return [{"image": names[k % n], "seed": k // n,
             "psnr": cc.psnr(2 * out[k].double().reshape(-1).numpy() - 1, xs[k % n])}
            for k in range(n * reps)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--images", type=int, default=5)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--task", default="deblur-gaussian")
    ap.add_argument("--vmlmap", default=os.path.join(cc.ROOT, "target/release/vmlmap"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "results.jsonl")
    rows = [json.loads(line) for line in open(path)] if os.path.exists(path) else []
    for tool in ["vmlmap", "deepinv"]:
        for clip in [False, True]:
            if any(r["tool"] == tool and r["clip"] == clip for r in rows):
                continue
            if tool == "vmlmap":
                runs = run_vmlmap(a.vmlmap, a.out, a.images, a.seeds, a.task, clip)
            else:
                runs = run_deepinv(a.images, a.seeds, a.task, clip)
            with open(path, "a") as f:
                for r in runs:
                    r.update(tool=tool, clip=clip, task=a.task)
                    f.write(json.dumps(r) + "\n")
                    rows.append(r)
            print(f"{tool} clip={clip} done", flush=True)
    print(f"| tool | clamp | mean PSNR ± SE ({a.task}, noise-free, {a.images} images × {a.seeds} seeds) |")
    print("|---|---|---|")
    for tool in ["vmlmap", "deepinv"]:
        for clip in [False, True]:
            p = [r["psnr"] for r in rows if r["tool"] == tool and r["clip"] == clip]
            if p:
                se = statistics.stdev(p) / len(p) ** 0.5
                print(f"| {tool} | {'yes' if clip else 'no'} | {statistics.mean(p):.2f} ± {se:.2f} |")


if __name__ == "__main__":
    main()
