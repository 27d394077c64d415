"""Checks that a guided-diffusion prior exported by `vmlmap train --export` is usable as it
is from PyTorch: its state dict loads strictly (every name and shape) into the public
`guided_diffusion.unet.UNetModel` built from the arguments in MODEL.json beside it, and
the denoiser D(x, sigma) = x - sigma * eps(x / sqrt(1 + sigma^2), t) of that PyTorch model
equals `vmlmap denoise` on the same inputs (a shipped test image plus seeded noise at
three noise levels on the DDPM grid).

    pip install torch safetensors guided-diffusion-sdk
    cargo build --release
    python3 tools/check_prior_pytorch.py assets/models/fashion32.safetensors

Exits non-zero, naming the problem, when a tensor is missing, extra or misshapen, or when
the two denoisers differ by more than 1e-5 · max(1, sigma) (D carries sigma times the
network's f32 round-off, which is about 1e-6).
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", help="the exported .safetensors (its .json beside it)")
    ap.add_argument("--vmlmap", default=os.path.join(ROOT, "target/release/vmlmap"))
    ap.add_argument("--tolerance", type=float, default=1e-5, help="per unit of max(1, sigma)")
    a = ap.parse_args()

    import torch
    from guided_diffusion.unet import UNetModel
    from PIL import Image
    from safetensors.torch import load_file

    args_path = os.path.splitext(a.model)[0] + ".json"
    if not os.path.exists(args_path):
        sys.exit(f"{args_path}: no such file (the UNetModel arguments `vmlmap train --export` writes)")
    args = json.load(open(args_path))
    args["attention_resolutions"] = tuple(args["attention_resolutions"])
    args["channel_mult"] = tuple(args["channel_mult"])
    model = UNetModel(dropout=0.0, **args).eval()
    state = load_file(a.model)
    missing, unexpected = model.load_state_dict(state, strict=False)
    wrong = [k for k, v in model.state_dict().items() if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if missing or unexpected or wrong:
        sys.exit(f"{a.model}: missing {missing}, unexpected {unexpected}, misshapen {wrong}")
    model.load_state_dict(state, strict=True)
    print(f"{a.model}: {len(state)} tensors load strictly into guided_diffusion.UNetModel")

    betas = np.linspace(1e-4, 0.02, 1000)
    abar = np.cumprod(1 - betas)
    sigmas = np.sqrt((1 - abar) / abar)
    side, ch = args["image_size"], args["in_channels"]
    image = sorted(glob.glob(os.path.join(ROOT, "assets/fashion-test/*.png")))[0]
    x0 = np.asarray(Image.open(image).convert("L"), np.float64) / 127.5 - 1.0
    if x0.shape != (side, side) or ch != 1:
        sys.exit(f"this check uses the shipped {x0.shape} grey images; the model takes {ch}x{side}x{side}")
    rng = np.random.default_rng(0)
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for t in (50, 300, 800):
            s = float(sigmas[t])
            x = (x0 + s * rng.standard_normal(x0.shape)).astype(np.float32)[None]
            xin, xout = os.path.join(tmp, f"x{t}.npy"), os.path.join(tmp, f"d{t}.npy")
            np.save(xin, x)
            r = subprocess.run([a.vmlmap, "denoise", "--model", a.model, "--input", xin, "--sigma", repr(s),
                                "--output", xout], capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"vmlmap denoise failed: {r.stderr}")
            ours = np.load(xout).astype(np.float64)
            with torch.no_grad():
                xd = torch.tensor(x, dtype=torch.float64)[None]
                eps = model((xd / np.sqrt(1 + s * s)).float(), torch.tensor([t])).double()[:, :ch]
                theirs = (xd - s * eps)[0].numpy()
            err = float(np.abs(ours - theirs).max())
            worst = max(worst, err / max(1.0, s))
            print(f"t = {t:3d} (sigma {s:8.4f}): max |D_vmlmap - D_pytorch| = {err:.2e}")
    if not worst <= a.tolerance:
        sys.exit(f"the denoisers differ by {worst:.2e} per unit of max(1, sigma) > {a.tolerance:g}")
    print("ok")


if __name__ == "__main__":
    main()
