"""vmlmap: image restoration with diffusion priors, from numpy.

VML-MAP (Gutha, Vinuesa, Azizpour, "Mode-seeking for inverse problems with diffusion
models", arXiv 2512.10524) and the baselines it is compared with (DPS, PiGDM, DDRM, DDNM,
DiffPIR, DAPS, RED-diff, Tikhonov, the pseudo-inverse), on one set of measurement
operators, computed by the vmlmap Rust library.

Conventions (the same as the command-line tool):

* images are ``(C, H, W)`` arrays, or ``(B, C, H, W)`` batches, of ``float32`` or
  ``float64`` values in ``[-1, 1]``; results come back in the input's dtype;
* the measurement is ``y = H x + sigma_y * eta`` with ``sigma_y`` in the same ``[-1, 1]``
  units (``sigma_y = 1e-9``: noise-free; ``0.05``: the usual noisy setting);
* a denoiser is ``D(x, sigma) ~= E[x0 | x]`` for ``x = x0 + sigma * eps`` (the
  variance-exploding convention; ``vmlmap.torch.TorchDenoiser`` converts a DDPM /
  guided-diffusion noise predictor).

Quick start::

    import numpy as np, vmlmap
    x = np.zeros((1, 32, 32), np.float32)            # a clean image in [-1, 1]
    y, meta = vmlmap.degrade(x, "sr4", sigma_y=0.05, seed=0)
    x_hat, info = vmlmap.restore(y, meta=meta)        # VML-MAP, embedded prior
    print(info["nfe"], info["seconds"])

Bad input raises ``ValueError`` naming the problem; Ctrl-C raises ``KeyboardInterrupt``
and stops the computation.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _vmlmap
from ._vmlmap import Model, Operator

__version__: str = _vmlmap.__version__

__all__ = [
    "degrade",
    "restore",
    "load_model",
    "validate",
    "tasks",
    "solvers",
    "Operator",
    "Model",
    "Denoiser",
    "read_image",
]

try:  # typing.Protocol is 3.8+
    from typing import Protocol, runtime_checkable

    @runtime_checkable
    class Denoiser(Protocol):
        """The protocol of a prior that ``restore(model=...)`` accepts.

        Batches are ``(B, C, H, W)`` numpy arrays (``float32``, or ``float64`` if the
        object has ``dtype = "float64"``); ``sigma`` is a ``float64`` array of ``B`` noise
        levels, one per image, in the VE convention.

        * ``denoise(x, sigma) -> D``;
        * ``vjp(x, sigma, v) -> (D, J^T v)``, the vector-Jacobian product of ``D`` at
          ``x``; or ``linearize(x, sigma) -> (D, f)`` with ``f(v) -> J^T v`` the backward
          pass of that same forward (one forward pass instead of two: preferred);
        * optional ``round_sigma(sigma: float) -> float`` (the noise levels a
          discrete-time network was trained on), ``shape = (C, H, W)`` and ``name``.
        """

        def denoise(self, x: np.ndarray, sigma: np.ndarray) -> np.ndarray: ...

        def vjp(
            self, x: np.ndarray, sigma: np.ndarray, v: np.ndarray
        ) -> Tuple[np.ndarray, np.ndarray]: ...

except ImportError:  # pragma: no cover
    Denoiser = Any  # type: ignore


def degrade(
    x: np.ndarray,
    task: str,
    *,
    sigma_y: float = 1e-9,
    seed: int = 0,
    **task_opts: Any,
) -> Tuple[np.ndarray, Dict[str, Any]]:
    """Measure clean images: ``y = H x + sigma_y * eta``.

    Args:
        x: an image ``(C, H, W)`` or a batch ``(B, C, H, W)``, ``float32``/``float64``
            in ``[-1, 1]``.
        task: the operator, one of ``[t["name"] for t in vmlmap.tasks()]`` (``sr4``,
            ``inpaint-box``, ``deblur-gaussian``, ``cs``, ...).
        sigma_y: measurement noise in ``[-1, 1]`` units (default ``1e-9``, noise-free).
        seed: seed of the noise ``eta``; image ``b`` of a batch gets ``seed + b``. The
            same seed gives the same noise as ``vmlmap degrade --seed``.
        **task_opts: the task's options (``vmlmap.tasks()`` lists them), e.g.
            ``fraction=0.5`` for ``inpaint-random``.

    Returns:
        ``(y, meta)``: ``y`` of shape ``meta["output_shape"]`` (with the batch axis in
        front for a batch), in ``x``'s dtype; ``meta`` holds the task, its options
        written out, ``sigma_y``, ``seed`` and the shapes: pass it to
        ``restore(y, meta=meta)``.
    """
    return _vmlmap.degrade(x, task, sigma_y=sigma_y, seed=seed, **task_opts)


def restore(
    y: np.ndarray,
    task: Optional[str] = None,
    *,
    solver: str = "vml-map",
    model: Union[str, "Model", Denoiser, None] = "default",
    sigma_y: Optional[float] = None,
    seed: int = 0,
    steps: Optional[int] = None,
    shape: Optional[Sequence[int]] = None,
    task_opts: Optional[Mapping[str, Any]] = None,
    meta: Optional[Mapping[str, Any]] = None,
    batch: Optional[int] = None,
    callback: Optional[Callable[[int, int, float], Any]] = None,
    **solver_opts: Any,
) -> Tuple[np.ndarray, Dict[str, Any]]:
    """Restore images from their measurements.

    Args:
        y: one measurement, or a batch with a leading axis: an image ``(C', H', W')``
            for the tasks whose measurement is an image (super-resolution, deblurring,
            colourisation, denoising), else a vector ``(m,)`` (inpainting's observed
            values, compressed sensing). For inpainting the full image ``(C, H, W)`` is
            accepted too (its observed pixels are taken).
        task: the operator's task (see ``vmlmap.tasks()``); or give ``meta``.
        solver: ``vml-map`` (default), ``vml-map-plain``, ``pinv``, ``tikhonov``,
            ``ddnm``, ``ddrm``, ``diffpir``, ``pigdm``, ``dps``, ``daps``, ``red-diff``
            (``vmlmap.solvers()`` lists them with their options).
        model: the prior: ``"default"`` (the embedded Fashion-MNIST prior, 1x32x32), a
            checkpoint path or preset name, a ``vmlmap.Model``, or any object with the
            ``vmlmap.Denoiser`` protocol (``vmlmap.torch.TorchDenoiser`` wraps a PyTorch
            module on any device). Not used by ``pinv`` and ``tikhonov``.
        sigma_y: measurement noise in ``[-1, 1]`` units (default ``1e-9``, noise-free).
        seed: seed of the solver's randomness (each image of a batch gets this seed, so a
            batch gives what single runs give).
        steps: reverse steps N (default: the solver's own; VML-MAP 10).
        shape: ``(C, H, W)`` of the images, when the model does not say.
        task_opts: the task's options (as ``degrade`` took them).
        meta: the ``meta`` dict ``degrade`` returned: task, options, ``sigma_y`` and
            shape in one (explicit arguments must agree with it).
        batch: images solved together per network call (default: what fits in memory,
            at most 16).
        callback: ``callback(step, total, sigma)`` after each reverse step (a progress
            bar); an exception in it stops the run and is raised.
        **solver_opts: the solver's hyperparameters, e.g. ``inner=5``, ``lr=1.5``,
            ``zeta=0.5`` (unknown keys raise ``ValueError`` listing the solver's keys).

    Returns:
        ``(x, info)``: ``x`` of shape ``(C, H, W)`` (or ``(B, C, H, W)``) in ``y``'s
        dtype; ``info`` holds ``nfe`` and ``vjp`` (network passes per image),
        ``seconds``, the ``residual`` ``|H x - y| / |y|``, the solver's resolved
        ``settings``, the model, task, options, ``sigma_y``, ``seed`` and ``batch``.

    Example::

        y, meta = vmlmap.degrade(x, "inpaint-box", sigma_y=0.05)
        x_hat, info = vmlmap.restore(y, meta=meta, solver="dps", steps=100)
    """
    if isinstance(model, str) or model is None:
        model_arg: Any = model or "default"
    else:
        model_arg = model
    return _vmlmap.restore(
        y,
        task,
        solver=solver,
        model=model_arg,
        sigma_y=sigma_y,
        seed=seed,
        steps=steps,
        shape=None if shape is None else [int(s) for s in shape],
        task_opts=None if task_opts is None else dict(task_opts),
        meta=None if meta is None else dict(meta),
        batch=batch,
        callback=callback,
        **solver_opts,
    )


def load_model(path_or_name: str = "default", size: Optional[int] = None) -> Model:
    """Load a diffusion prior on vmlmap's native CPU engine.

    Args:
        path_or_name: ``"default"`` (the embedded prior), a guided-diffusion checkpoint
            (``.pt``, ``.pth``, ``.safetensors``, with ``NAME.json`` holding its
            ``UNetModel`` arguments beside it, or a recognisable published one), a
            diffusers ``UNet2DModel`` folder, or a preset (random weights).
        size: image size for a fully convolutional guided-diffusion network.

    Returns:
        a ``vmlmap.Model`` with ``denoise(x, sigma)``, ``vjp(x, sigma, v)``,
        ``round_sigma``, ``shape`` and ``info``; pass it as ``restore(model=...)``.
    """
    return _vmlmap.load_model(str(path_or_name), size)


def validate(quick: bool = True) -> Dict[str, Any]:
    """Check every solver and operator against exact answers on analytic priors.

    The checks of ``vmlmap validate`` (``--quick`` when ``quick``: about a minute on two
    cores; the full run about five). Returns ``{"checks", "passed", "failed",
    "records"}``, one record per check.
    """
    return _vmlmap.validate(quick)


def tasks() -> list:
    """The tasks (measurement operators): ``[{"name", "options": {key: doc}}]``."""
    return _vmlmap.tasks()


def solvers() -> list:
    """The solvers, from their declarations: ``[{"name", "summary", "computes",
    "uses_prior", "options": {key: {"kind", "default", "doc"}}}]``.

    ``kind`` is ``count``, ``number``, ``true|false`` or the choices (``sgd|adam``);
    ``default`` is ``auto`` where the solver chooses per problem. Each option is a
    keyword of :func:`restore`, e.g. ``restore(y, meta=meta, solver="dps", zeta=0.5)``.
    """
    return _vmlmap.solvers()


def read_image(path: str, shape: Optional[Sequence[int]] = None) -> np.ndarray:
    """Read a PNG or JPEG as a ``float32`` array ``(C, H, W)`` in ``[-1, 1]``.

    With ``shape = (C, H, W)`` the image is resized and converted to those channels.
    """
    return _vmlmap.read_image(path, None if shape is None else [int(s) for s in shape])
