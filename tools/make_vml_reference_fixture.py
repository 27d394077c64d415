"""Fixture for crates/bench/tests/reference_crosscheck.rs: the numpy reference of VML-MAP
on exact 64-dimensional Gaussian priors (shared/reference/vml_map_gaussian.py), evaluated
on fixed inputs so that the Rust implementation can be compared number for number.

    python3 tools/make_vml_reference_fixture.py ../shared/reference > tests/fixtures/vml_reference.json

Saves, for each prior (iso, smooth) x operator (inpaint, sr4, blur) x sigma_y (1e-9, 0.05):
the measurement y, the exact MAP, the preconditioned and plain step directions at a fixed x
and sigma = 0.5, the initial noise of a run and the output of the full run (N = 20, K = 5).
"""
import json
import sys

import numpy as np

sys.path.insert(0, sys.argv[1] if len(sys.argv) > 1 else "../shared/reference")
import vml_map_gaussian as ref  # noqa: E402

cases = []
for pk in ["iso", "smooth"]:
    for ok in ["inpaint", "sr4", "blur"]:
        for sy in [1e-9, 0.05]:
            p = ref.Problem(ref.prior_cov(pk), ref.operator(ok), sy, seed=0)
            x = np.random.default_rng(1).standard_normal(ref.N_DIM)
            A = p.denoiser_jacobian(0.5)
            eps = np.random.default_rng(0).standard_normal(ref.N_DIM)
            cases.append({
                "prior": pk, "operator": ok, "sigma_y": sy,
                "y": p.y.tolist(), "map": p.map.tolist(), "x": x.tolist(),
                "dir_pre": p.step_direction(x, A, 0.5, True).tolist(),
                "dir_plain": p.step_direction(x, A, 0.5, False).tolist(),
                "init_noise": eps.tolist(),
                "run_n20_k5": ref.vml_map(p, 20, 5).tolist(),
            })
json.dump({"n_dim": ref.N_DIM, "cases": cases}, sys.stdout)
