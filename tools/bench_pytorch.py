"""The PyTorch side of `vmlmap bench-nfe`: the same guided-diffusion network (the shipped
`adm-fashion32` weights, or a preset with random weights), the same image size, batch and
thread count; median time of one forward, of one forward + input VJP (weights frozen), and
optionally of one DDPM training step with AdamW, after a warm-up. Also reports the
network's FLOPs per image (torch.utils.flop_counter) and this machine's fp32 matmul peak
measured in the same process, so that both sides can be given in GFLOP/s.

    pip install torch guided-diffusion-sdk safetensors
    python3 tools/bench_pytorch.py --preset adm-fashion32 --batch 16 --threads 2

`tools/bench_side_by_side.py` runs this and `vmlmap bench-nfe` interleaved and writes the
table of docs/performance.md.
"""
import argparse
import json
import os
import statistics
import time

import torch
from guided_diffusion.unet import UNetModel
from torch.utils.flop_counter import FlopCounterMode

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
PRESETS = {
    "adm-ffhq256": dict(image_size=256, in_channels=3, out_channels=6, model_channels=128, num_res_blocks=1,
                        attention_resolutions=(16,), channel_mult=(1, 1, 2, 2, 4, 4), num_head_channels=64,
                        num_heads=4, use_scale_shift_norm=True, resblock_updown=True),
    "adm-imagenet256-uncond": dict(image_size=256, in_channels=3, out_channels=6, model_channels=256,
                                   num_res_blocks=2, attention_resolutions=(8, 16, 32),
                                   channel_mult=(1, 1, 2, 2, 4, 4), num_head_channels=64, num_heads=4,
                                   use_scale_shift_norm=True, resblock_updown=True),
}


def fashion32():
    """The shipped prior: constructor arguments from its JSON, EMA weights from safetensors."""
    from safetensors.torch import load_file
    args = json.load(open(os.path.join(ROOT, "assets/models/fashion32.json")))
    args["attention_resolutions"] = tuple(args["attention_resolutions"])
    args["channel_mult"] = tuple(args["channel_mult"])
    model = UNetModel(dropout=0.0, **args)
    model.load_state_dict(load_file(os.path.join(ROOT, "assets/models/fashion32.safetensors")))
    return model, args["in_channels"], args["image_size"]


def build(preset, size):
    if preset == "adm-fashion32":
        return fashion32()
    args = dict(PRESETS[preset])
    args["image_size"] = size or args["image_size"]
    torch.manual_seed(0)
    return UNetModel(dropout=0.0, **args), args["in_channels"], args["image_size"]


def median_ms(f, runs):
    f()
    times = []
    for _ in range(runs):
        s = time.perf_counter()
        f()
        times.append((time.perf_counter() - s) * 1e3)
    return statistics.median(times)


def matmul_peak_gflops(threads):
    """fp32 GEMM 1024^3 (the best of a few): the machine's practical peak for these threads."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    a @ b
    best = min(median_ms(lambda: a @ b, 5) for _ in range(3))
    return 2 * 1024 ** 3 / (best * 1e-3) / 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="adm-fashion32")
    ap.add_argument("--size", type=int, default=None)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--train-step", action="store_true", help="time one AdamW training step instead")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, c, s = build(a.preset, a.size)
    x = torch.randn(a.batch, c, s, s)
    t = torch.full((a.batch,), 500.0)
    with FlopCounterMode(display=False) as fc:
        with torch.no_grad():
            model(x[:1], t[:1])
    flops = fc.get_total_flops()
    out = {"side": "pytorch", "torch": torch.__version__, "preset": a.preset, "size": s, "batch": a.batch,
           "threads": a.threads, "runs": a.runs, "gflop_per_image": flops / 1e9}
    if a.train_step:
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.0)
        gen = torch.Generator().manual_seed(0)
        betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
        abar = torch.cumprod(1 - betas, 0).float()

        def step():
            ts = torch.randint(0, 1000, (a.batch,), generator=gen)
            eps = torch.randn(a.batch, c, s, s, generator=gen)
            ab = abar[ts].view(-1, 1, 1, 1)
            xt = ab.sqrt() * x + (1 - ab).sqrt() * eps
            loss = ((model(xt, ts.float())[:, :c] - eps) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        out["train_step_ms_median"] = median_ms(step, a.runs)
    else:
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)

        def fwd():
            with torch.no_grad():
                model(x, t)

        def vjp():
            xi = x.clone().requires_grad_(True)
            o = model(xi, t)
            (o * torch.ones_like(o)).sum().backward()

        out["forward_ms_median"] = median_ms(fwd, a.runs)
        out["vjp_ms_median"] = median_ms(vjp, a.runs)
    out["matmul_peak_gflops"] = matmul_peak_gflops(a.threads)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
