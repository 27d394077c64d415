"""Golden fixtures for the Rust guided-diffusion UNet (crates/models/tests/adm_golden.rs).

Builds tiny random-weight configurations of the public guided-diffusion `UNetModel`
(PyPI package `guided-diffusion-sdk`, openai/guided-diffusion's unet.py) and saves, per
configuration: the state dict (.safetensors, and one also by `torch.save` as .pt), a fixed
input, timestep, the output, a fixed cotangent and the input VJP.

    pip install torch safetensors guided-diffusion-sdk
    python3 tools/make_adm_fixtures.py tests/fixtures/adm

With `--ffhq OUT.pt` it also writes a random-weight `adm-ffhq256` state dict by `torch.save`
(too large to commit; used by `vmlmap models inspect` / `vmlmap denoise` checks) and its
input/output pair next to it.
"""
import json
import sys

import torch
from safetensors.torch import save_file
from guided_diffusion.unet import UNetModel

CONFIGS = {
    # scale-shift norm, res-block up/down, legacy attention, head channels
    "tiny_a": dict(image_size=16, in_channels=3, model_channels=32, out_channels=6, num_res_blocks=1,
                   attention_resolutions=(2,), channel_mult=(1, 1), num_head_channels=16,
                   use_scale_shift_norm=True, resblock_updown=True, use_new_attention_order=False, num_heads=4),
    # plain norm, conv up/down, new attention order, fixed head count, three levels, grey
    "tiny_b": dict(image_size=16, in_channels=1, model_channels=32, out_channels=1, num_res_blocks=2,
                   attention_resolutions=(4,), channel_mult=(1, 1, 1), num_head_channels=-1, num_heads=2,
                   use_scale_shift_norm=False, resblock_updown=False, use_new_attention_order=True),
}


def randomise(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            fan = p[0].numel() if p.dim() > 1 else 1
            p.copy_(torch.randn(p.shape, generator=g) * (0.5 / fan ** 0.5 if p.dim() > 1 else 0.1))


def case(name, cfg, out_dir, seed, save_pt, half):
    torch.manual_seed(seed)
    model = UNetModel(dropout=0.0, **cfg).eval()
    randomise(model, seed)
    if half:
        # Stored in f16: the reference runs the f16-rounded weights in f32.
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.half().float())
    sd = {k: (v.half() if half else v).contiguous() for k, v in model.state_dict().items()}
    save_file(sd, f"{out_dir}/{name}.safetensors")
    if save_pt:
        torch.save(sd, f"{out_dir}/{name}.pt")
    if half:
        # The same weights in the legacy (pre-1.6, non-zip) torch.save format.
        torch.save(sd, f"{out_dir}/{name}_legacy.pt", _use_new_zipfile_serialization=False)
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(1, cfg["in_channels"], cfg["image_size"], cfg["image_size"], generator=g, requires_grad=True)
    t = torch.tensor([417.0])
    out = model(x, t)
    v = torch.randn(out.shape, generator=g)
    (out * v).sum().backward()
    save_file({"x": x.detach(), "out": out.detach(), "v": v, "vjp": x.grad}, f"{out_dir}/{name}_io.safetensors")
    meta = {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}
    meta["timestep"] = 417.0
    meta["dtype"] = "f16" if half else "f32"
    json.dump(meta, open(f"{out_dir}/{name}.json", "w"), indent=1)


if __name__ == "__main__":
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/adm"
    if "--ffhq" in sys.argv:
        path = sys.argv[sys.argv.index("--ffhq") + 1]
        cfg = dict(image_size=256, in_channels=3, model_channels=128, out_channels=6, num_res_blocks=1,
                   attention_resolutions=(16,), channel_mult=(1, 1, 2, 2, 4, 4), num_head_channels=64, num_heads=4,
                   use_scale_shift_norm=True, resblock_updown=True, use_new_attention_order=False)
        model = UNetModel(dropout=0.0, **cfg).eval()
        randomise(model, 7)
        torch.save(model.state_dict(), path)
        # D(x, sigma) = x - sigma * eps(x / sqrt(1 + sigma^2), t) at sigma = sigma_500.
        import numpy as np
        betas = np.linspace(1e-4, 0.02, 1000, dtype=np.float64)
        abar = np.cumprod(1 - betas)
        sigma = float(np.sqrt((1 - abar[500]) / abar[500]))
        g = torch.Generator().manual_seed(8)
        x = torch.randn(1, 3, 256, 256, generator=g)
        with torch.no_grad():
            eps = model(x / (1 + sigma ** 2) ** 0.5, torch.tensor([500.0]))[:, :3]
        d = x - sigma * eps
        np.save(path + ".x.npy", x[0].numpy().astype(np.float32))
        np.save(path + ".D.npy", d[0].numpy().astype(np.float32))
        print("sigma", repr(sigma))
        print("tensors", len(model.state_dict()), "parameters", sum(p.numel() for p in model.parameters()))
    else:
        for i, (name, cfg) in enumerate(CONFIGS.items()):
            case(name, cfg, out_dir, 10 + i, save_pt=(name == "tiny_a"), half=(name == "tiny_b"))
