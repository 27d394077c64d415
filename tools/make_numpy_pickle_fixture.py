"""Pickles of nested dicts of numpy arrays, as flax/JAX projects save weights, for
vmlmap's numpy-pickle reader (crates/models/src/metric_weights/pickle.rs).

Writes tests/fixtures/numpy_pickle/nested_p{2,3,4}.pkl (CPython's pickle, protocols 2-4).

    pip install numpy
    python3 tools/make_numpy_pickle_fixture.py
"""
import os
import pickle

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "numpy_pickle")


def main():
    os.makedirs(OUT, exist_ok=True)
    tree = {
        "Net_0": {
            "Conv_0": {
                "kernel": (np.arange(120, dtype=np.float32) * 0.25 - 7.0).reshape(2, 3, 4, 5),
                "bias": np.array([1.5, -2.0, 3.25, 0.0, 1e-3], dtype=np.float32),
            }
        },
        "head": {
            "w64": np.array([0.1, -1e-12], dtype=np.float64),
            "w_half": np.array([0.5, -2.0, 65504.0], dtype=np.float16),
        },
    }
    for proto in (2, 3, 4):
        with open(os.path.join(OUT, f"nested_p{proto}.pkl"), "wb") as f:
            pickle.dump(tree, f, protocol=proto)


if __name__ == "__main__":
    main()
