"""Golden fixtures for the Rust diffusers `UNet2DModel` (crates/models/tests/ddpm_golden.rs).

Tiny random-weight `diffusers.UNet2DModel` configurations saved as diffusers folders
(`config.json` + `diffusion_pytorch_model.safetensors`), one of them with the legacy
attention key names of the google/ddpm-* checkpoints (`query`/`key`/`value`/`proj_attn`),
with a fixed input, timestep, output, cotangent and input VJP.

    pip install torch safetensors diffusers
    python3 tools/make_ddpm_fixtures.py tests/fixtures/ddpm
"""
import json
import os
import sys

import torch
from diffusers import UNet2DModel
from safetensors.torch import save_file

CONFIGS = {
    "tiny_ddpm": dict(sample_size=16, in_channels=3, out_channels=3, layers_per_block=1,
                      block_out_channels=(32, 64), down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                      up_block_types=("AttnUpBlock2D", "UpBlock2D"), attention_head_dim=16,
                      flip_sin_to_cos=False, freq_shift=1, norm_eps=1e-6),
    "tiny_legacy": dict(sample_size=8, in_channels=1, out_channels=1, layers_per_block=2,
                        block_out_channels=(32, 32), down_block_types=("AttnDownBlock2D", "DownBlock2D"),
                        up_block_types=("UpBlock2D", "AttnUpBlock2D"), attention_head_dim=None,
                        flip_sin_to_cos=True, freq_shift=0),
}


def legacy_names(sd):
    out = {}
    for k, v in sd.items():
        k2 = (k.replace(".to_q.", ".query.").replace(".to_k.", ".key.").replace(".to_v.", ".value.")
              .replace(".to_out.0.", ".proj_attn."))
        out[k2] = v
    return out


if __name__ == "__main__":
    root = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/ddpm"
    for i, (name, cfg) in enumerate(CONFIGS.items()):
        torch.manual_seed(20 + i)
        model = UNet2DModel(**cfg).eval()
        g = torch.Generator().manual_seed(30 + i)
        with torch.no_grad():
            for p in model.parameters():
                fan = p[0].numel() if p.dim() > 1 else 1
                p.copy_(torch.randn(p.shape, generator=g) * (0.5 / fan ** 0.5 if p.dim() > 1 else 0.1))
        d = f"{root}/{name}"
        os.makedirs(d, exist_ok=True)
        model.save_pretrained(d, safe_serialization=True)
        if name == "tiny_legacy":
            sd = {k: v.contiguous() for k, v in model.state_dict().items()}
            save_file(legacy_names(sd), f"{d}/diffusion_pytorch_model.safetensors")
        x = torch.randn(1, cfg["in_channels"], cfg["sample_size"], cfg["sample_size"], generator=g, requires_grad=True)
        out = model(x, torch.tensor([333])).sample
        v = torch.randn(out.shape, generator=g)
        (out * v).sum().backward()
        save_file({"x": x.detach(), "out": out.detach(), "v": v, "vjp": x.grad}, f"{root}/{name}_io.safetensors")
        json.dump({"timestep": 333}, open(f"{root}/{name}_io.json", "w"))
