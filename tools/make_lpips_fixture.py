"""LPIPS golden values from the public `lpips` package (0.1.4) for vmlmap's LPIPS.

No registry reachable here ships torchvision's ImageNet backbones, so the backbone is a
deterministic stand-in that Rust rebuilds bit for bit (`vmlmap_models::lpips::hashed_
backbone`): value i of the tensor of torchvision `features.{j}` is
((i + seed) * 2654435761 mod 2^32 / 2^32 - 0.5) * scale, seed 1000 j for weights (scale: the
power of two nearest 1/sqrt(fan_in)) and 1000 j + 7 for biases (scale 1/64). The linear
layers are the package's own v0.1 weights (copied to tests/fixtures/lpips/*.pth, and
converted to assets/lpips/*.safetensors, which the binary embeds).

Writes tests/fixtures/lpips/lpips_reference.json: image pairs (values in [-1, 1]) and the
package's distances for the AlexNet and VGG-16 variants.

    pip install lpips==0.1.4 torch torchvision scipy tqdm safetensors
    python3 tools/make_lpips_fixture.py
"""

import json
import os
import shutil

import numpy as np
import torch
import lpips
from safetensors.torch import save_file

ROOT = os.path.join(os.path.dirname(__file__), "..")
OUT = os.path.join(ROOT, "tests", "fixtures", "lpips")
ASSETS = os.path.join(ROOT, "assets", "lpips")


def hashed(n, seed, scale):
    i = np.arange(n, dtype=np.uint64) + np.uint64(seed)
    h = (i * np.uint64(2654435761)) % np.uint64(1 << 32)
    return ((h.astype(np.float64) / 4294967296.0 - 0.5) * scale).astype(np.float32)


def backbone(model):
    """Fills model.net (slices of torchvision features) with the hashed weights."""
    sd = model.net.state_dict()
    new = {}
    for key, t in sd.items():
        _, idx, kind = key.split(".")
        j = int(idx)
        if kind == "weight":
            fan = t.shape[1] * t.shape[2] * t.shape[3]
            scale = 2.0 ** (-round(np.log2(np.sqrt(fan))))
            new[key] = torch.from_numpy(hashed(t.numel(), 1000 * j, scale).reshape(t.shape))
        else:
            new[key] = torch.from_numpy(hashed(t.numel(), 1000 * j + 7, 1.0 / 64.0))
    model.net.load_state_dict(new)


def pairs():
    rng = np.random.default_rng(0)
    out = []
    # Grey 32x32 (the embedded prior's images): a smooth blob and a noisy copy, values on
    # the 8-bit grid.
    yy, xx = np.mgrid[0:32, 0:32]
    blob = np.exp(-((yy - 14) ** 2 + (xx - 17) ** 2) / 60.0)
    a = np.round(blob * 255) / 255 * 2 - 1
    b = np.clip(a + rng.normal(0, 0.2, a.shape), -1, 1)
    out.append(("grey32", [1, 32, 32], a[None], b[None]))
    # A second grey pair: a shifted copy.
    c = np.roll(a, 3, axis=1)
    out.append(("grey32_shift", [1, 32, 32], a[None], c[None]))
    # RGB 40x40 (rounded to 4 decimals to keep the file small; both sides read the same
    # decimal values).
    a3 = np.round(np.tanh(rng.normal(0, 1, (3, 40, 40))), 4)
    b3 = np.round(np.clip(a3 + rng.normal(0, 0.1, a3.shape), -1, 1), 4)
    out.append(("rgb40", [3, 40, 40], a3, b3))
    b = np.round(b, 4)
    out[0] = ("grey32", [1, 32, 32], a[None], b[None])
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(ASSETS, exist_ok=True)
    pkg = os.path.join(os.path.dirname(lpips.__file__), "weights", "v0.1")
    result = {"lpips_version": "0.1.4", "torch": torch.__version__, "pairs": []}
    ps = pairs()
    for name, shape, a, b in ps:
        result["pairs"].append({"name": name, "shape": shape, "a": a.ravel().tolist(), "b": b.ravel().tolist()})
    for net in ["alex", "vgg"]:
        shutil.copy(os.path.join(pkg, f"{net}.pth"), os.path.join(OUT, f"{net}.pth"))
        lin = torch.load(os.path.join(pkg, f"{net}.pth"), map_location="cpu")
        dst = os.path.join(ASSETS, f"{net}.safetensors")
        save_file({k: v.contiguous() for k, v in lin.items()}, dst)
        os.chmod(dst, 0o644)
        model = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False).eval()
        backbone(model)
        for entry, (_, shape, a, b) in zip(result["pairs"], ps):
            ta = torch.tensor(a, dtype=torch.float64).float()[None]
            tb = torch.tensor(b, dtype=torch.float64).float()[None]
            if shape[0] == 1:
                ta, tb = ta.repeat(1, 3, 1, 1), tb.repeat(1, 3, 1, 1)
            with torch.no_grad():
                d = model(ta, tb).item()
            entry[net] = d
            print(net, entry["name"], d)
    with open(os.path.join(OUT, "lpips_reference.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
