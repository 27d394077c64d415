//! The network on burn's wgpu backend (`--device wgpu`, the `wgpu` feature) against the
//! native CPU engine on the same weights: `D` and the VJP `Jᵀv` (burn's autodiff on the
//! GPU) to relative 1e-4, on the embedded prior and on small random networks with every
//! ADM block variant. CI runs these on Mesa's lavapipe, a software Vulkan device; where no
//! Vulkan device is present they fail with that message rather than pass.
#![cfg(feature = "wgpu")]

use burn::module::Module;
use burn::tensor::{DType, Device};
use vmlmap_core::vector::rel_err;
use vmlmap_core::Denoiser;
use vmlmap_models::adm::load::random_unet;
use vmlmap_models::adm::AdmConfig;
use vmlmap_models::autodiff_denoiser::{AutodiffDenoiser, Precision};
use vmlmap_models::eps_denoiser::{Adm, EpsDenoiser, EpsNetwork};
use vmlmap_models::registry::{load_denoiser_on, Engine, NetworkDenoiser};
use vmlmap_models::DeviceSpec;

fn gpu() -> Device {
    DeviceSpec::Wgpu(None)
        .device()
        .unwrap_or_else(|e| panic!("NOT RUN: no wgpu device: {e}"))
}

fn inputs(n: usize, seed: u64) -> Vec<f64> {
    vmlmap_core::rng::normal_vec(&mut vmlmap_core::rng::seeded(seed), n)
}

fn compare(cpu: &NetworkDenoiser, gpu: &NetworkDenoiser, sigmas: &[f64], what: &str) {
    assert_eq!(cpu.engine(), Engine::Native);
    assert_eq!(gpu.engine(), Engine::Burn);
    let n = cpu.shape().numel() * sigmas.len();
    let x: Vec<f64> = inputs(n, 1).iter().map(|v| 0.8 * v).collect();
    let v = inputs(n, 2);
    let (dc, dg) = (
        cpu.denoise_batch(&x, sigmas).unwrap(),
        gpu.denoise_batch(&x, sigmas).unwrap(),
    );
    let e = rel_err(&dc, &dg);
    assert!(e < 1e-4, "{what}: D differs by {e:.1e}");
    let gc = cpu.linearize_batch(&x, sigmas).unwrap().vjp(&v).unwrap();
    let gg = gpu.linearize_batch(&x, sigmas).unwrap().vjp(&v).unwrap();
    let e = rel_err(&gc, &gg);
    assert!(e < 1e-4, "{what}: VJP differs by {e:.1e}");
    let net_c: Vec<f64> = gc.iter().zip(&v).map(|(g, v)| g - v).collect();
    let net_g: Vec<f64> = gg.iter().zip(&v).map(|(g, v)| g - v).collect();
    let e2 = rel_err(&net_c, &net_g);
    assert!(e2 < 1e-4, "{what}: network VJP differs by {e2:.1e}");
    eprintln!("{what}: D and VJP agree (network VJP to {e2:.1e})");
}

#[test]
fn embedded_prior_on_wgpu_matches_the_native_engine() {
    let g = gpu();
    let (cpu, _) = load_denoiser_on(
        "default",
        &Device::flex(),
        Precision::F32,
        None,
        Engine::Native,
    )
    .unwrap();
    let (on_gpu, _) =
        load_denoiser_on("default", &g, Precision::F32, None, Engine::Native).unwrap();
    compare(&cpu, &on_gpu, &[0.02, 0.5, 3.0], "default");
}

fn config() -> AdmConfig {
    AdmConfig {
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
    }
}

#[test]
fn every_block_variant_on_wgpu_matches_the_native_engine() {
    let base = config();
    let variants = [
        (
            "scale-shift, res-block up/down, legacy attention, 2 heads, learned sigma",
            base.clone(),
        ),
        (
            "additive embedding, conv resampling, new attention order",
            AdmConfig {
                use_scale_shift_norm: false,
                resblock_updown: false,
                use_new_attention_order: true,
                out_channels: 3,
                ..base.clone()
            },
        ),
        (
            "average pooling and plain upsampling, 2 res blocks, 3 levels",
            AdmConfig {
                resblock_updown: false,
                conv_resample: false,
                num_res_blocks: 2,
                channel_mult: vec![1, 1, 2],
                attention_ds: vec![4],
                num_heads: 1,
                num_head_channels: Some(32),
                ..base.clone()
            },
        ),
    ];
    let g = gpu();
    for (i, (what, cfg)) in variants.into_iter().enumerate() {
        let cpu_dev = Device::flex();
        let wrap = |net, dev: &Device, engine| {
            let net: Box<dyn EpsNetwork> = Box::new(Adm {
                net,
                config: cfg.clone(),
            });
            NetworkDenoiser::new(
                AutodiffDenoiser::new(EpsDenoiser::new(net, "random"), dev.clone(), Precision::F32),
                engine,
            )
        };
        let net = random_unet(&cfg, 7 + i as u64, false, &cpu_dev, DType::F32).unwrap();
        let cpu = wrap(net.clone(), &cpu_dev, Engine::Native);
        let on_gpu = wrap(net.to_device(&g), &g, Engine::Native);
        compare(&cpu, &on_gpu, &[0.1, 2.0], what);
    }
}
