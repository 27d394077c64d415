"""The PyTorch side of `vmlmap bench-nfe`: the same guided-diffusion preset with random
weights, the same image size, batch and thread count; median time of one forward and of
one forward + input VJP (weights frozen), after a warm-up. With `--vmlmap JSON` (the line
`vmlmap bench-nfe --json` printed) it prints both side by side with their ratio.

    pip install torch guided-diffusion-sdk
    RAYON_NUM_THREADS=2 vmlmap bench-nfe --model adm-ffhq256 --size 256 --json > ours.json
    python3 tools/bench_pytorch.py --preset adm-ffhq256 --size 256 --threads 2 --vmlmap ours.json
"""
import argparse
import json
import statistics
import time

import torch
from guided_diffusion.unet import UNetModel

PRESETS = {
    "adm-ffhq256": dict(model_channels=128, num_res_blocks=1, attention_resolutions=(16,)),
    "adm-imagenet256-uncond": dict(model_channels=256, num_res_blocks=2, attention_resolutions=(8, 16, 32)),
}

ap = argparse.ArgumentParser()
ap.add_argument("--preset", default="adm-ffhq256")
ap.add_argument("--size", type=int, default=256)
ap.add_argument("--batch", type=int, default=1)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--runs", type=int, default=5)
ap.add_argument("--vmlmap", help="file with the JSON line of vmlmap bench-nfe --json")
a = ap.parse_args()
torch.set_num_threads(a.threads)
model = UNetModel(image_size=a.size, in_channels=3, out_channels=6, channel_mult=(1, 1, 2, 2, 4, 4), num_head_channels=64,
                  num_heads=4, use_scale_shift_norm=True, resblock_updown=True, dropout=0.0, **PRESETS[a.preset]).eval()
for p in model.parameters():
    p.requires_grad_(False)
x = torch.randn(a.batch, 3, a.size, a.size)
t = torch.full((a.batch,), 500.0)


def fwd():
    s = time.perf_counter()
    with torch.no_grad():
        model(x, t)
    return (time.perf_counter() - s) * 1e3


def vjp():
    xi = x.clone().requires_grad_(True)
    s = time.perf_counter()
    out = model(xi, t)
    (out * torch.ones_like(out)).sum().backward()
    return (time.perf_counter() - s) * 1e3


fwd()
f = statistics.median(fwd() for _ in range(a.runs))
vjp()
b = statistics.median(vjp() for _ in range(a.runs))
ref = {"forward_ms_median": f, "vjp_ms_median": b, "threads": a.threads, "size": a.size, "batch": a.batch}
print(json.dumps({"pytorch": ref}))
if a.vmlmap:
    ours = json.loads(open(a.vmlmap).read().strip().splitlines()[-1])
    print(f"{'':16s} {'vmlmap':>10s} {'pytorch':>10s} {'ratio':>7s}")
    for k in ["forward_ms_median", "vjp_ms_median"]:
        print(f"{k:16s} {ours[k]:10.1f} {ref[k]:10.1f} {ours[k] / ref[k]:7.2f}")
