//! A CPU engine for a *frozen* guided-diffusion UNet (Dhariwal & Nichol 2021): the forward
//! pass and the input VJP `J(x)^T v` written by hand on channels-last (NHWC) f32 buffers,
//! with the 3×3 convolutions on a direct AVX2 + FMA kernel (no im2col; `direct_conv.rs`)
//! and the rest as GEMMs (the `gemm` crate, the kernels burn's CPU backend uses),
//! GroupNorm fused with its scale-shift and SiLU, a vectorisable `exp`, and rayon over row
//! blocks, images and heads.
//!
//! Why: every solver's cost is the network (docs/algorithms.md §2), and burn's general-purpose
//! autodiff pays for layout conversion around each convolution, one memory pass and
//! allocation per element-wise op, a scalar `exp`, a scalar col2im and graph bookkeeping
//! (docs/performance.md, "Profile"). A frozen network needs none of that: the input VJP
//! of a convolution needs only its weights, so the forward keeps only what GroupNorm,
//! SiLU and attention need for their backward.
//!
//! The burn network stays the reference (and the path for f64, CUDA and training): this
//! engine is built from its weights and tested against it to f32 round-off
//! (`tests/native_engine.rs`).

mod act;
mod attention;
mod conv;
mod denoiser;
mod direct_conv;
mod gemm;
mod grads;
mod kernels;
mod math;
mod norm;
mod unet;

pub use act::Act;
pub use denoiser::NativeEpsDenoiser;
pub use grads::ParamGrads;
pub use kernels::{
    choose_simd, detect_simd, force_portable, force_simd, has_avx2_fma, simd, Simd,
    SimdChoiceError, SimdUnavailable,
};
pub use unet::{Mode, NativeAdm};
