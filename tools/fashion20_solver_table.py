"""One solver's row of fashion20 against VML-MAP and the best other solver of each case,
paired over the 20 images (mean PSNR difference ± its standard error; samplers' seeds
averaged per image first), for every (task, sigma_y) case the records hold for it.

    python3 tools/fashion20_solver_table.py RESULTS.jsonl[.gz] [...] --solver map-ga

Prints a markdown table. Used for MAP-GA's fashion20 row (docs/results/README.md).
"""
import argparse
import collections
import gzip
import json
import math
import statistics


def records(paths):
    for p in paths:
        opener = gzip.open if p.endswith(".gz") else open
        with opener(p, "rt") as f:
            for line in f:
                r = json.loads(line)
                if r.get("status") == "ok" and r.get("psnr") is not None:
                    yield r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--solver", required=True)
    ap.add_argument("--against", default="vml-map")
    a = ap.parse_args()
    # (task, sigma_y) -> solver -> image -> [psnr over seeds]
    table = collections.defaultdict(lambda: collections.defaultdict(lambda: collections.defaultdict(list)))
    for r in records(a.paths):
        table[(r["task"], r["sigma_y"])][r["solver"]][r["image"]].append(r["psnr"])

    def per_image(case, solver):
        return {img: statistics.mean(v) for img, v in table[case][solver].items()}

    def paired(x, y):
        common = sorted(set(x) & set(y))
        d = [x[i] - y[i] for i in common]
        se = statistics.stdev(d) / math.sqrt(len(d)) if len(d) > 1 else float("nan")
        return statistics.mean(d), se, len(d)

    print(f"| case | {a.solver} | {a.against} | {a.solver} − {a.against} | best other | {a.solver} − best | images |")
    print("|---|---|---|---|---|---|---|")
    for case in sorted(table, key=lambda c: (c[0], c[1])):
        if a.solver not in table[case]:
            continue
        mine = per_image(case, a.solver)
        others = {s: per_image(case, s) for s in table[case] if s != a.solver}
        means = {s: statistics.mean(v.values()) for s, v in others.items() if len(v) == len(mine) or len(v) >= 20}
        best = max(means, key=means.get)
        ref = others.get(a.against)
        d_ref = paired(mine, ref) if ref else (float("nan"), float("nan"), 0)
        d_best = paired(mine, others[best])
        noise = "noise-free" if case[1] < 1e-6 else f"σ_y = {case[1]:g}"
        print(f"| {case[0]}, {noise} | {statistics.mean(mine.values()):.2f} | "
              f"{statistics.mean(ref.values()) if ref else float('nan'):.2f} | "
              f"{d_ref[0]:+.2f} ± {d_ref[1]:.2f} | {best} {means[best]:.2f} | "
              f"{d_best[0]:+.2f} ± {d_best[1]:.2f} | {len(mine)} |")


if __name__ == "__main__":
    main()
