#!/usr/bin/env python3
"""What the Python bridge costs: VML-MAP through vmlmap.torch.TorchDenoiser against the
same network's own forward and forward+VJP time in PyTorch, side by side in one process
(same threads).

    pip install ./crates/python torch guided-diffusion-sdk
    python3 tools/bench_python_bridge.py [--threads 2] [--rounds 3]

Cases: the embedded prior at 32x32, batch 16; the FFHQ-256 architecture (random weights)
at 256x256, batch 1 (VML-MAP with --steps-256 reverse steps, default 1). The overhead is
what the restore took beyond the time spent inside the network itself (its forward and
backward passes, timed by module hooks during the same restore): the numpy <-> torch
copies, the GIL hand-offs and the solver's own arithmetic in Rust. The torch-alone
forward and forward+VJP times of the same batch are printed beside it.
"""

import argparse
import statistics
import time

import numpy as np
import torch

import vmlmap
import vmlmap.torch as vt


def median_time(f, rounds):
    f()  # warm-up
    ts = []
    for _ in range(rounds):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def case(name, den, batch, steps, rounds):
    c, h, w = den.shape
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (batch, c, h, w)).astype(np.float64)
    sigma = np.full(batch, 0.5)
    xt = torch.from_numpy(x).to(den.device)
    v = torch.from_numpy(rng.standard_normal(x.shape)).to(den.device)

    def fwd():
        with torch.no_grad():
            den._d(xt, sigma)

    def fwd_vjp():
        with torch.enable_grad():
            xi = xt.clone().requires_grad_(True)
            d = den._d(xi, sigma)
            torch.autograd.grad(d, xi, v)

    inside = [0.0]
    started = {}

    def pre(name):
        def hook(*_):
            started[name] = time.perf_counter()
        return hook

    def post(name):
        def hook(*_):
            inside[0] += time.perf_counter() - started.pop(name)
        return hook

    t_fwd = median_time(fwd, rounds)
    t_pass = median_time(fwd_vjp, rounds)
    xs = rng.uniform(-0.8, 0.8, (batch, c, h, w)).astype(np.float32)
    y, meta = vmlmap.degrade(xs, "sr4", sigma_y=0.05)
    handles = [
        den.module.register_forward_pre_hook(pre("f")),
        den.module.register_forward_hook(post("f")),
        den.module.register_full_backward_pre_hook(pre("b")),
        den.module.register_full_backward_hook(post("b")),
    ]
    runs = []
    for _ in range(rounds):
        inside[0] = 0.0
        t = time.perf_counter()
        _, info = vmlmap.restore(y, meta=meta, model=den, steps=steps, batch=batch)
        total = time.perf_counter() - t
        runs.append((total - inside[0], total, inside[0]))
    for h in handles:
        h.remove()
    over, t_run, t_net = sorted(runs)[len(runs) // 2]
    passes = info["nfe"]
    print(
        f"| {name} | {batch} | {info['nfe']} / {info['vjp']} | {t_fwd * 1e3:.1f} | {t_pass * 1e3:.1f} "
        f"| {t_run:.2f} | {t_net:.2f} | {1e3 * over / passes:.2f} | {100 * over / t_net:.1f}% |",
        flush=True,
    )


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps-32", type=int, default=10)
    p.add_argument("--steps-256", type=int, default=1)
    p.add_argument("--skip-256", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, {a.threads} threads, median of {a.rounds}")
    print("| case | batch | NFE / VJP | torch alone: forward ms | torch alone: fwd+VJP ms | restore s | inside the network s | rest per NFE ms | rest / network |")
    print("|---|---|---|---|---|---|---|---|---|")
    case("fashion32 (embedded), VML-MAP", vt.load_guided_diffusion("default"), 16, a.steps_32, a.rounds)
    if not a.skip_256:
        from guided_diffusion.unet import UNetModel

        torch.manual_seed(0)
        net = UNetModel(**{**vt.CONFIGS["adm-ffhq256"], "dropout": 0.0})
        case("adm-ffhq256 (random weights), VML-MAP", vt.TorchDenoiser(net), 1, a.steps_256, a.rounds)


if __name__ == "__main__":
    main()
