//! Neural denoisers for vmlmap on the burn tensor stack: the device choice (a runtime
//! value, CPU `flex` by default, CUDA behind the `cuda` feature) and the adapter that turns
//! a network written in burn tensor operations into a [`vmlmap_core::Denoiser`] whose VJP
//! `J(x)^T v` comes from reverse-mode autodiff (docs/algorithms.md §2; the one-VJP gradient of
//! VML-MAP, arXiv 2512.10524, §3). Network architectures and checkpoint loading build on
//! these.

pub mod adm;
pub mod autodiff_denoiser;
pub mod checkpoint;
pub mod ddpm;
pub mod default_model;
pub mod device;
pub mod eps_denoiser;
pub mod inception;
pub mod layers;
pub mod lpips;
pub mod metric_weights;
pub mod native;
pub mod registry;
pub mod weights;

pub use autodiff_denoiser::{common_sigma, per_image, AutodiffDenoiser, Precision, TensorDenoiser};
pub use device::{DeviceError, DeviceSpec};
