//! The Rust guided-diffusion UNet against the public PyTorch code on tiny random-weight
//! configurations (fixtures by tools/make_adm_fixtures.py): output and input VJP to 1e-4
//! relative in f32, from `.safetensors` (f32 and f16) and from a `torch.save`d `.pt`; the
//! same for the native engine built from the loaded weights.

use burn::tensor::{DType, Tensor, TensorData};
use std::path::PathBuf;
use vmlmap_core::vector::rel_err;
use vmlmap_models::adm::load::{config_for, load_unet};
use vmlmap_models::checkpoint::{Checkpoint, CheckpointError};
use vmlmap_models::native::{Act, NativeAdm};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/adm")
        .join(name)
}

fn io(name: &str) -> Checkpoint {
    Checkpoint::open(fixture(&format!("{name}_io.safetensors"))).unwrap()
}

fn vec64(t: &vmlmap_models::checkpoint::RawTensor) -> Vec<f64> {
    t.data.iter().map(|&v| v as f64).collect()
}

fn check(weights: &str, case: &str) {
    let path = fixture(weights);
    let ck = Checkpoint::open(&path).unwrap();
    let cfg = config_for(&fixture(&format!("{case}.safetensors")), &ck).unwrap();
    let device = burn::tensor::Device::flex();
    let net = load_unet(&path, &ck, &cfg, &device, DType::F32).unwrap();
    let io = io(case);
    let x = &io.tensors["x"];
    let ad = device.clone().autodiff();
    let xt: Tensor<4> = Tensor::<4>::from_data(
        TensorData::new(
            x.data.clone(),
            [x.shape[0], x.shape[1], x.shape[2], x.shape[3]],
        ),
        &ad,
    )
    .require_grad();
    let out = net.forward(xt.clone(), &[417.0]);
    let got: Vec<f64> = out
        .clone()
        .detach()
        .into_data()
        .convert::<f64>()
        .try_into_vec()
        .unwrap();
    let e = rel_err(&got, &vec64(&io.tensors["out"]));
    eprintln!("{weights}: output rel err {e:.1e}");
    assert!(e < 1e-4, "{weights}: output differs from PyTorch by {e}");
    let v = &io.tensors["v"];
    let vt: Tensor<4> = Tensor::from_data(
        TensorData::new(
            v.data.clone(),
            [v.shape[0], v.shape[1], v.shape[2], v.shape[3]],
        ),
        &ad,
    );
    let grads = (out * vt).sum().backward();
    let g: Vec<f64> = xt
        .grad(&grads)
        .unwrap()
        .into_data()
        .convert::<f64>()
        .try_into_vec()
        .unwrap();
    let e = rel_err(&g, &vec64(&io.tensors["vjp"]));
    eprintln!("{weights}: VJP rel err {e:.1e}");
    assert!(e < 1e-4, "{weights}: VJP differs from PyTorch by {e}");
    check_native(&net, &io, weights);
}

/// The native engine (built from the same loaded weights) against PyTorch.
fn check_native(net: &vmlmap_models::adm::UNetModel, io: &Checkpoint, weights: &str) {
    let native = NativeAdm::from_burn(net);
    let x = &io.tensors["x"];
    let [b, c, h, w] = [x.shape[0], x.shape[1], x.shape[2], x.shape[3]];
    let ts = vec![417.0; b];
    let (out, tape) = native.forward(Act::from_nchw(&vec64(x), b, c, h, w), &ts, true);
    let want = vec64(&io.tensors["out"]);
    let e = rel_err(&out.to_nchw(out.c), &want);
    eprintln!("{weights}: native output rel err {e:.1e}");
    assert!(
        e < 1e-4,
        "{weights}: native output differs from PyTorch by {e}"
    );
    let v = &io.tensors["v"];
    let g = Act::from_nchw(&vec64(v), b, v.shape[1], h, w);
    let gx = native.backward(tape.unwrap(), &g).to_nchw(c);
    let e = rel_err(&gx, &vec64(&io.tensors["vjp"]));
    eprintln!("{weights}: native VJP rel err {e:.1e}");
    assert!(
        e < 1e-4,
        "{weights}: native VJP differs from PyTorch by {e}"
    );
}

#[test]
fn scale_shift_updown_resblocks_legacy_attention_from_safetensors() {
    check("tiny_a.safetensors", "tiny_a");
}

#[test]
fn same_weights_from_a_torch_save_pt() {
    check("tiny_a.pt", "tiny_a");
}

#[test]
fn conv_resampling_new_attention_order_f16_weights() {
    let ck = Checkpoint::open(fixture("tiny_b.safetensors")).unwrap();
    assert_eq!(
        ck.dtypes().into_iter().collect::<Vec<_>>(),
        vec!["f16".to_string()]
    );
    check("tiny_b.safetensors", "tiny_b");
}

#[test]
fn architecture_is_recognised_from_the_keys() {
    let ck = Checkpoint::open(fixture("tiny_a.safetensors")).unwrap();
    let cfg = vmlmap_models::adm::AdmConfig::from_checkpoint(&ck).unwrap();
    assert_eq!(cfg.channel_mult, vec![1, 1]);
    assert_eq!(cfg.num_res_blocks, 1);
    assert_eq!(cfg.attention_ds, vec![2]);
    assert!(cfg.use_scale_shift_norm && cfg.resblock_updown);
    let ck = Checkpoint::open(fixture("tiny_b.safetensors")).unwrap();
    let cfg = vmlmap_models::adm::AdmConfig::from_checkpoint(&ck).unwrap();
    assert_eq!(
        (
            cfg.channel_mult.clone(),
            cfg.num_res_blocks,
            cfg.attention_ds.clone()
        ),
        (vec![1, 1, 1], 2, vec![4])
    );
    assert!(!cfg.use_scale_shift_norm && !cfg.resblock_updown);
}

