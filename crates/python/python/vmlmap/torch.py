"""PyTorch networks as vmlmap priors, on any device.

``TorchDenoiser`` wraps a noise-prediction UNet (guided-diffusion's ``UNetModel``, a
diffusers ``UNet2DModel``) or an EDM-style denoiser as the ``vmlmap.Denoiser`` protocol:
``D(x, sigma)`` in the VE convention, and its vector-Jacobian product by
``torch.autograd``. For a variance-preserving epsilon-predictor trained on the DDPM grid
(T = 1000, linear betas 1e-4 .. 0.02) this is the conversion the native engine uses
(docs/algorithms.md §2)::

    x_vp = x / sqrt(1 + sigma^2)
    t    = the step whose sigma_t is nearest to sigma (in log space)
    eps  = net(x_vp, t)[:, :C]          # learn_sigma networks output 2C channels
    D    = x - sigma * eps

Example (a published guided-diffusion checkpoint on the GPU)::

    import vmlmap, vmlmap.torch
    den = vmlmap.torch.load_guided_diffusion("ffhq_10m.pt", "adm-ffhq256", device="cuda")
    x_hat, info = vmlmap.restore(y, "sr4", model=den, sigma_y=0.05)

The per-step cost over the network itself is one copy of the batch between numpy and
torch each way (docs/performance.md measures it).
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from . import _vmlmap

__all__ = ["TorchDenoiser", "load_guided_diffusion", "CONFIGS"]

#: ``UNetModel`` arguments of the published 256x256 guided-diffusion checkpoints:
#: ``ffhq_10m.pt`` (DPS's FFHQ model) and ``256x256_diffusion_uncond.pt`` (ImageNet).
CONFIGS: Dict[str, Dict[str, Any]] = {
    "adm-ffhq256": dict(
        image_size=256,
        in_channels=3,
        model_channels=128,
        out_channels=6,
        num_res_blocks=1,
        attention_resolutions=(16,),
        channel_mult=(1, 1, 2, 2, 4, 4),
        num_heads=4,
        num_head_channels=64,
        num_heads_upsample=-1,
        use_scale_shift_norm=True,
        resblock_updown=True,
        use_new_attention_order=False,
        conv_resample=True,
    ),
}

CONFIGS["adm-imagenet256-uncond"] = dict(
    CONFIGS["adm-ffhq256"],
    model_channels=256,
    num_res_blocks=2,
    attention_resolutions=(8, 16, 32),
)

_KINDS = ("eps-vp", "x0", "edm")


class TorchDenoiser:
    """A PyTorch module as a vmlmap prior (the ``vmlmap.Denoiser`` protocol).

    Args:
        module: the network. For ``kind="eps-vp"`` and ``"x0"`` it is called as
            ``module(x_vp, t)`` with ``t`` a ``(B,)`` tensor of DDPM steps (a diffusers
            ``UNet2DModel``'s ``.sample`` output is taken); for ``kind="edm"`` as
            ``module(x, sigma)`` returning ``D`` itself.
        device: where the network runs (default: where its parameters are); the module
            is moved there.
        kind: ``"eps-vp"`` (a DDPM / guided-diffusion noise predictor, the default),
            ``"x0"`` (a VP network predicting the clean image), ``"edm"`` (a VE denoiser
            with its own preconditioning, continuous sigma).
        shape: ``(C, H, W)`` of the images (default: ``in_channels`` and
            ``image_size`` of a guided-diffusion or diffusers module).
        dtype: the network's float type (default ``torch.float32``).
    """

    def __init__(
        self,
        module: torch.nn.Module,
        device: Union[str, torch.device, None] = None,
        kind: str = "eps-vp",
        shape: Optional[Sequence[int]] = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if kind not in _KINDS:
            raise ValueError(f"kind={kind!r}: expected one of {', '.join(_KINDS)}")
        if device is None:
            p = next(iter(module.parameters()), None)
            device = p.device if p is not None else "cpu"
        self.device = torch.device(device)
        self.module = module.to(self.device, dtype).eval().requires_grad_(False)
        self.kind = kind
        self.torch_dtype = dtype
        #: vmlmap calls it with float64 arrays (the network itself runs in ``dtype``).
        self.dtype = "float64"
        if shape is None:
            shape = _module_shape(module)
        if shape is None or len(shape) != 3:
            raise ValueError(
                "cannot tell the image shape of this module: give shape=(C, H, W)"
            )
        self.shape: Tuple[int, int, int] = tuple(int(s) for s in shape)  # type: ignore
        self.name = f"torch:{type(module).__name__}"

    def __repr__(self) -> str:
        return f"TorchDenoiser({self.name}, kind={self.kind!r}, shape={self.shape}, device={self.device})"

    # The network as D(x, sigma) on torch tensors. As in the native engine, x, the VP
    # scaling and D = x - sigma * eps are float64; only the network runs in its dtype.
    def _d(self, x: torch.Tensor, sigma: np.ndarray) -> torch.Tensor:
        c = self.shape[0]
        s = torch.as_tensor(sigma, dtype=torch.float64, device=self.device)[:, None, None, None]
        if self.kind == "edm":
            return self.module(x.to(self.torch_dtype), s.flatten().to(self.torch_dtype)).to(torch.float64)
        t = torch.as_tensor(
            _vmlmap.ddpm_timesteps([float(v) for v in sigma]), device=self.device
        )
        x_vp = (x / torch.sqrt(1.0 + s * s)).to(self.torch_dtype)
        out = self.module(x_vp, t)
        out = getattr(out, "sample", out)[:, :c].to(torch.float64)
        if self.kind == "x0":
            return out
        return x - s * out

    def _tensor(self, a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, np.float64)).to(self.device)

    @staticmethod
    def _numpy(t: torch.Tensor) -> np.ndarray:
        return t.detach().to("cpu").numpy()

    def denoise(self, x: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        """``D(x, sigma)`` for a batch ``(B, C, H, W)`` and ``B`` noise levels."""
        with torch.no_grad():
            return self._numpy(self._d(self._tensor(x), np.asarray(sigma, np.float64)))

    def linearize(
        self, x: np.ndarray, sigma: np.ndarray
    ) -> Tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
        """``(D(x, sigma), f)`` with ``f(v) = J(x)^T v``, the backward pass of this forward."""
        with torch.enable_grad():
            xt = self._tensor(x).requires_grad_(True)
            d = self._d(xt, np.asarray(sigma, np.float64))
        out = self._numpy(d)

        def vjp(v: np.ndarray) -> np.ndarray:
            with torch.enable_grad():
                (g,) = torch.autograd.grad(d, xt, self._tensor(v))
            return self._numpy(g)

        return out, vjp

    def vjp(
        self, x: np.ndarray, sigma: np.ndarray, v: np.ndarray
    ) -> Tuple[np.ndarray, np.ndarray]:
        """``(D(x, sigma), J(x)^T v)``."""
        d, f = self.linearize(x, sigma)
        return d, f(v)

    def round_sigma(self, sigma: float) -> float:
        """The DDPM grid's noise level nearest to ``sigma`` (``edm``: ``sigma`` itself)."""
        if self.kind == "edm":
            return float(sigma)
        return _vmlmap.ddpm_round_sigma(float(sigma))


def _module_shape(module: Any) -> Optional[Tuple[int, int, int]]:
    cfg = getattr(module, "config", None)  # diffusers
    if cfg is not None and hasattr(cfg, "in_channels") and hasattr(cfg, "sample_size"):
        size = cfg.sample_size
        size = size if isinstance(size, int) else size[0]
        return (int(cfg.in_channels), int(size), int(size))
    if hasattr(module, "in_channels") and hasattr(module, "image_size"):
        return (int(module.in_channels), int(module.image_size), int(module.image_size))
    return None


def _state_dict(path: str) -> Dict[str, torch.Tensor]:
    low = path.lower()
    if low.endswith(".safetensors"):
        return {k: torch.from_numpy(v) for k, v in _vmlmap.read_checkpoint(path).items()}
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds a {type(state).__name__}, not a state dict")
    return state


def load_guided_diffusion(
    path: str,
    config: Union[str, Dict[str, Any], None] = None,
    device: Union[str, torch.device] = "cpu",
    dtype: torch.dtype = torch.float32,
) -> TorchDenoiser:
    """A guided-diffusion ``UNetModel`` with its weights, as a ``TorchDenoiser``.

    Needs the ``guided_diffusion`` package (``pip install guided-diffusion-sdk``).

    Args:
        path: a ``.pt``/``.pth`` state dict (``torch.load`` with ``weights_only=True``) or
            a ``.safetensors`` file; ``"default"`` is vmlmap's embedded prior.
        config: the ``UNetModel`` keyword arguments: a dict, a JSON file, a name in
            ``CONFIGS`` (``"adm-ffhq256"``, ``"adm-imagenet256-uncond"``), or ``None``
            for the ``NAME.json`` beside ``path``.
        device: where the network runs (``"cuda"``, ``"cpu"``, ...).
        dtype: the network's float type.
    """
    from guided_diffusion.unet import UNetModel

    if path == "default":
        arrays, cfg = _vmlmap.default_weights()
        state = {k: torch.from_numpy(v) for k, v in arrays.items()}
        if config is None:
            config = cfg
    else:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no checkpoint file {path}")
        state = _state_dict(path)
    if config is None:
        beside = os.path.splitext(path)[0] + ".json"
        if not os.path.isfile(beside):
            raise ValueError(
                f"no config for {path}: give config= (a dict, a JSON file or one of {', '.join(CONFIGS)}) or write {beside}"
            )
        config = beside
    if isinstance(config, str):
        if config in CONFIGS:
            config = CONFIGS[config]
        else:
            with open(config) as f:
                config = json.load(f)
    args = {k: v for k, v in dict(config).items() if k not in ("timestep", "dtype")}
    args.setdefault("dropout", 0.0)
    args["attention_resolutions"] = tuple(args.get("attention_resolutions", ()))
    args["channel_mult"] = tuple(args.get("channel_mult", ()))
    net = UNetModel(**args)
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{path} does not fit UNetModel({args}): missing {list(missing)[:5]}, unexpected {list(unexpected)[:5]}"
        )
    return TorchDenoiser(net, device=device, kind="eps-vp", dtype=dtype)
