"""Fashion-MNIST test images as 8-bit grey PNGs, padded 28 -> 32 with a 2-pixel background
border: for each class, the images at positions OFFSET .. OFFSET+PER_CLASS-1 among that
class's images in t10k order. Data: Debian's dataset-fashion-mnist (MIT licence).

The 20 images shipped in assets/fashion-test (two per class, the first two of each class):

    python3 tools/make_fashion_test_images.py /usr/share/datasets/fashion-mnist assets/fashion-test

A larger, disjoint set (10 per class, after the shipped ones) for the model card's
100-image check:

    python3 tools/make_fashion_test_images.py /usr/share/datasets/fashion-mnist OUT --per-class 10 --offset 2
"""
import argparse
import gzip
import os

import numpy as np
from PIL import Image

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("src", help="folder with t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz")
parser.add_argument("out", help="output folder (created; existing files are not overwritten)")
parser.add_argument("--per-class", type=int, default=2)
parser.add_argument("--offset", type=int, default=0)
args = parser.parse_args()

CLASSES = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]
with gzip.open(f"{args.src}/t10k-images-idx3-ubyte.gz") as f:
    images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
with gzip.open(f"{args.src}/t10k-labels-idx1-ubyte.gz") as f:
    labels = np.frombuffer(f.read(), np.uint8, offset=8)
os.makedirs(args.out, exist_ok=True)
k = 0
for c in range(10):
    for idx in np.flatnonzero(labels == c)[args.offset : args.offset + args.per_class]:
        path = f"{args.out}/{k:02d}_{CLASSES[c]}_t10k{idx}.png"
        if os.path.exists(path):
            raise SystemExit(f"{path} exists: not overwriting it")
        img = np.zeros((32, 32), np.uint8)
        img[2:30, 2:30] = images[idx]
        Image.fromarray(img).save(path)
        k += 1
print(f"{k} images in {args.out}")
