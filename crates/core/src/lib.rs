//! Shared foundations of vmlmap: image shapes, the [`Denoiser`] abstraction, diffusion
//! noise schedules, seeded randomness and the measurement-noise convention.
//!
//! Conventions follow `docs/algorithms.md` §1: images are `C x H x W` vectors in `[-1, 1]`,
//! diffusion is written in the variance-exploding (EDM) form `x_sigma = x0 + sigma * eps`,
//! and a denoiser is `D(x, sigma) ~= E[x0 | x_sigma = x]` (Tweedie). The solvers built on
//! these types implement VML-MAP (Gutha, Vinuesa, Azizpour, arXiv 2512.10524).

pub mod denoiser;
pub mod noise;
pub mod rng;
pub mod schedule;
pub mod shape;
pub mod vector;

pub use denoiser::{Denoiser, DenoiserError, Linearization};
pub use noise::NoiseConvention;
pub use shape::{Shape, ShapeError};
