//! The native engine's portable kernels (`force_portable`, which `VMLMAP_SIMD=baseline` calls
//! in the binary and the Python package: what a CPU without AVX2
//! and FMA runs) against burn on the embedded prior: same D and VJP to f32 round-off. Its
//! own test binary, because the choice is made once per process.

use burn::tensor::Device;
use vmlmap_core::vector::rel_err;
use vmlmap_core::Denoiser;
use vmlmap_models::autodiff_denoiser::Precision;
use vmlmap_models::native::{force_portable, has_avx2_fma};
use vmlmap_models::registry::{load_denoiser_on, Engine};

#[test]
fn portable_kernels_match_burn() {
    force_portable();
    assert!(!has_avx2_fma(), "force_portable turns the AVX2 kernels off");
    let dev = Device::flex();
    let (native, _) =
        load_denoiser_on("default", &dev, Precision::F32, None, Engine::Native).unwrap();
    let (burn, _) = load_denoiser_on("default", &dev, Precision::F32, None, Engine::Burn).unwrap();
    let sigmas = [0.1, 1.5];
    let x =
        vmlmap_core::rng::normal_vec(&mut vmlmap_core::rng::seeded(5), 2 * native.shape().numel());
    let e = rel_err(
        &native.denoise_batch(&x, &sigmas).unwrap(),
        &burn.denoise_batch(&x, &sigmas).unwrap(),
    );
    assert!(e < 1e-5, "D differs by {e:.1e}");
    let gn = native
        .linearize_batch(&x, &sigmas)
        .unwrap()
        .vjp(&x)
        .unwrap();
    let gb = burn.linearize_batch(&x, &sigmas).unwrap().vjp(&x).unwrap();
    let e = rel_err(&gn, &gb);
    assert!(e < 1e-4, "VJP differs by {e:.1e}");
}