#[test]
fn loading_errors_list_every_problem() {
    let path = fixture("tiny_a.safetensors");
    let mut ck = Checkpoint::open(&path).unwrap();
    let cfg = config_for(&path, &ck).unwrap();
    ck.tensors.remove("out.2.bias");
    ck.tensors.remove("middle_block.1.qkv.weight");
    let w = ck.tensors.get_mut("input_blocks.0.0.weight").unwrap();
    w.shape = vec![32, 3, 1, 9];
    let extra = ck.tensors["out.0.weight"].clone();
    ck.tensors.insert("label_emb.weight".into(), extra);
    let err = load_unet(&path, &ck, &cfg, &burn::tensor::Device::flex(), DType::F32)
        .unwrap_err()
        .to_string();
    for needle in [
        "missing key out.2.bias",
        "missing key middle_block.1.qkv.weight",
        "shape mismatch for input_blocks.0.0.weight: expected [32, 3, 3, 3], found [32, 3, 1, 9]",
        "unexpected key label_emb.weight",
        "2 missing, 1 shape mismatches, 1 unexpected",
    ] {
        assert!(err.contains(needle), "{needle:?} not in {err}");
    }
    // A truncated file is an error naming the file, not a panic.
    let dir = std::env::temp_dir().join(format!("vmlmap-trunc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (src, name) in [
        ("tiny_a.safetensors", "t.safetensors"),
        ("tiny_a.pt", "t.pt"),
    ] {
        let bytes = std::fs::read(fixture(src)).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
        let e = Checkpoint::open(&p).unwrap_err();
        assert!(matches!(e, CheckpointError::Read { .. }), "{e}");
        assert!(e.to_string().contains(name), "{e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn legacy_torch_save_format_f16() {
    let ck = Checkpoint::open(fixture("tiny_b_legacy.pt")).unwrap();
    assert_eq!(ck.format, "pytorch-legacy");
    check("tiny_b_legacy.pt", "tiny_b");
}

/// The network as an EDM denoiser: `D(x, sigma) = x - sigma * eps(x / sqrt(1 + sigma^2), t)`
/// with the first C of the 2C learned-sigma channels, checked on the PyTorch fixture (whose
/// input is the VP-scaled `x_vp` at t = 417).
#[test]
fn denoiser_is_the_vp_to_edm_conversion_of_the_pytorch_output() {
    use vmlmap_core::Denoiser;
    use vmlmap_models::eps_denoiser::{Adm, EpsDenoiser};
    use vmlmap_models::{AutodiffDenoiser, Precision};
    let path = fixture("tiny_a.safetensors");
    let ck = Checkpoint::open(&path).unwrap();
    let cfg = config_for(&path, &ck).unwrap();
    let device = burn::tensor::Device::flex();
    let net = load_unet(&path, &ck, &cfg, &device, DType::F32).unwrap();
    let den = AutodiffDenoiser::new(
        EpsDenoiser::new(Adm { net, config: cfg }, "tiny_a"),
        device,
        Precision::F32,
    );
    let sigma = vmlmap_core::schedule::VpTable::ddpm_linear().sigmas()[417];
    let io = io("tiny_a");
    let scale = (1.0 + sigma * sigma).sqrt();
    let x: Vec<f64> = vec64(&io.tensors["x"]).iter().map(|v| v * scale).collect();
    let out = vec64(&io.tensors["out"]);
    let n = x.len();
    let want: Vec<f64> = (0..n).map(|i| x[i] - sigma * out[i]).collect();
    let got = den.denoise(&x, sigma).unwrap();
    assert!(rel_err(&got, &want) < 1e-5, "{}", rel_err(&got, &want));
    assert_eq!(den.round_sigma(sigma * 1.001), sigma);
}

/// The whole UNet's input VJP against central finite differences, in f64.
#[test]
fn unet_vjp_matches_finite_differences_in_f64() {
    use vmlmap_core::denoiser::vjp_finite_difference_error;
    use vmlmap_core::rng::{normal_vec, seeded};
    use vmlmap_models::adm::load::random_unet;
    use vmlmap_models::eps_denoiser::{Adm, EpsDenoiser};
    use vmlmap_models::{AutodiffDenoiser, Precision};
    let path = fixture("tiny_a.safetensors");
    let ck = Checkpoint::open(&path).unwrap();
    let mut cfg = config_for(&path, &ck).unwrap();
    cfg.image_size = 8;
    let device = burn::tensor::Device::flex();
    let net = random_unet(&cfg, 3, false, &device, DType::F64).unwrap();
    let den = AutodiffDenoiser::new(
        EpsDenoiser::new(Adm { net, config: cfg }, "tiny"),
        device,
        Precision::F64,
    );
    let n = 3 * 8 * 8;
    let mut rng = seeded(4);
    for sigma in [0.3, 3.0] {
        let x = normal_vec(&mut rng, n);
        let v = normal_vec(&mut rng, n);
        let u = normal_vec(&mut rng, n);
        let e = vjp_finite_difference_error(&den, &x, sigma, &v, &u, 1e-5).unwrap();
        assert!(e < 1e-7, "sigma={sigma}: {e}");
    }
}
