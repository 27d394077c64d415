#!/usr/bin/env python3
"""The trace-term study's table (issue 33): paired PSNR differences per case between
vml-map-full and vml-map at the same steps, at the same network passes (vml-map-k15), and
between four probes and one, from a bench's results.jsonl.

    python3 tools/trace_study_table.py docs/results/trace-study/results.jsonl \
        [docs/results/trace-study/ablation.jsonl]

Each difference is over the images (paired by image), mean ± standard error; a difference
is clear (bold) when it is more than 2 standard errors from 0, as in the fashion20 report.
"""
import json
import math
import sys
from collections import defaultdict


def main(path, *more):
    psnr = defaultdict(dict)  # (task, sigma) -> solver -> image -> psnr
    passes = {}
    lines = [line for p in (path, *more) for line in open(p)]
    for line in lines:
        r = json.loads(line)
        if r["status"] != "ok":
            continue
        psnr[(r["task"], r["sigma_y"])].setdefault(r["solver"], {})[r["image"]] = r["psnr"]
        passes[r["solver"]] = (r["nfe"], r["vjp"])

    def mean(d):
        return sum(d.values()) / len(d)

    def paired(a, b):
        imgs = sorted(set(a) & set(b))
        d = [a[i] - b[i] for i in imgs]
        m = sum(d) / len(d)
        se = math.sqrt(sum((x - m) ** 2 for x in d) / (len(d) - 1) / len(d))
        cell = f"{m:+.2f} ± {se:.2f}"
        return f"**{cell}**" if abs(m) > 2 * se else cell

    order = ["vml-map", "vml-map-k15", "vml-map-full", "vml-map-full-p4"]
    ablations = ["vml-map-full-cov", "vml-map-full-h"]
    print("Passes per image (NFE + VJP): " + ", ".join(
        f"{s} {passes[s][0]} + {passes[s][1]}" for s in order if s in passes) + ".\n")
    print("| case | vml-map | vml-map-k15 | vml-map-full | full, 4 probes | full − vml-map (same steps) | full − k15 (same passes) | 4 probes − 1 |")
    print("|---|---|---|---|---|---|---|---|")
    for (task, sy), by in sorted(psnr.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        if not all(s in by for s in order):
            continue
        noise = "noise-free" if sy < 1e-6 else f"σ_y = {sy}"
        cells = [f"{mean(by[s]):.2f}" for s in order]
        print(f"| {task}, {noise} | " + " | ".join(cells) + " | "
              + paired(by["vml-map-full"], by["vml-map"]) + " | "
              + paired(by["vml-map-full"], by["vml-map-k15"]) + " | "
              + paired(by["vml-map-full-p4"], by["vml-map-full"]) + " |")
    if any(a in by for by in psnr.values() for a in ablations):
        print("\nOne trace term at a time (paired against vml-map at the same steps):\n")
        print("| case | −Tr J/2 alone | σ² Tr(HJHᵀ)/2σ_y² alone | both (vml-map-full) |")
        print("|---|---|---|---|")
        for (task, sy), by in sorted(psnr.items(), key=lambda kv: (kv[0][0], kv[0][1])):
            if not all(s in by for s in ablations + ["vml-map", "vml-map-full"]):
                continue
            noise = "noise-free" if sy < 1e-6 else f"σ_y = {sy}"
            print(f"| {task}, {noise} | " + " | ".join(
                paired(by[s], by["vml-map"]) for s in ablations + ["vml-map-full"]) + " |")


if __name__ == "__main__":
    main(*(sys.argv[1:] or ["docs/results/trace-study/results.jsonl"]))
