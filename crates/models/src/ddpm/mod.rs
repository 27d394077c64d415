//! The DDPM UNet in the diffusers `UNet2DModel` format (Ho et al. 2020; the google/ddpm-*
//! checkpoints: CelebA-HQ, LSUN church/bedroom, CIFAR-10), loaded from a diffusers folder
//! (`config.json` + `diffusion_pytorch_model.safetensors` or `.bin`), including the legacy
//! attention key names (`query`, `key`, `value`, `proj_attn`).

pub mod blocks;
pub mod config;
pub mod load;
pub mod unet;

pub use config::DdpmConfig;
pub use unet::UNet2DModel;
