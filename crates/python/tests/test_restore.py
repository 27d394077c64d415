"""`vmlmap.restore` and `vmlmap.degrade`: the same bytes as the CLI, any Python object as
the prior, exact answers on a Gaussian prior, and errors that name the problem."""

import json
import subprocess
import threading
import time

import numpy as np
import pytest

import vmlmap
from conftest import vmlmap_binary


def clean_image(seed=0):
    """A smooth 1x32x32 test image in [-1, 1]."""
    yy, xx = np.mgrid[0:32, 0:32] / 31.0
    rng = np.random.default_rng(seed)
    a, b, c = rng.uniform(1, 4, 3)
    img = 0.8 * np.sin(a * xx + b * yy) * np.cos(c * yy)
    return img[None].astype(np.float32)


def write_npy(path, x):
    np.save(path, x.astype(np.float32))


# (solver, its CLI flags, restore's keywords): the options of each side say the same.
PARITY = [
    ("vml-map", [], {}),
    ("dps", ["--steps", "40"], {"steps": 40}),
    ("ddrm", [], {}),
]


@pytest.mark.parametrize("solver,flags,kwargs", PARITY, ids=[p[0] for p in PARITY])
@pytest.mark.parametrize("task,sigma_y", [("sr4", 0.05), ("inpaint-box", 1e-9)])
def test_restore_gives_the_bytes_of_the_cli(tmp_path, solver, flags, kwargs, task, sigma_y):
    x = clean_image()
    write_npy(tmp_path / "x.npy", x)
    meas = tmp_path / "y.png"
    out = tmp_path / "x_hat.npy"
    cli = vmlmap_binary()
    subprocess.run(
        [cli, "degrade", "--task", task, "--input", str(tmp_path / "x.npy"), "--output",
         str(meas), "--sigma-y", str(sigma_y), "--seed", "3"],
        check=True, capture_output=True,
    )
    subprocess.run(
        [cli, "restore", "--input", str(tmp_path / "y.json"), "--output", str(out),
         "--solver", solver, "--seed", "7", *flags],
        check=True, capture_output=True,
    )
    from_cli = np.load(out)
    # The Python side degrades on its own: the same measurement bytes first.
    y, meta = vmlmap.degrade(x, task, sigma_y=sigma_y, seed=3)
    y_cli = np.load(tmp_path / "y.npy").reshape(y.shape)
    assert y.dtype == np.float32 and y_cli.dtype == np.float64
    assert np.array_equal(y, y_cli.astype(np.float32))
    y64, _ = vmlmap.degrade(x.astype(np.float64), task, sigma_y=sigma_y, seed=3)
    assert np.array_equal(y64, y_cli)
    side = json.loads((tmp_path / "y.json").read_text())
    assert meta["options"] == side["options"]
    x_hat, info = vmlmap.restore(y_cli, meta=meta, solver=solver, seed=7, **kwargs)
    assert x_hat.dtype == from_cli.dtype == np.float64
    assert np.array_equal(x_hat, from_cli.reshape(x_hat.shape)), np.max(np.abs(x_hat - from_cli))
    assert info["solver"] == solver and info["nfe"] > 0


def test_same_seed_same_output_and_batches_match_single_runs():
    xs = np.stack([clean_image(0), clean_image(1)])
    ys, meta = vmlmap.degrade(xs, "sr2", sigma_y=0.05, seed=1)
    assert ys.shape == (2, 1, 16, 16)
    a, info = vmlmap.restore(ys, meta=meta, solver="ddnm", steps=20, seed=4)
    b, _ = vmlmap.restore(ys, meta=meta, solver="ddnm", steps=20, seed=4)
    assert np.array_equal(a, b)
    assert a.shape == (2, 1, 32, 32) and len(info["residual"]) == 2
    y1, meta1 = vmlmap.degrade(xs[1], "sr2", sigma_y=0.05, seed=2)
    assert np.array_equal(y1, ys[1])  # image b of a batch gets seed + b
    single, _ = vmlmap.restore(ys[1], meta=meta, solver="ddnm", steps=20, seed=4)
    assert np.max(np.abs(single - a[1])) < 1e-5


class GaussianDenoiser:
    """The exact denoiser of N(0, s^2 I), in float64: D = s^2 x / (s^2 + sigma^2)."""

    dtype = "float64"

    def __init__(self, s2=0.25, shape=(1, 32, 32)):
        self.s2 = s2
        self.shape = shape
        self.calls = 0

    def _k(self, sigma):
        return (self.s2 / (self.s2 + sigma**2))[:, None, None, None]

    def denoise(self, x, sigma):
        self.calls += 1
        return self._k(sigma) * x

    def vjp(self, x, sigma, v):
        return self._k(sigma) * x, self._k(sigma) * v


