//! The Rust diffusers `UNet2DModel` against `diffusers` on tiny random-weight folders
//! (fixtures by tools/make_ddpm_fixtures.py): output and input VJP to 1e-4 relative, with
//! current and legacy attention names.

use burn::tensor::{DType, Tensor, TensorData};
use std::path::PathBuf;
use vmlmap_core::vector::rel_err;
use vmlmap_models::checkpoint::Checkpoint;
use vmlmap_models::ddpm::load::{load_ddpm, uses_legacy_names};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/ddpm")
        .join(name)
}

fn check(case: &str, legacy: bool) {
    let device = burn::tensor::Device::flex();
    let (net, _, ck) = load_ddpm(&fixture(case), &device, DType::F32).unwrap();
    assert_eq!(uses_legacy_names(&ck), legacy);
    let io = Checkpoint::open(fixture(&format!("{case}_io.safetensors"))).unwrap();
    let dims =
        |t: &vmlmap_models::checkpoint::RawTensor| [t.shape[0], t.shape[1], t.shape[2], t.shape[3]];
    let ad = device.autodiff();
    let x = &io.tensors["x"];
    let xt: Tensor<4> =
        Tensor::<4>::from_data(TensorData::new(x.data.clone(), dims(x)), &ad).require_grad();
    let out = net.forward(xt.clone(), &vec![333.0; x.shape[0]]);
    let got: Vec<f64> = out
        .clone()
        .detach()
        .into_data()
        .convert::<f64>()
        .try_into_vec()
        .unwrap();
    let want: Vec<f64> = io.tensors["out"].data.iter().map(|&v| v as f64).collect();
    let e = rel_err(&got, &want);
    eprintln!("{case}: output rel err {e:.1e}");
    assert!(e < 1e-4, "{case}: output differs from diffusers by {e}");
    let v = &io.tensors["v"];
    let vt: Tensor<4> = Tensor::from_data(TensorData::new(v.data.clone(), dims(v)), &ad);
    let grads = (out * vt).sum().backward();
    let g: Vec<f64> = xt
        .grad(&grads)
        .unwrap()
        .into_data()
        .convert::<f64>()
        .try_into_vec()
        .unwrap();
    let want: Vec<f64> = io.tensors["vjp"].data.iter().map(|&v| v as f64).collect();
    let e = rel_err(&g, &want);
    eprintln!("{case}: VJP rel err {e:.1e}");
    assert!(e < 1e-4, "{case}: VJP differs from diffusers by {e}");
}

#[test]
fn unet2dmodel_matches_diffusers() {
    check("tiny_ddpm", false);
}

#[test]
fn legacy_attention_names_load() {
    check("tiny_legacy", true);
}

#[test]
fn missing_folder_pieces_are_named() {
    let e = load_ddpm(
        &fixture("nonexistent"),
        &burn::tensor::Device::flex(),
        DType::F32,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("config.json"), "{e}");
}
