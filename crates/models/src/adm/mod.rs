//! The guided-diffusion UNet (`UNetModel` of openai/guided-diffusion; Dhariwal & Nichol
//! 2021), the prior of DPS, DAPS, DiffPIR, DDRM-ImageNet and VML-MAP (arXiv 2512.10524),
//! configured exactly as its constructor, with presets recognised from checkpoints.

pub mod blocks;
pub mod config;
pub mod load;
pub mod unet;

pub use config::{AdmConfig, ConfigError};
pub use unet::UNetModel;

#[cfg(test)]
mod tests;