def test_a_python_denoiser_restores_to_the_exact_map():
    x = clean_image().astype(np.float64)
    sigma_y = 0.05
    y, meta = vmlmap.degrade(x, "inpaint-box", sigma_y=sigma_y, seed=0)
    den = GaussianDenoiser()
    x_hat, info = vmlmap.restore(y, meta=meta, model=den, steps=100)
    assert x_hat.dtype == np.float64 and den.calls > 0
    op = vmlmap.Operator("inpaint-box", (1, 32, 32))
    # MAP of N(0, s2 I) with y = H x + sigma_y eta: (H^T H + sigma_y^2 / s2 I)^-1 H^T y.
    exact = op.gram_solve(op.adjoint(y), sigma_y**2 / den.s2)
    err = np.linalg.norm(x_hat - exact) / np.linalg.norm(exact)
    assert err < 5e-4, err
    assert info["model"] == "GaussianDenoiser"


class Wrapped:
    """vmlmap.Model through the Python protocol (linearize path)."""

    def __init__(self, model, dtype):
        self.m = model
        self.shape = model.shape
        self.dtype = dtype

    def denoise(self, x, sigma):
        return self.m.denoise(x, sigma)

    def linearize(self, x, sigma):
        d, _ = self.m.vjp(x, sigma, np.zeros_like(x))
        return d, lambda v: self.m.vjp(x, sigma, v)[1]

    def round_sigma(self, s):
        return self.m.round_sigma(s)


def test_the_bridge_adds_nothing_to_the_numbers():
    """The native model called through the Python protocol in float64 gives the bytes of
    the native model used directly. In float32 (the default transport) the iterate is
    rounded before the network sees it, where the engine keeps `x - sigma * eps` in f64:
    a difference at float32 round-off."""
    y, meta = vmlmap.degrade(clean_image(), "sr4", sigma_y=0.05, seed=0)
    model = vmlmap.load_model("default")
    direct, _ = vmlmap.restore(y, meta=meta, model=model)
    bridged, _ = vmlmap.restore(y, meta=meta, model=Wrapped(model, "float64"))
    assert np.array_equal(direct, bridged)
    rounded, _ = vmlmap.restore(y, meta=meta, model=Wrapped(model, "float32"))
    # Measured: 2.8e-5 on an AVX-512 machine (gemm's AVX-512 microkernels), under 1e-5 on
    # AVX2; VML-MAP's 110 passes amplify the f32 rounding of the iterate.
    assert 0 < np.max(np.abs(direct - rounded)) < 1e-4
    by_name, _ = vmlmap.restore(y, meta=meta, model="default")
    assert np.array_equal(direct, by_name)


def test_the_gil_is_released_while_rust_computes():
    y, meta = vmlmap.degrade(clean_image(), "sr4", sigma_y=0.05)
    ticks = []
    done = threading.Event()

    def count():
        while not done.is_set():
            ticks.append(1)
            time.sleep(0.001)

    t = threading.Thread(target=count)
    t.start()
    start = len(ticks)
    vmlmap.restore(y, meta=meta, solver="dps", steps=60)
    during = len(ticks) - start
    done.set()
    t.join()
    assert during > 10, during


def test_callback_sees_every_step_and_its_exception_stops_the_run():
    y, meta = vmlmap.degrade(clean_image(), "sr4", sigma_y=0.05)
    seen = []
    vmlmap.restore(y, meta=meta, solver="ddnm", steps=7, callback=lambda s, n, sig: seen.append((s, n)))
    assert [s for s, _ in seen] == list(range(7)) and all(n == 7 for _, n in seen)

    def stop(step, total, sigma):
        if step == 2:
            raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        vmlmap.restore(y, meta=meta, solver="ddnm", steps=50, callback=stop)


def test_bad_input_names_the_problem():
    x = clean_image()
    y, meta = vmlmap.degrade(x, "sr4", sigma_y=0.05)
    with pytest.raises(ValueError, match=r"y has shape \(1, 7, 8\)"):
        vmlmap.restore(y[:, 1:], meta=meta)
    bad = y.copy()
    bad[0, 2, 3] = np.nan
    with pytest.raises(ValueError, match="non-finite value"):
        vmlmap.restore(bad, meta=meta)
    with pytest.raises(ValueError, match="unknown task"):
        vmlmap.restore(y, "sr5")
    with pytest.raises(ValueError, match="unknown solver"):
        vmlmap.restore(y, meta=meta, solver="vml")
    with pytest.raises(ValueError, match="unknown option `zeta`"):
        vmlmap.restore(y, meta=meta, zeta=0.3)
    with pytest.raises(ValueError, match="zeta = -1"):
        vmlmap.restore(y, meta=meta, solver="dps", zeta=-1)
    with pytest.raises(ValueError, match="float32 or float64"):
        vmlmap.restore(y.astype(np.int32), meta=meta)
    with pytest.raises(ValueError, match="float32 or float64"):
        vmlmap.restore([[1.0]], "sr4")
    with pytest.raises(ValueError, match="sigma_y"):
        vmlmap.restore(y, meta=meta, sigma_y=0.1)  # contradicts meta
    with pytest.raises(ValueError, match="sigma_y -1"):
        vmlmap.degrade(x, "sr4", sigma_y=-1.0)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        vmlmap.degrade(x * 255, "sr4")
    with pytest.raises(ValueError, match="needs task="):
        vmlmap.restore(y)
    with pytest.raises(TypeError, match="not a denoiser"):
        vmlmap.restore(y, meta=meta, model=object())
    with pytest.raises((OSError, ValueError), match="nope.pt: no such file"):
        vmlmap.restore(y, meta=meta, model="nope.pt")


