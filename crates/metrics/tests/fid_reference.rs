//! The Fréchet distance against `fid-helper-pytorch` 0.1.3's `compute_fid_score` (numpy
//! covariances, scipy's `sqrtm`) on two deterministic 64-d feature sets
//! (tools/make_fid_fixture.py).

use vmlmap_metrics::fid::{frechet_distance, FeatureStats};

/// Value i: ((i + seed) * 2654435761 mod 2^32 / 2^32 - 0.5) * scale, in f32 (as the script).
fn hashed(n: usize, seed: u64, scale: f64) -> Vec<f32> {
    (0..n as u64)
        .map(|i| {
            let h = ((i + seed).wrapping_mul(2_654_435_761)) % (1u64 << 32);
            ((h as f64 / 4_294_967_296.0 - 0.5) * scale) as f32
        })
        .collect()
}

#[test]
fn matches_fid_helper_pytorch() {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/fid/reference.json"
    );
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    let f = &r["frechet"];
    let dim = f["dim"].as_u64().unwrap() as usize;
    let set = |k: &str| {
        let s = &f[k];
        let rows = s["rows"].as_u64().unwrap() as usize;
        let mut v = hashed(
            rows * dim,
            s["seed"].as_u64().unwrap(),
            s["scale"].as_f64().unwrap(),
        );
        if let Some(off) = s["offset_first_8"].as_f64() {
            // The script adds the offset in float64 after the float32 hash.
            for row in v.chunks_mut(dim) {
                for x in &mut row[..8] {
                    *x = (*x as f64 + off) as f32;
                }
            }
        }
        FeatureStats::from_rows(&v, dim).unwrap()
    };
    let got = frechet_distance(&set("a"), &set("b")).unwrap();
    let want = f["fid"].as_f64().unwrap();
    assert!((got - want).abs() < 1e-6 * want.max(1.0), "{got} vs {want}");
}
