"""The 20 Fashion-MNIST test images shipped in assets/fashion-test (two per class: the
first two of each class in t10k order), padded 28 -> 32 with a 2-pixel background border,
as 8-bit grey PNGs. Data: Debian's dataset-fashion-mnist (MIT licence).

    python3 tools/make_fashion_test_images.py /usr/share/datasets/fashion-mnist assets/fashion-test
"""
import gzip
import sys

import numpy as np
from PIL import Image

src, out = sys.argv[1], sys.argv[2]
CLASSES = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]
with gzip.open(f"{src}/t10k-images-idx3-ubyte.gz") as f:
    images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
with gzip.open(f"{src}/t10k-labels-idx1-ubyte.gz") as f:
    labels = np.frombuffer(f.read(), np.uint8, offset=8)
k = 0
for c in range(10):
    for idx in np.flatnonzero(labels == c)[:2]:
        img = np.zeros((32, 32), np.uint8)
        img[2:30, 2:30] = images[idx]
        Image.fromarray(img).save(f"{out}/{k:02d}_{CLASSES[c]}_t10k{idx}.png")
        k += 1
