"""vmlmap against PyTorch on the same CPU, threads, networks and inputs: the table of
docs/performance.md. vmlmap runs on each of its engines (`--engine native`, the default, and
`--engine burn`, burn's autodiff: the reference it replaced), the training step too. Each round runs every case on all sides one after the other
(interleaved, so that a noisy neighbour hits both alike); the table gives the median over
rounds of each side's median time, the ratio vmlmap / PyTorch (below 1: vmlmap faster),
peak RSS, and GFLOP/s against this machine's fp32 matmul peak, measured by PyTorch in the
same run (FLOPs from torch.utils.flop_counter: forward F per image; forward + input VJP
counted as 2F, a training step as 3F).

    cargo build --release
    pip install torch guided-diffusion-sdk safetensors
    python3 tools/bench_side_by_side.py --rounds 3 --out /tmp/bench.json   # about 15 min on 2 cores

Without --ffhq the 256x256 case (about 2 min a round) is left out. `--engines` picks the
vmlmap columns: `native`, `burn`, or `native:KERNELS` (the native engine with
VMLMAP_SIMD=KERNELS: `avx2`, `baseline`), e.g. `--engines native,native:avx2` on an AVX-512
machine to see both kernel sets beside PyTorch.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
VMLMAP = os.path.join(ROOT, "target/release/vmlmap")

# (label, preset for PyTorch, model for vmlmap, batch, mode, runs)
CASES = [
    ("adm-fashion32, batch 1", "adm-fashion32", "default", 1, "nfe", 7),
    ("adm-fashion32, batch 16", "adm-fashion32", "default", 16, "nfe", 5),
    ("adm-fashion32, training step, batch 32", "adm-fashion32", "default", 32, "train", 3),
    ("adm-ffhq256, 256x256, batch 1", "adm-ffhq256", "adm-ffhq256", 1, "nfe", 3),
]


def run_json(cmd, env):
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ffhq", action="store_true", help="include the 256x256 adm-ffhq256 case")
    ap.add_argument("--only-ffhq", action="store_true", help="run the 256x256 case alone")
    ap.add_argument("--out", help="write all raw results here (JSON)")
    ap.add_argument("--engines", default="native,burn",
                    help="vmlmap columns, comma-separated: native, burn, native:avx2, native:baseline")
    a = ap.parse_args()
    env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads), OMP_NUM_THREADS=str(a.threads))
    cases = [c for c in CASES if (a.ffhq or a.only_ffhq or not c[1].startswith("adm-ffhq"))
             and (not a.only_ffhq or c[1].startswith("adm-ffhq"))]
    engines = [e.strip() for e in a.engines.split(",") if e.strip()]
    print(f"CPU: {cpu_model()}; flags: {simd_flags()}", file=sys.stderr)
    raw = {c[0]: {"pytorch": [], **{f"vmlmap-{e}": [] for e in engines}} for c in cases}
    started = time.time()
    for r in range(a.rounds):
        for label, preset, model, batch, mode, runs in cases:
            ours = [VMLMAP, "bench-nfe", "--model", model, "--batch", str(batch), "--runs", str(runs), "--json"]
            ref = [sys.executable, os.path.join(ROOT, "tools/bench_pytorch.py"), "--preset", preset, "--batch",
                   str(batch), "--runs", str(runs), "--threads", str(a.threads)]
            if mode == "train":
                ours.append("--train-step")
                ref.append("--train-step")
            for e in engines:
                engine, _, kernels = e.partition(":")
                env_e = dict(env, VMLMAP_SIMD=kernels or "auto")
                raw[label][f"vmlmap-{e}"].append(run_json(ours + ["--engine", engine], env_e))
            raw[label]["pytorch"].append(run_json(ref, env))
            print(f"round {r + 1}/{a.rounds}: {label} done ({time.time() - started:.0f} s)", file=sys.stderr)
            if a.out:
                json.dump(raw, open(a.out, "w"), indent=1)
    peak = statistics.median(p["matmul_peak_gflops"] for c in raw.values() for p in c["pytorch"])
    print(f"CPU: {cpu_model()}; SIMD flags: {simd_flags()}")
    print(f"fp32 matmul peak (PyTorch, 1024^3, {a.threads} threads): {peak:.0f} GFLOP/s; "
          f"{a.rounds} rounds, medians of per-round medians\n")
    print(table(raw, cases, engines, peak))


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def simd_flags():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                keep = [f for f in flags if f in ("avx2", "fma") or f.startswith(("avx512", "amx"))]
                return " ".join(sorted(keep)) or "no AVX2"
    except OSError:
        pass
    return "unknown"


def table(raw, cases, engines, peak):
    """The markdown table: one time and ratio column per vmlmap engine, GFLOP/s of the first."""
    head = (["case", "measure"] + [f"vmlmap {e}" for e in engines] + ["PyTorch"]
            + [f"ratio {e}" for e in engines]
            + [f"{engines[0]} GFLOP/s (of peak)", "PyTorch GFLOP/s (of peak)", f"vmlmap peak RSS ({' / '.join(engines)})"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, preset, model, batch, mode, runs in cases:
        p = raw[label]["pytorch"]
        gflop = p[0]["gflop_per_image"] * batch
        keys = [("train_step_ms_median", "training step", 3)] if mode == "train" else [
            ("forward_ms_median", "forward", 1), ("vjp_ms_median", "forward + VJP", 2)]
        for key, name, factor in keys:
            runs_of = {e: raw[label][f"vmlmap-{e}"] for e in engines}
            med = {e: statistics.median(x[key] for x in r) if r else None for e, r in runs_of.items()}
            rss = {e: f"{statistics.median(x['peak_rss_mb'] for x in r):.0f}" if r else "n/a"
                   for e, r in runs_of.items()}
            pm = statistics.median(x[key] for x in p)
            best = med[engines[0]]
            gf = "n/a" if best is None else f"{factor * gflop / best * 1e3:.0f} ({factor * gflop / best * 1e3 / peak:.0%})"
            row = ([label, name] + [cell(med[e]) for e in engines] + [f"{pm:,.1f} ms"]
                   + [ratio(med[e], pm) for e in engines]
                   + [gf, f"{factor * gflop / pm * 1e3:.0f} ({factor * gflop / pm * 1e3 / peak:.0%})",
                      " / ".join(rss[e] for e in engines) + " MB"])
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def cell(ms):
    return "n/a" if ms is None else f"{ms:,.1f} ms"


def ratio(ms, pm):
    return "n/a" if ms is None else f"{ms / pm:.2f}"


if __name__ == "__main__":
    main()