class Broken(GaussianDenoiser):
    def __init__(self, mode):
        super().__init__()
        self.mode = mode

    def denoise(self, x, sigma):
        d = super().denoise(x, sigma)
        if self.mode == "shape":
            return d[:, :, :-1]
        if self.mode == "nan":
            d[0, 0, 0, 0] = np.nan
            return d
        if self.mode == "raise":
            raise ZeroDivisionError("inside the user's network")
        if self.mode == "type":
            return "not an array"
        return d


@pytest.mark.parametrize(
    "mode,exc,match",
    [
        ("shape", ValueError, r"denoise returned an array of shape \(1, 1, 31, 32\), expected \(1, 1, 32, 32\)"),
        ("nan", ValueError, "the value denoise returned holds a non-finite value \\(NaN\\) at flat index 0"),
        ("raise", ZeroDivisionError, "inside the user's network"),
        ("type", ValueError, "float32 or float64 array, got a str"),
    ],
)
def test_a_broken_denoiser_raises_and_the_interpreter_lives(mode, exc, match):
    y, meta = vmlmap.degrade(clean_image(), "sr4", sigma_y=0.05)
    with pytest.raises(exc, match=match):
        vmlmap.restore(y, meta=meta, model=Broken(mode), solver="ddnm", steps=5)
    # and the interpreter goes on working
    vmlmap.restore(y, meta=meta, model=GaussianDenoiser(), solver="ddnm", steps=5)


def test_pinv_needs_no_model_and_tikhonov_takes_its_option():
    y, meta = vmlmap.degrade(clean_image(), "sr2", sigma_y=0.05)
    x, info = vmlmap.restore(y, meta=meta, solver="pinv")
    assert info["nfe"] == 0 and x.shape == (1, 32, 32)
    x, info = vmlmap.restore(y, meta=meta, solver="tikhonov", **{"lambda": 0.01})
    assert "0.01" in info["settings"]


def test_model_denoise_and_vjp_against_finite_differences():
    m = vmlmap.load_model("default")
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (2, 1, 32, 32))
    sigma = np.array([0.3, 1.0])
    v = rng.standard_normal(x.shape)
    u = rng.standard_normal(x.shape)
    d, g = m.vjp(x, sigma, v)
    assert np.allclose(d, m.denoise(x, sigma))
    h = 1e-2
    fd = (np.vdot(v, m.denoise(x + h * u, sigma)) - np.vdot(v, m.denoise(x - h * u, sigma))) / (2 * h)
    assert abs(np.vdot(g, u) - fd) < 2e-2 * abs(fd), (np.vdot(g, u), fd)
    with pytest.raises(ValueError, match="sigma has 3 values for a batch of 2"):
        m.denoise(x, np.ones(3))
    with pytest.raises(ValueError, match="invalid sigma"):
        m.denoise(x, 0.0)


def test_catalogues():
    names = [s["name"] for s in vmlmap.solvers()]
    assert "vml-map" in names and "dps" in names
    by_name = {s["name"]: s for s in vmlmap.solvers()}
    assert by_name["pinv"]["uses_prior"] is False
    assert by_name["pinv"]["options"] == {}
    # The options come from the solvers' declarations, with kinds, defaults and docs.
    dps = by_name["dps"]
    assert dps["computes"].startswith("posterior sample")
    assert set(dps["options"]) == {"steps", "zeta", "clip"}
    assert dps["options"]["steps"] == {
        "kind": "count",
        "default": "1000",
        "doc": dps["options"]["steps"]["doc"],
    }
    assert dps["options"]["clip"]["kind"] == "true|false"
    assert "sgd|adam" == by_name["vml-map"]["options"]["optimizer"]["kind"]
    tasks = {t["name"]: t for t in vmlmap.tasks()}
    assert "fraction" in tasks["inpaint-random"]["options"]
    assert "restore" in vmlmap.restore.__doc__.lower()


def test_validate_quick_passes():
    out = vmlmap.validate(quick=True)
    assert out["checks"] > 100 and out["failed"] == 0, [r for r in out["records"] if not r["pass"]][:3]
