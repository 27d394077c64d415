//! The `vmlmap` binary: exit codes, JSON output and error messages of validate, tasks,
//! models, denoise, bench-nfe, demo and sample, and bad arguments.

mod common;

use common::{fixture, vmlmap};

#[test]
fn validate_json_has_the_documented_fields() {
    let out = vmlmap(&[
        "validate",
        "--json",
        "--task",
        "sr4",
        "--task",
        "inpaint-box",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut n = 0;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("one JSON object per line");
        for key in [
            "solver",
            "prior",
            "operator",
            "sigma_y",
            "check",
            "steps",
            "inner",
            "rel_err_to_map",
            "measurement_residual",
            "nfe",
            "vjp",
            "seconds",
            "pass",
        ] {
            assert!(v.get(key).is_some(), "missing {key} in {line}");
        }
        assert_eq!(v["pass"], true, "{line}");
        n += 1;
    }
    // 2 tasks x 2 noise levels x (2 priors x (4 per-step + 4 end-to-end + the baselines)
    // + 1 mode); the baselines: every registered solver but pinv, vml-map, vml-map-plain.
    let baselines = vmlmap_solvers::SOLVERS.len() - 3;
    assert_eq!(n, 2 * 2 * (2 * (8 + baselines) + 1));
}

#[test]
fn validate_table_and_bad_arguments() {
    let out = vmlmap(&[
        "validate",
        "--task",
        "denoise",
        "--check",
        "end-to-end",
        "--sigma-y",
        "0.025",
        "--noise-convention",
        "zero-one",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("check"), "{text}");
    assert!(
        text.contains("5e-2"),
        "0.025 in [0, 1] units is 0.05: {text}"
    );

    let bad = vmlmap(&["validate", "--task", "blur"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown task \"blur\""));
    let bad = vmlmap(&["validate", "--sigma-y", "-1"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--sigma-y -1"));
    let bad = vmlmap(&["validate", "--noise-convention", "percent"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("percent"));
    let bad = vmlmap(&["validate", "--check", "speed"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn tasks_lists_every_task_and_the_size_rule() {
    let out = vmlmap(&["tasks", "--side", "32"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for t in vmlmap_operators::TASK_NAMES {
        assert!(text.contains(t), "{t}");
    }
    assert!(text.contains("gaussian 9 taps, std 1.500"), "{text}");
}

#[test]
fn models_inspect_reports_architecture_and_counts() {
    let out = vmlmap(&[
        "models",
        "inspect",
        &fixture("adm/tiny_b.safetensors"),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["architecture"], "guided-diffusion UNetModel");
    assert_eq!(v["dtypes"][0], "f16");
    let bad = vmlmap(&["models", "inspect", &fixture("adm/tiny_a.json")]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown checkpoint extension"));
}

#[test]
fn denoise_writes_npy_and_png_atomically_and_refuses_overwrite() {
    let dir = std::env::temp_dir().join(format!("vmlmap-cli-denoise-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = fixture("ddpm/tiny_ddpm");
    // A 16x16 RGB input image.
    let input = dir.join("in.png");
    image::RgbImage::from_fn(16, 16, |x, y| {
        image::Rgb([(x * 16) as u8, (y * 16) as u8, 128])
    })
    .save(&input)
    .unwrap();
    let out_npy = dir.join("d.npy");
    let run = |o: &std::path::Path, extra: &[&str]| {
        let mut args = vec![
            "denoise",
            "--model",
            &model,
            "--input",
            input.to_str().unwrap(),
            "--sigma",
            "0.5",
            "--output",
            o.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        vmlmap(&args)
    };
    let r = run(&out_npy, &[]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(
        run(&out_npy, &[]).status.code() == Some(2),
        "no silent overwrite"
    );
    assert!(run(&out_npy, &["--force"]).status.success());
    let r = run(&dir.join("d.png"), &[]);
    assert!(r.status.success());
    // Wrong size: a clear error naming the file.
    let small = dir.join("small.png");
    image::RgbImage::new(8, 8).save(&small).unwrap();
    let r = vmlmap(&[
        "denoise",
        "--model",
        &model,
        "--input",
        small.to_str().unwrap(),
        "--sigma",
        "0.5",
        "--output",
        dir.join("x.npy").to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("small.png is 8x8 (WxH), expected 3x16x16"),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(!dir.join("x.npy").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bench_nfe_json_line() {
    let out = vmlmap(&[
        "bench-nfe",
        "--model",
        &fixture("adm/tiny_a.safetensors"),
        "--runs",
        "1",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for k in [
        "forward_ms_median",
        "vjp_ms_median",
        "peak_rss_mb",
        "threads",
        "size",
        "batch",
    ] {
        assert!(v.get(k).is_some(), "{k}");
    }
    assert_eq!(v["size"], 16);
}

/// `VMLMAP_SIMD` picks the native engine's kernels, `bench-nfe` names the set it ran, and a
/// bad value or a set the CPU lacks is an error before any work.
#[test]
fn vmlmap_simd_chooses_the_kernels_and_rejects_bad_values() {
    let with = |simd: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_vmlmap"))
            .env("VMLMAP_SIMD", simd)
            .args(["bench-nfe", "--model", &fixture("adm/tiny_a.safetensors")])
            .args(["--runs", "1", "--json"])
            .output()
            .expect("runs")
    };
    let kernels = |out: &std::process::Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["kernels"].as_str().unwrap().to_string()
    };
    assert_eq!(kernels(&with("baseline")), "baseline");
    let best = vmlmap_models::native::detect_simd();
    assert_eq!(kernels(&with("auto")), best.name());
    for level in ["avx2", "avx512"] {
        let wanted = vmlmap_models::native::Simd::parse(level).unwrap();
        let out = with(level);
        if wanted <= best {
            assert_eq!(kernels(&out), level);
        } else {
            assert!(!out.status.success(), "{level} on a CPU without it");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(&format!("VMLMAP_SIMD={level}")), "{err}");
            assert!(err.contains("this CPU has no"), "{err}");
        }
    }
    let out = with("avx1024");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("VMLMAP_SIMD=avx1024: unknown kernel set `avx1024`"),
        "{err}"
    );
}

#[test]
fn demo_writes_grid_and_summary_with_the_embedded_model() {
    let dir = std::env::temp_dir().join(format!("vmlmap-cli-demo-{}", std::process::id()));
    let out = dir.to_str().unwrap();
    let r = vmlmap(&["demo", "--out", out, "--images", "1", "--steps", "2"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    for needle in [
        "adm-fashion32",
        "inpaint-box",
        "sr4",
        "deblur-gaussian",
        "VML-MAP PSNR",
        "tikhonov PSNR",
        "is a tie",
    ] {
        assert!(md.contains(needle), "{needle}");
    }
    let grid = image::open(dir.join("grid.png")).unwrap().to_rgb8();
    // Six labelled blocks (3 tasks on a line, noise-free then noisy), each a column per
    // image and a row per ground truth, measurement and solver (4 rows of 96 + 4 pixels).
    assert!(grid.height() > 2 * 4 * 100, "{:?}", grid.dimensions());
    // The titles are drawn: dark ink in the top band.
    let ink = (0..grid.width())
        .flat_map(|x| (0..40).map(move |y| (x, y)))
        .filter(|&(x, y)| grid.get_pixel(x, y).0[0] < 100)
        .count();
    assert!(ink > 100, "{ink}");
    // Any list of solvers: one grid column each, one row each in the means table.
    let dir2 = dir.join("solvers");
    let r = vmlmap(&[
        "demo",
        "--out",
        dir2.to_str().unwrap(),
        "--images",
        "1",
        "--solvers",
        "pinv,tikhonov,ddrm,vml-map",
        "--steps",
        "2",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let md = std::fs::read_to_string(dir2.join("summary.md")).unwrap();
    assert!(md.contains("| sr4 | 5e-2 | ddrm |"), "{md}");
    let grid2 = image::open(dir2.join("grid.png")).unwrap();
    // One more solver: one more 96-pixel row (and its 4-pixel gap) in each of 2 lines.
    assert_eq!(grid2.width(), grid.width());
    assert_eq!(grid2.height(), grid.height() + 2 * 100);
    // Solver options reach the solver and the summary; one for a solver not compared is
    // an error naming it.
    let dir3 = dir.join("opts");
    let r = vmlmap(&[
        "demo",
        "--out",
        dir3.to_str().unwrap(),
        "--images",
        "1",
        "--solvers",
        "pinv,vml-map",
        "--steps",
        "2",
        "--solver-opt",
        "vml-map:guide_below=inf",
        "--solver-opt",
        "vml-map:steps=3",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let md = std::fs::read_to_string(dir3.join("summary.md")).unwrap();
    assert!(
        md.contains("Solver options: vml-map:guide_below=inf, vml-map:steps=3."),
        "{md}"
    );
    // A --solver-opt steps=... wins over --steps: 3 levels of K = 5, 18 NFE and 15 VJP.
    assert!(
        md.contains("| VML-MAP | ") && md.contains(" | 18 | 15 | "),
        "{md}"
    );
    let r = vmlmap(&[
        "demo",
        "--out",
        dir3.to_str().unwrap(),
        "--force",
        "--solver-opt",
        "ddrm:steps=5",
    ]);
    assert_eq!(r.status.code(), Some(2));
    let e = String::from_utf8_lossy(&r.stderr);
    assert!(
        e.contains("--solver-opt names ddrm, which is not in --solvers"),
        "{e}"
    );
    let r = vmlmap(&["demo", "--out", out, "--solvers", "pinv,magic", "--force"]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("unknown solver \"magic\""));
    // No silent overwrite.
    assert_eq!(
        vmlmap(&["demo", "--out", out, "--images", "1", "--steps", "2"])
            .status
            .code(),
        Some(2)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sample_grid() {
    let dir = std::env::temp_dir().join(format!("vmlmap-cli-sample-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("s.png");
    let r = vmlmap(&[
        "sample",
        "--model",
        "default",
        "--output",
        p.to_str().unwrap(),
        "--count",
        "2",
        "--steps",
        "3",
        "--zoom",
        "1",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let g = image::open(&p).unwrap();
    // Two 32x32 samples side by side at zoom 1, 2-pixel gutters.
    assert_eq!((g.width(), g.height()), (2 * 34 + 2, 34 + 2));
    // One PNG per sample, the same samples whatever the batch; no overwriting unasked.
    let each = |d: &std::path::Path, batch: &str| {
        vmlmap(&[
            "sample",
            "--count",
            "3",
            "--steps",
            "3",
            "--batch",
            batch,
            "--images-dir",
            d.to_str().unwrap(),
        ])
    };
    let (d1, d3) = (dir.join("one"), dir.join("three"));
    for (d, b) in [(&d1, "1"), (&d3, "3")] {
        let r = each(d, b);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    }
    for k in 0..3 {
        let name = format!("sample_{k:05}.png");
        let a = image::open(d1.join(&name)).unwrap().to_luma8();
        let b = image::open(d3.join(&name)).unwrap().to_luma8();
        assert_eq!(a.dimensions(), (32, 32));
        let worst = a
            .pixels()
            .zip(b.pixels())
            .map(|(x, y)| x.0[0].abs_diff(y.0[0]))
            .max();
        assert!(
            worst <= Some(1),
            "{name}: batch 1 and 3 differ by {worst:?} levels"
        );
    }
    let again = each(&d1, "1");
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    let r = vmlmap(&["sample", "--count", "2"]);
    assert!(String::from_utf8_lossy(&r.stderr).contains("nothing to write"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_arguments_name_the_problem_before_any_work() {
    let dir = std::env::temp_dir().join(format!("vmlmap-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = |q: &std::path::Path| q.to_str().unwrap().to_string();
    let fails = |args: &[&str], message: &str| {
        let r = vmlmap(args);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(message), "{args:?}: {err}");
    };
    fails(
        &[
            "restore", "--input", "y.png", "--output", "x.png", "--steps", "-1",
        ],
        "invalid value '-1' for '--steps",
    );
    fails(
        &[
            "restore", "--input", "y.png", "--output", "x.png", "--task", "foo",
        ],
        "unknown task \"foo\"",
    );
    let out = p(&dir.join("demo"));
    fails(&["demo", "--out", &out, "--zoom", "0"], "--zoom");
    fails(
        &[
            "sample",
            "--output",
            &p(&dir.join("s.png")),
            "--zoom",
            "100000",
        ],
        "--zoom",
    );
    assert!(!dir.join("demo").exists(), "demo left a folder behind");
    fails(
        &["bench-nfe", "--model", "default", "--size", "64"],
        "--size 64",
    );
    fails(
        &["sample", "--output", &p(&dir.join("s.jpg"))],
        "this command writes .png",
    );
    fails(
        &[
            "denoise",
            "--input",
            "x.npy",
            "--output",
            &p(&dir.join("d.txt")),
            "--sigma",
            "0.5",
        ],
        "this command writes .png or .npy",
    );
    let gt = dir.join("gt.png");
    image::GrayImage::from_fn(32, 32, |x, _| image::Luma([(x * 8) as u8]))
        .save(&gt)
        .unwrap();
    fails(
        &[
            "degrade",
            "--task",
            "inpaint-box",
            "--task-opt",
            "size=32",
            "--input",
            &p(&gt),
            "--output",
            &p(&dir.join("y.png")),
        ],
        "observe nothing",
    );
    assert!(!dir.join("y.png").exists());
    // Every command takes the embedded prior's and the presets' names, inspect too.
    let r = vmlmap(&["models", "inspect", "default"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(String::from_utf8_lossy(&r.stdout).contains("adm-fashion32"));
    let r = vmlmap(&["models", "inspect", "adm-ffhq256", "--json"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["parameters"], 93_563_910);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Without the `wgpu` feature, `--device wgpu` says which build it needs, before any work.
#[cfg(not(feature = "wgpu"))]
#[test]
fn wgpu_without_the_feature_says_how_to_build_it() {
    let dir = std::env::temp_dir().join(format!("vmlmap-cli-nowgpu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("d.npy");
    let r = vmlmap(&[
        "denoise",
        "--input",
        &common::repo("assets/fashion-test/00_tshirt_t10k19.png"),
        "--sigma",
        "0.5",
        "--output",
        out.to_str().unwrap(),
        "--device",
        "wgpu",
    ]);
    assert_eq!(r.status.code(), Some(2));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("--features wgpu"), "{err}");
    assert!(!out.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
