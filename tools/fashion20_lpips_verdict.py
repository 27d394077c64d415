"""Does LPIPS change fashion20's verdict? Per (task, sigma_y) case of a bench with LPIPS
(benches/fashion20-lpips.toml): the best solver by mean PSNR, by mean LPIPS-alex and by
mean LPIPS-vgg, VML-MAP's rank under each, and VML-MAP's paired LPIPS-alex difference
(± standard error over the 20 images) against the solver with the best PSNR.

    python3 tools/fashion20_lpips_verdict.py bench-fashion20-lpips/results.jsonl \
        [--check-psnr docs/results/fashion20/results.jsonl.gz]

With --check-psnr, also compares each run's PSNR with the same run (image, task, solver,
sigma_y, seed 0) in the other records: the same seed on another machine.
"""
import argparse
import collections
import gzip
import json
import math
import statistics


def load(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        return [json.loads(l) for l in f if l.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--check-psnr")
    ap.add_argument("--vml", default="vml-map")
    a = ap.parse_args()
    recs = [r for r in load(a.results) if r["status"] == "ok"]
    by = collections.defaultdict(dict)  # case -> solver -> {image: rec}
    for r in recs:
        by[(r["task"], r["sigma_y"])].setdefault(r["solver"], {})[r["image"]] = r
    solvers_all = sorted({r["solver"] for r in recs})
    print(f"{len(recs)} runs, solvers: {', '.join(solvers_all)}\n")
    print("| case | best PSNR | best LPIPS-alex | best LPIPS-vgg | VML-MAP rank (PSNR / alex / vgg) | VML-MAP − best-PSNR solver, LPIPS-alex |")
    print("|---|---|---|---|---|---|")
    agree = 0
    cases = sorted(by, key=lambda c: (c[0], c[1]))
    for case in cases:
        sol = by[case]
        n = min(len(v) for v in sol.values())
        full = {s: v for s, v in sol.items() if len(v) == n}
        mean = lambda s, k: statistics.fmean(r[k] for r in full[s].values())
        rank = lambda k, hi: sorted(full, key=lambda s: -mean(s, k) if hi else mean(s, k))
        rp, ra, rv = rank("psnr", True), rank("lpips", False), rank("lpips_vgg", False)
        agree += rp[0] == ra[0]
        vr = lambda order: str(order.index(a.vml) + 1) if a.vml in order else "–"
        diff = ""
        if a.vml in full and rp[0] != a.vml:
            d = [full[a.vml][i]["lpips"] - full[rp[0]][i]["lpips"] for i in full[a.vml]]
            se = statistics.stdev(d) / math.sqrt(len(d)) if len(d) > 1 else float("nan")
            diff = f"{statistics.fmean(d):+.4f} ± {se:.4f} (vs {rp[0]})"
        noise = "noise-free" if case[1] < 1e-6 else f"σ_y = {case[1]:g}"
        print(
            f"| {case[0]}, {noise} | {rp[0]} {mean(rp[0], 'psnr'):.2f} | {ra[0]} {mean(ra[0], 'lpips'):.4f} "
            f"| {rv[0]} {mean(rv[0], 'lpips_vgg'):.4f} | {vr(rp)} / {vr(ra)} / {vr(rv)} of {len(full)} | {diff} |"
        )
    print(f"\nThe best solver by PSNR is also the best by LPIPS-alex in {agree} of {len(cases)} cases.")
    if a.check_psnr:
        old = {
            (r["image"], r["task"], r["solver"], r["sigma_y"]): r["psnr"]
            for r in load(a.check_psnr)
            if r["status"] == "ok" and r["seed"] == 0
        }
        diffs = [
            abs(r["psnr"] - old[k])
            for r in recs
            if (k := (r["image"], r["task"], r["solver"], r["sigma_y"])) in old
        ]
        same = sum(d == 0 for d in diffs)
        print(
            f"\nPSNR against {a.check_psnr} (seed 0, same runs): {len(diffs)} runs compared, "
            f"{same} identical, largest difference {max(diffs) if diffs else float('nan'):.3g} dB"
        )


if __name__ == "__main__":
    main()
