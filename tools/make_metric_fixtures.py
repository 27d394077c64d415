"""Reference PSNR and SSIM from scikit-image for crates/metrics/tests/skimage.rs.

    pip install scikit-image numpy
    python3 tools/make_metric_fixtures.py > tests/fixtures/metrics.json
"""
import json

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

rng = np.random.default_rng(0)
cases = []
for c, h, w in [(1, 32, 32), (3, 24, 17), (1, 11, 11)]:
    yy, xx = np.mgrid[0:h, 0:w]
    a = np.stack([np.sin(xx / 3.0 + k) * np.cos(yy / 5.0) for k in range(c)]) * 0.8
    b = np.clip(a + 0.2 * rng.standard_normal(a.shape), -1, 1)
    a01, b01 = (a + 1) / 2, (b + 1) / 2
    ssim = structural_similarity(a01, b01, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, channel_axis=0)
    psnr = peak_signal_noise_ratio(a01, b01, data_range=1.0)
    cases.append({"shape": [c, h, w], "a": a.ravel().tolist(), "b": b.ravel().tolist(), "psnr": psnr, "ssim": ssim})
print(json.dumps({"cases": cases}))
