//! The native engine's AVX-512 kernels against its AVX2 kernels on whole networks: the
//! embedded prior's D and VJP at batch 3, and every parameter's gradient of a small random
//! network in training mode, the same bits with `force_simd(Avx512)` as with
//! `force_simd(Avx2)`. Its own test binary, because the kernel choice is per process; one
//! test, so that nothing else runs while it switches. On a CPU without AVX-512 it says so
//! on the terminal and checks nothing.

use burn::tensor::{DType, Device};
use std::io::Write;
use vmlmap_core::Denoiser;
use vmlmap_models::adm::load::random_unet;
use vmlmap_models::adm::AdmConfig;
use vmlmap_models::autodiff_denoiser::Precision;
use vmlmap_models::native::{detect_simd, force_simd, Act, Mode, NativeAdm, ParamGrads, Simd};
use vmlmap_models::registry::{load_denoiser_on, Engine};

fn inputs(n: usize, seed: u64) -> Vec<f64> {
    vmlmap_core::rng::normal_vec(&mut vmlmap_core::rng::seeded(seed), n)
}

/// D, VJP, the training-mode input gradient, and the parameter gradients by name.
type Outputs = (Vec<f64>, Vec<f64>, Vec<f64>, Vec<(String, Vec<f32>)>);

/// D and VJP of the embedded prior, and the parameter gradients of a random network with
/// attention, learned sigma and scale-shift norm, under the kernel set in force.
fn run_all() -> Outputs {
    let dev = Device::flex();
    let (den, _) = load_denoiser_on("default", &dev, Precision::F32, None, Engine::Native).unwrap();
    let sigmas = [0.05, 0.7, 20.0];
    let n = den.shape().numel() * sigmas.len();
    let x = inputs(n, 1);
    let d = den.denoise_batch(&x, &sigmas).unwrap();
    let vjp = den
        .linearize_batch(&x, &sigmas)
        .unwrap()
        .vjp(&inputs(n, 2))
        .unwrap();

    let cfg = AdmConfig {
        image_size: 16,
        in_channels: 3,
        model_channels: 32,
        out_channels: 6,
        num_res_blocks: 1,
        attention_ds: vec![2],
        channel_mult: vec![1, 2],
        num_heads: 2,
        num_head_channels: None,
        num_heads_upsample: None,
        use_scale_shift_norm: true,
        resblock_updown: true,
        use_new_attention_order: false,
        conv_resample: true,
    };
    let net = random_unet(&cfg, 7, false, &dev.clone().autodiff(), DType::F32).unwrap();
    let native = NativeAdm::from_burn(&net);
    let (b, s) = (2, cfg.image_size);
    let xa = Act::from_nchw(&inputs(b * 3 * s * s, 3), b, 3, s, s);
    let (_, tape) = native.forward_mode(xa, &[37.0, 810.0], Mode::Train);
    let g = Act::from_nchw(&inputs(b * 6 * s * s, 4), b, 6, s, s);
    let mut pg = ParamGrads::default();
    let dx = native
        .backward_params(tape.unwrap(), &g, Some(&mut pg))
        .to_nchw(3);
    let mut grads: Vec<(String, Vec<f32>)> = pg.map.into_iter().collect();
    grads.sort_by(|a, b| a.0.cmp(&b.0));
    (d, vjp, dx, grads)
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|a| a.to_bits()).collect()
}

#[test]
fn avx512_kernels_give_the_avx2_kernels_bits_on_whole_networks() {
    if detect_simd() < Simd::Avx512 {
        let _ = writeln!(
            std::io::stderr(),
            "\n*** NOT RUN: avx512_kernels_give_the_avx2_kernels_bits_on_whole_networks: this \
             CPU has no AVX-512F (it runs {}). Run the tests on an AVX-512 machine before \
             trusting the AVX-512 kernels. ***\n",
            detect_simd().name()
        );
        return;
    }
    force_simd(Simd::Avx2).unwrap();
    let narrow = run_all();
    force_simd(Simd::Avx512).unwrap();
    let wide = run_all();
    assert_eq!(bits(&narrow.0), bits(&wide.0), "D");
    assert_eq!(bits(&narrow.1), bits(&wide.1), "VJP");
    assert_eq!(
        bits(&narrow.2),
        bits(&wide.2),
        "input gradient in training mode"
    );
    assert_eq!(narrow.3.len(), wide.3.len());
    for ((name, a), (_, b)) in narrow.3.iter().zip(&wide.3) {
        let same = a.iter().zip(b).all(|(u, v)| u.to_bits() == v.to_bits());
        assert!(same, "parameter gradient {name}");
    }
    // And the forcing is real: the kernels in force are the ones asked for.
    assert_eq!(vmlmap_models::native::simd(), Simd::Avx512);
}
