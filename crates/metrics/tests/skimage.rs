//! PSNR and SSIM against scikit-image on the same images (fixture by
//! tools/make_metric_fixtures.py).

use vmlmap_core::Shape;
use vmlmap_metrics::{psnr, ssim};

#[test]
fn psnr_and_ssim_match_scikit_image() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/metrics.json"
    ))
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    for case in v["cases"].as_array().unwrap() {
        let s: Vec<usize> = serde_json::from_value(case["shape"].clone()).unwrap();
        let shape = Shape::new(s[0], s[1], s[2]).unwrap();
        let a: Vec<f64> = serde_json::from_value(case["a"].clone()).unwrap();
        let b: Vec<f64> = serde_json::from_value(case["b"].clone()).unwrap();
        let (p, want_p) = (psnr(&a, &b), case["psnr"].as_f64().unwrap());
        let (q, want_q) = (ssim(&a, &b, shape).unwrap(), case["ssim"].as_f64().unwrap());
        assert!((p - want_p).abs() < 1e-9, "{shape}: PSNR {p} vs {want_p}");
        assert!((q - want_q).abs() < 1e-9, "{shape}: SSIM {q} vs {want_q}");
    }
    let tiny = Shape::new(1, 8, 8).unwrap();
    assert!(ssim(&[0.0; 64], &[0.0; 64], tiny).is_err());
    let img: Vec<f64> = (0..32 * 32).map(|i| (i as f64 / 1024.0) - 0.5).collect();
    assert!((ssim(&img, &img, Shape::new(1, 32, 32).unwrap()).unwrap() - 1.0).abs() < 1e-12);
}
