"""Paired comparison of one solver's PSNR under two priors, image by image.

Each input is a `vmlmap demo` output folder (its summary.md), or a `vmlmap bench` results
folder (its results.jsonl). Rows are (task, sigma_y); the difference is NEW - OLD over the
images both have, with its standard error and how many images improved.

    python3 tools/compare_priors.py report-old/demo20 report-new/demo20 --solver VML-MAP
    python3 tools/compare_priors.py prior100-old prior100-new --solver vml-map
"""
import argparse
import json
import math
import os
import statistics
import sys


def load(path, solver):
    """{(task, sigma_y): {image: psnr}} for one solver."""
    out = {}
    jsonl = os.path.join(path, "results.jsonl")
    summary = os.path.join(path, "summary.md")
    if os.path.exists(jsonl):
        for line in open(jsonl):
            r = json.loads(line)
            if r["solver"] != solver or r["status"] != "ok" or r.get("seed", 0) != 0:
                continue
            out.setdefault((r["task"], float(r["sigma_y"])), {})[r["image"]] = r["psnr"]
    elif os.path.exists(summary):
        lines = open(summary).read().split("Each restoration", 1)[1].splitlines()
        header = None
        for line in lines:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if header is None and cells and cells[0] == "image":
                header = cells
                col = header.index(f"{solver} PSNR")
                continue
            if header is None or len(cells) != len(header) or set(cells[0]) <= set("-"):
                continue
            out.setdefault((cells[1], float(cells[2])), {})[cells[0]] = float(cells[col])
    else:
        sys.exit(f"{path}: neither results.jsonl nor summary.md")
    if not out:
        sys.exit(f"{path}: no results for solver {solver!r}")
    return out


def fmt(sigma):
    return "1e-9" if sigma < 1e-6 else f"{sigma:g}"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--solver", default="VML-MAP", help="solver name as the inputs write it")
    p.add_argument("--old-name", default="old prior")
    p.add_argument("--new-name", default="new prior")
    a = p.parse_args()
    old, new = load(a.old, a.solver), load(a.new, a.solver)
    print(f"| task | σ_y | {a.old_name} | {a.new_name} | difference ± SE (paired) | new better on |")
    print("|---|---|---|---|---|---|")
    for key in old:
        if key not in new:
            continue
        images = sorted(set(old[key]) & set(new[key]))
        o = [old[key][i] for i in images]
        n = [new[key][i] for i in images]
        d = [y - x for x, y in zip(o, n)]
        se = statistics.stdev(d) / math.sqrt(len(d)) if len(d) > 1 else float("nan")
        wins = sum(x > 0 for x in d)
        print(
            f"| {key[0]} | {fmt(key[1])} | {statistics.mean(o):.2f} | {statistics.mean(n):.2f} | "
            f"{statistics.mean(d):+.2f} ± {se:.2f} | {wins} of {len(d)} |"
        )


main()
