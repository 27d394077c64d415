"""`vmlmap.torch`: the shipped prior loaded into guided-diffusion's `UNetModel` in PyTorch
computes what the native engine computes (the proof that the GPU path is the same
computation), and the example script runs on the CPU."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest

import vmlmap

torch = pytest.importorskip("torch", reason="torch is not installed (pip install torch)")
pytest.importorskip(
    "guided_diffusion", reason="guided_diffusion is not installed (pip install guided-diffusion-sdk)"
)
import vmlmap.torch as vt  # noqa: E402

from test_restore import clean_image  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def torch_prior():
    torch.set_num_threads(2)
    return vt.load_guided_diffusion("default", device="cpu")


def test_denoiser_and_vjp_match_the_native_engine(torch_prior):
    native = vmlmap.load_model("default")
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (3, 1, 32, 32)).astype(np.float32)
    sigma = np.array([0.05, 0.7, 20.0])
    v = rng.standard_normal(x.shape).astype(np.float32)
    d_t, g_t = torch_prior.vjp(x, sigma, v)
    d_n, g_n = native.vjp(x, sigma, v)
    assert np.max(np.abs(d_t - d_n)) < 1e-4 * max(1.0, np.max(np.abs(d_n)))
    assert np.max(np.abs(g_t - g_n)) < 1e-4 * max(1.0, np.max(np.abs(g_n)))
    assert torch_prior.round_sigma(0.3) == native.round_sigma(0.3)


@pytest.mark.parametrize("task", ["sr4", "inpaint-random"])
def test_vml_map_with_torch_restores_what_the_native_engine_restores(torch_prior, task):
    y, meta = vmlmap.degrade(clean_image(), task, sigma_y=0.05, seed=0)
    native, _ = vmlmap.restore(y, meta=meta, model="default")
    through_torch, info = vmlmap.restore(y, meta=meta, model=torch_prior)
    diff = float(np.max(np.abs(native - through_torch)))
    print(f"{task}: max |torch - native| = {diff:.2e}")
    assert diff < 1e-4, diff
    assert info["model"].startswith("torch:")


@pytest.mark.parametrize("task", ["inpaint-box", "deblur-gaussian"])
def test_where_vml_map_amplifies_round_off_torch_stays_within_the_engines_own_spread(torch_prior, task):
    """On box inpainting and noisy deblurring VML-MAP at its defaults amplifies float32
    round-off: the native engine itself, given its inputs rounded to float32 (a relative
    change below 6e-8), moves by 1e-2..5e-2. Torch must differ from the native engine by
    no more than twice that spread."""
    y, meta = vmlmap.degrade(clean_image(), task, sigma_y=0.05, seed=0)
    model = vmlmap.load_model("default")
    native, _ = vmlmap.restore(y, meta=meta, model=model)
    from test_restore import Wrapped

    rounded, _ = vmlmap.restore(y, meta=meta, model=Wrapped(model, "float32"))
    spread = float(np.max(np.abs(native - rounded)))
    through_torch, _ = vmlmap.restore(y, meta=meta, model=torch_prior)
    diff = float(np.max(np.abs(native - through_torch)))
    print(f"{task}: engine's own spread {spread:.2e}, max |torch - native| = {diff:.2e}")
    assert spread > 1e-3
    assert diff <= 2 * spread, (diff, spread)


def test_the_vjp_runs_under_no_grad_and_frees_its_graph(torch_prior):
    x = np.zeros((1, 1, 32, 32), np.float32)
    with torch.no_grad():
        d, f = torch_prior.linearize(x, np.array([0.5]))
        g = f(np.ones_like(x))
    assert np.isfinite(g).all() and np.abs(g).sum() > 0


def test_a_state_dict_of_another_architecture_is_refused(tmp_path):
    torch.save({"nonsense.weight": torch.zeros(3)}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="does not fit UNetModel"):
        vt.load_guided_diffusion(str(tmp_path / "bad.pt"), "adm-ffhq256")
    with pytest.raises(ValueError, match="no config"):
        vt.load_guided_diffusion(str(tmp_path / "bad.pt"))
    with pytest.raises(ValueError, match="kind="):
        vt.TorchDenoiser(torch.nn.Conv2d(1, 1, 3), kind="v", shape=(1, 8, 8))


def test_the_example_runs_on_the_cpu():
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "ffhq256_gpu.py"), "--device", "cpu",
         "--size", "64", "--random-weights", "--steps", "2"],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr
    assert "PSNR" in out.stdout and "vml-map" in out.stdout and "dps" in out.stdout
