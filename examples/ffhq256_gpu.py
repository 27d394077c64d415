#!/usr/bin/env python3
"""VML-MAP and DPS on a 256x256 face with a guided-diffusion FFHQ checkpoint, on the GPU.

Nothing is downloaded: bring the checkpoint (DPS's ``ffhq_10m.pt``) and a face image.

    pip install ./crates/python torch guided-diffusion-sdk
    python examples/ffhq256_gpu.py --checkpoint ffhq_10m.pt --image face.png --device cuda

It restores 4x super-resolution and box inpainting (sigma_y = 0.05) with VML-MAP and DPS
and prints PSNR and seconds per image. The same script runs anywhere, on random weights at
a small size, as a smoke test (what the test suite runs):

    python examples/ffhq256_gpu.py --device cpu --size 64 --random-weights --steps 2
"""

import argparse
import sys
import time

import numpy as np
import torch

import vmlmap
import vmlmap.torch as vt


def psnr(a, b):
    """PSNR in dB of images in [-1, 1] (peak-to-peak 2)."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return 10 * np.log10(4.0 / max(mse, 1e-20))


def test_image(size):
    """A smooth synthetic colour image, when no --image is given."""
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    r = np.sin(3 * xx) * np.cos(2 * yy)
    g = np.cos(4 * xx * yy)
    b = np.sin(2 * (xx + yy))
    return (0.8 * np.stack([r, g, b])).astype(np.float32)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", help="guided-diffusion FFHQ-256 state dict (ffhq_10m.pt)")
    p.add_argument("--image", help="a face image (PNG/JPEG); resized to --size")
    p.add_argument("--device", default="cuda")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--random-weights", action="store_true",
                   help="the FFHQ architecture with random weights (no checkpoint; a smoke test)")
    p.add_argument("--steps", type=int, default=None,
                   help="reverse steps of both solvers (default: each solver's own: VML-MAP 10, DPS 1000)")
    p.add_argument("--sigma-y", type=float, default=0.05)
    a = p.parse_args()

    if a.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("error: --device cuda but torch sees no CUDA device (use --device cpu)")
    if a.random_weights:
        from guided_diffusion.unet import UNetModel

        torch.manual_seed(0)
        net = UNetModel(**{**vt.CONFIGS["adm-ffhq256"], "image_size": a.size, "dropout": 0.0})
        with torch.no_grad():  # guided-diffusion zero-initialises its output layers
            for q in net.parameters():
                q.add_(0.02 * torch.randn_like(q))
        den = vt.TorchDenoiser(net, device=a.device)
    else:
        if not a.checkpoint:
            sys.exit("error: give --checkpoint ffhq_10m.pt (or --random-weights for a smoke test)")
        den = vt.load_guided_diffusion(a.checkpoint, "adm-ffhq256", device=a.device)
        if a.size != 256:
            den.shape = (3, a.size, a.size)
    x = vmlmap.read_image(a.image, (3, a.size, a.size)) if a.image else test_image(a.size)
    print(f"prior {den!r}, image {x.shape}, sigma_y {a.sigma_y}")
    for task in ["sr4", "inpaint-box"]:
        y, meta = vmlmap.degrade(x, task, sigma_y=a.sigma_y, seed=0)
        for solver in ["vml-map", "dps"]:
            t = time.perf_counter()
            x_hat, info = vmlmap.restore(y, meta=meta, solver=solver, model=den, steps=a.steps)
            secs = time.perf_counter() - t
            print(f"{task:12s} {solver:8s} PSNR {psnr(x_hat, x):6.2f} dB  "
                  f"{secs:8.1f} s  ({info['nfe']} NFE, {info['vjp']} VJP)")


if __name__ == "__main__":
    main()
