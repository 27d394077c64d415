//! The `vmlmap` binary: exit codes, JSON output and error messages.

use std::process::Command;

fn vmlmap(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vmlmap"))
        .args(args)
        .output()
        .expect("runs")
}

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
    // 2 tasks x 2 noise levels x (2 priors x (4 per-step + 4 end-to-end + 8 baselines) + 1 mode)
    assert_eq!(n, 2 * 2 * (2 * (8 + 8) + 1));
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

fn fixture(p: &str) -> String {
    format!("{}/../../tests/fixtures/{p}", env!("CARGO_MANIFEST_DIR"))
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

#[test]
fn degrade_then_restore_with_sidecar_metrics_and_errors() {
    let dir = std::env::temp_dir().join(format!("vmlmap-cli-restore-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let gt = dir.join("gt.png");
    image::RgbImage::from_fn(16, 16, |x, y| {
        image::Rgb([(x * 15) as u8, (y * 15) as u8, ((x + y) * 7) as u8])
    })
    .save(&gt)
    .unwrap();
    let y = dir.join("y.png");
    let p = |q: &std::path::Path| q.to_str().unwrap().to_string();
    let r = vmlmap(&[
        "degrade",
        "--task",
        "inpaint-box",
        "--input",
        &p(&gt),
        "--output",
        &p(&y),
        "--sigma-y",
        "0.05",
        "--seed",
        "3",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    for ext in ["png", "npy", "json"] {
        assert!(y.with_extension(ext).is_file(), "{ext}");
    }
    let side: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(y.with_extension("json")).unwrap()).unwrap();
    assert_eq!(side["task"], "inpaint-box");
    assert_eq!(side["sigma_y"], 0.05);
    assert_eq!(side["measurement_len"], 3 * (256 - 64));
    // pinv restores the observed pixels exactly (up to noise) and reports metrics.
    let out = dir.join("p.png");
    let model = fixture("ddpm/tiny_ddpm");
    let r = vmlmap(&[
        "restore",
        "--input",
        &p(&y),
        "--output",
        &p(&out),
        "--solver",
        "pinv",
        "--model",
        &model,
        "--ground-truth",
        &p(&gt),
        "--json",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    for k in ["psnr", "ssim", "nfe", "vjp", "seconds"] {
        assert!(v.get(k).is_some(), "{k}");
    }
    assert_eq!(v["nfe"], 0);
    // VML-MAP runs through the network: N*(K+1) NFE and N*K VJP.
    let r = vmlmap(&[
        "restore",
        "--input",
        &p(&y.with_extension("json")),
        "--output",
        &p(&dir.join("v.npy")),
        "--model",
        &model,
        "--steps",
        "3",
        "--inner",
        "2",
        "--json",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!((v["nfe"].as_u64(), v["vjp"].as_u64()), (Some(9), Some(6)));
    // Contradicting flags and existing outputs are errors.
    let r = vmlmap(&[
        "restore",
        "--input",
        &p(&y),
        "--output",
        &p(&dir.join("z.png")),
        "--model",
        &model,
        "--sigma-y",
        "0.1",
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("contradicts"));
    let r = vmlmap(&[
        "restore",
        "--input",
        &p(&y),
        "--output",
        &p(&out),
        "--solver",
        "pinv",
        "--model",
        &model,
    ]);
    assert_eq!(r.status.code(), Some(2));
    let r = vmlmap(&[
        "degrade",
        "--task",
        "sr3",
        "--input",
        &p(&gt),
        "--output",
        &p(&dir.join("w.png")),
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("unknown task \"sr3\""));
    std::fs::remove_dir_all(&dir).unwrap();
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
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A folder of `n` 8x8 grey training images and a tiny `UNetModel` configuration (JSON)
/// under a fresh temporary folder `vmlmap-cli-NAME-PID`; returns (folder, data, arch).
fn tiny_training_setup(
    name: &str,
    n: usize,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("vmlmap-cli-{name}-{}", std::process::id()));
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let shape = vmlmap_core::Shape::new(1, 8, 8).unwrap();
    for k in 0..n {
        let img: Vec<f64> = (0..64)
            .map(|p| ((p * (k + 3)) % 17) as f64 / 8.0 - 1.0)
            .collect();
        let path = data.join(format!("{k}.png"));
        vmlmap_io::write_png(path.to_str().unwrap(), &img, shape, false).unwrap();
    }
    let arch = dir.join("arch.json");
    std::fs::write(
        &arch,
        r#"{"image_size": 8, "in_channels": 1, "model_channels": 32, "out_channels": 1,
            "num_res_blocks": 1, "attention_resolutions": [2], "channel_mult": [1, 1],
            "num_head_channels": 32, "use_scale_shift_norm": true}"#,
    )
    .unwrap();
    (dir, data, arch)
}

/// `vmlmap train` on the tiny setup's images and architecture, to `steps`, with the
/// checkpoint `ck`, then `extra`.
fn train_args<'a>(
    data: &'a std::path::Path,
    arch: &'a std::path::Path,
    steps: &'a str,
    ck: &'a std::path::Path,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "train",
        "--data",
        data.to_str().unwrap(),
        "--arch",
        arch.to_str().unwrap(),
        "--steps",
        steps,
        "--checkpoint",
        ck.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn train_on_an_image_folder_resumes_and_exports_a_loadable_prior() {
    let (dir, data, arch) = tiny_training_setup("train", 3);
    let (ck, out) = (dir.join("state.safetensors"), dir.join("tiny.safetensors"));
    let train_with = |steps: &str, extra: &[&str]| {
        let mut args = train_args(
            &data,
            &arch,
            steps,
            &ck,
            &[
                "--batch",
                "2",
                "--save-every",
                "2",
                "--export",
                out.to_str().unwrap(),
            ],
        );
        args.extend_from_slice(extra);
        vmlmap(&args)
    };
    let train = |steps: &str| train_with(steps, &[]);
    let r = train("3");
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("3 images") && err.contains("a fresh start") && !err.contains("resuming"),
        "{err}"
    );
    for f in ["tiny.safetensors", "tiny.json", "tiny.loss.png"] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    // The export gets the mode its neighbours get (not tempfile's 0600).
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |f: &str| std::fs::metadata(dir.join(f)).unwrap().permissions().mode();
        assert_eq!(mode("tiny.safetensors"), mode("tiny.json"));
    }
    // The export is an ordinary model: inspect it and denoise with it.
    let r = vmlmap(&["models", "inspect", out.to_str().unwrap(), "--json"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(String::from_utf8_lossy(&r.stdout).contains("[1,8,8]"));
    // An existing export is refused before any training step.
    let r = train("4");
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{err}");
    assert!(
        err.contains("tiny.safetensors: exists; pass --force") && !err.contains("parameters;"),
        "{err}"
    );
    // Running again resumes from the checkpoint.
    let clear = || {
        for f in ["tiny.safetensors", "tiny.json", "tiny.loss.png"] {
            std::fs::remove_file(dir.join(f)).unwrap();
        }
    };
    clear();
    let r = train("4");
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        r.status.success() && err.contains("resuming from") && err.contains("at step 3"),
        "{err}"
    );
    // The resumed run names the settings that changed (here the cosine's end, --steps).
    assert!(
        err.contains("note: the checkpoint was trained with: batch 2, lr 2e-4 (200 warm-up steps, then cosine to 2e-5 at step 3)")
            && err.contains("continuing with:           batch 2, lr 2e-4 (200 warm-up steps, then cosine to 2e-5 at step 4)"),
        "{err}"
    );
    // Schedules that do not exist, or a cosine that would rise, are refused by name.
    for (flag, value, says) in [
        (
            "--lr-decay",
            "linear",
            "invalid value 'linear' for '--lr-decay <LR_DECAY>'\n  [possible values: cosine, constant]",
        ),
        (
            "--lr-final",
            "1e-3",
            "invalid training setting lr_final = 0.001: must be in [0, lr]",
        ),
    ] {
        let r = train_with("5", &[flag, value]);
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(
            !r.status.success() && err.contains(says),
            "{flag} {value}: {err}"
        );
    }
    // Images that do not fit the architecture are refused with both shapes.
    clear();
    std::fs::write(
        &arch,
        std::fs::read_to_string(&arch)
            .unwrap()
            .replace("\"image_size\": 8", "\"image_size\": 16"),
    )
    .unwrap();
    let r = train("5");
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("training images are 1x8x8, the architecture expects 1x16x16"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn interrupted_training_saves_its_checkpoint_and_exits_130() {
    use std::io::{BufRead, Read};
    let (dir, data, arch) = tiny_training_setup("sigterm", 1);
    let ck = dir.join("state.safetensors");
    let mut child = Command::new(env!("CARGO_BIN_EXE_vmlmap"))
        .args(train_args(
            &data,
            &arch,
            "100000000",
            &ck,
            &["--batch", "1", "--save-every", "100000000"],
        ))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    // The handler is installed before this line is printed.
    while !seen.contains("a fresh start") {
        assert!(
            err.read_line(&mut seen).unwrap() > 0,
            "no start line: {seen}"
        );
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{rest}");
    assert!(
        rest.contains("interrupted at step") && rest.contains("run the same command to resume"),
        "{rest}"
    );
    assert!(ck.is_file(), "checkpoint saved on interrupt");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn noise_free_measurement_is_written_exactly() {
    // sigma_y = 1e-9: the .npy must keep y = Hx + 1e-9 z to far better than float32's
    // 6e-8, or the pseudo-inverse of a blur amplifies the rounding by 1/s_min ~ 5e6.
    let dir = std::env::temp_dir().join(format!("vmlmap-cli-exact-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let shape = vmlmap_core::Shape::new(1, 32, 32).unwrap();
    let x: Vec<f64> = (0..1024)
        .map(|p| ((p * 37) % 255) as f64 / 127.5 - 1.0)
        .collect();
    let gt = dir.join("gt.png");
    vmlmap_io::write_png(gt.to_str().unwrap(), &x, shape, false).unwrap();
    let y = dir.join("y.png");
    let r = vmlmap(&[
        "degrade",
        "--task",
        "deblur-gaussian",
        "--input",
        gt.to_str().unwrap(),
        "--output",
        y.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let (got, _) = vmlmap_io::read_npy(y.with_extension("npy").to_str().unwrap()).unwrap();
    let op = vmlmap_operators::TaskSpec::new("deblur-gaussian")
        .unwrap()
        .build(shape)
        .unwrap();
    let worst = op
        .apply(&x)
        .iter()
        .zip(&got)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-8, "measurement differs from Hx by {worst}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn restore_many_measurements_in_batches_equals_single_restores() {
    let dir = std::env::temp_dir().join(format!("vmlmap-cli-batch-{}", std::process::id()));
    let ys = dir.join("ys");
    std::fs::create_dir_all(&ys).unwrap();
    let p = |q: &std::path::Path| q.to_str().unwrap().to_string();
    let model = fixture("ddpm/tiny_ddpm");
    let tasks = [
        ("a", "inpaint-box", "0.05"),
        ("b", "sr2", "1e-9"),
        ("c", "deblur-gaussian", "0.05"),
    ];
    for (i, (name, task, sy)) in tasks.iter().enumerate() {
        let gt = dir.join(format!("{name}.png"));
        image::RgbImage::from_fn(16, 16, |x, y| {
            image::Rgb([
                (x * 15) as u8,
                (y * 15) as u8,
                ((x + y + 3 * i as u32) * 7) as u8,
            ])
        })
        .save(&gt)
        .unwrap();
        let r = vmlmap(&[
            "degrade",
            "--task",
            task,
            "--input",
            &p(&gt),
            "--output",
            &p(&ys.join(format!("{name}.png"))),
            "--sigma-y",
            sy,
        ]);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    }
    let common = [
        "--model",
        model.as_str(),
        "--steps",
        "3",
        "--inner",
        "2",
        "--seed",
        "5",
        "--json",
    ];
    // The folder, restored two at a time, into an output folder of .npy files.
    let out = dir.join("out");
    let mut args = vec!["restore", "--input"];
    let ys_s = p(&ys);
    let out_s = p(&out);
    args.extend([
        ys_s.as_str(),
        "--output",
        out_s.as_str(),
        "--format",
        "npy",
        "--batch",
        "2",
    ]);
    args.extend(common);
    let r = vmlmap(&args);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8(r.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines
            .iter()
            .map(|v| v["batch"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![2, 2, 1]
    );
    // Each equals its single restore to f32 round-off of the batched network.
    for (name, _, _) in tasks {
        let single = dir.join(format!("{name}-single.npy"));
        let mut args = vec!["restore", "--input"];
        let y = p(&ys.join(format!("{name}.json")));
        let s = p(&single);
        args.extend([y.as_str(), "--output", s.as_str()]);
        args.extend(common);
        let r = vmlmap(&args);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let (a, _) = vmlmap_io::read_npy(&s).unwrap();
        let (b, _) = vmlmap_io::read_npy(&p(&out.join(format!("{name}.npy")))).unwrap();
        let e = vmlmap_core::vector::rel_err(&b, &a);
        assert!(e < 1e-4, "{name}: batch vs single {e}");
    }
    // Repeated --input, ground truths in order; an existing output is refused before any work.
    let ya = p(&ys.join("a.png"));
    let yb = p(&ys.join("b.json"));
    let ga = p(&dir.join("a.png"));
    let gb = p(&dir.join("b.png"));
    let r = vmlmap(&[
        "restore",
        "--input",
        &ya,
        "--input",
        &yb,
        "--output",
        &p(&dir.join("two")),
        "--solver",
        "pinv",
        "--model",
        &model,
        "--ground-truth",
        &ga,
        "--ground-truth",
        &gb,
        "--json",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let text = String::from_utf8(r.stdout).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(text.lines().all(|l| l.contains("psnr")));
    assert!(dir.join("two/a.png").is_file() && dir.join("two/b.png").is_file());
    let r = vmlmap(&[
        "restore",
        "--input",
        &ya,
        "--input",
        &yb,
        "--output",
        &p(&dir.join("two")),
        "--solver",
        "pinv",
        "--model",
        &model,
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("exists"));
    let r = vmlmap(&[
        "restore",
        "--input",
        &ya,
        "--input",
        &yb,
        "--output",
        &p(&dir.join("three")),
        "--ground-truth",
        &ga,
        "--model",
        &model,
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("1 --ground-truth for 2 measurements"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn restore_checks_its_inputs_before_the_work() {
    let dir = std::env::temp_dir().join(format!("vmlmap-cli-checks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = |q: &std::path::Path| q.to_str().unwrap().to_string();
    let gt = dir.join("gt.png");
    image::RgbImage::from_fn(16, 16, |x, y| {
        image::Rgb([(x * 15) as u8, (y * 15) as u8, 9])
    })
    .save(&gt)
    .unwrap();
    let small = dir.join("small.png");
    image::RgbImage::from_fn(8, 8, |x, _| image::Rgb([(x * 30) as u8, 0, 0]))
        .save(&small)
        .unwrap();
    let y = dir.join("y.png");
    let r = vmlmap(&[
        "degrade",
        "--task",
        "sr2",
        "--input",
        &p(&gt),
        "--output",
        &p(&y),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let model = fixture("ddpm/tiny_ddpm");
    let fails = |extra: &[&str], message: &str| {
        let out = dir.join("out.png");
        let mut args = vec!["restore", "--input"];
        let ys = p(&y);
        let m = model.clone();
        args.extend([
            ys.as_str(),
            "--model",
            m.as_str(),
            "--steps",
            "2",
            "--inner",
            "1",
        ]);
        if !extra.contains(&"--output") {
            args.extend(["--output", out.to_str().unwrap()]);
        }
        args.extend(extra);
        let r = vmlmap(&args);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(message), "{extra:?}: {err}");
        assert!(!out.exists(), "{extra:?} wrote an output");
    };
    fails(&["--sigma-y", "nan"], "invalid --sigma-y NaN");
    fails(
        &["--noise-convention", "0-255"],
        "unknown noise convention \"0-255\"",
    );
    fails(&["--ground-truth", &p(&small)], "ground truth");
    fails(
        &["--output", &p(&dir.join("nowhere/out.png"))],
        "does not exist",
    );
    fails(
        &["--output", &p(&dir.join("out.jpg"))],
        "this command writes .png or .npy",
    );
    fails(
        &["--output", &p(&dir.join("out"))],
        "this command writes .png or .npy",
    );
    // Scoring the output against itself is refused, not reported as 55 dB.
    std::fs::copy(&gt, dir.join("same.png")).unwrap();
    let same = p(&dir.join("same.png"));
    let r = vmlmap(&[
        "restore",
        "--input",
        &p(&y),
        "--output",
        &same,
        "--ground-truth",
        &same,
        "--solver",
        "pinv",
        "--model",
        &model,
        "--force",
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("also the output file"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn restore_runs_every_solver_and_checks_solver_options() {
    let dir = std::env::temp_dir().join(format!("vmlmap-cli-solvers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = |q: &std::path::Path| q.to_str().unwrap().to_string();
    let gt = dir.join("gt.png");
    image::RgbImage::from_fn(16, 16, |x, y| {
        image::Rgb([(x * 15) as u8, (y * 15) as u8, 90])
    })
    .save(&gt)
    .unwrap();
    let model = fixture("ddpm/tiny_ddpm");
    let list = vmlmap(&["restore", "--help"]);
    let help = String::from_utf8_lossy(&list.stdout);
    for (task, sy) in [
        ("inpaint-box", "1e-9"),
        ("sr2", "0.05"),
        ("deblur-gaussian", "0.05"),
    ] {
        let y = dir.join(format!("{task}.png"));
        let r = vmlmap(&[
            "degrade",
            "--task",
            task,
            "--input",
            &p(&gt),
            "--output",
            &p(&y),
            "--sigma-y",
            sy,
        ]);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        for solver in [
            "vml-map",
            "vml-map-plain",
            "pinv",
            "tikhonov",
            "ddnm",
            "ddrm",
            "diffpir",
            "pigdm",
            "dps",
            "daps",
            "red-diff",
        ] {
            assert!(help.contains(solver), "--help lists {solver}");
            let out = dir.join(format!("{task}-{solver}.png"));
            let mut args = vec![
                "restore".to_string(),
                "--input".into(),
                p(&y),
                "--output".into(),
                p(&out),
                "--solver".into(),
                solver.into(),
                "--model".into(),
                model.clone(),
                "--ground-truth".into(),
                p(&gt),
                "--json".into(),
            ];
            let steps = !["pinv", "tikhonov"].contains(&solver);
            if steps {
                args.extend(["--steps".into(), "3".into()]);
            }
            let r = Command::new(env!("CARGO_BIN_EXE_vmlmap"))
                .args(&args)
                .output()
                .unwrap();
            assert!(
                r.status.success(),
                "{solver} {task}: {}",
                String::from_utf8_lossy(&r.stderr)
            );
            let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
            assert_eq!(v["solver"], solver);
            assert!(v["psnr"].as_f64().unwrap().is_finite(), "{solver} {task}");
            let nfe = v["nfe"].as_u64().unwrap();
            assert_eq!(nfe > 0, steps, "{solver} {task}: nfe {nfe}");
        }
    }
    // Solver options: applied, and typed errors name the solver, key and value.
    let y = p(&dir.join("sr2.png"));
    let bad = |opts: &[&str], message: &str| {
        let mut args = vec![
            "restore",
            "--input",
            &y,
            "--output",
            "unused.png",
            "--model",
            &model,
        ];
        args.extend(opts);
        let r = vmlmap(&args);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{opts:?}: {err}");
        assert!(err.contains(message), "{opts:?}: {err}");
    };
    bad(&["--solver", "dps", "--solver-opt", "zeta=-1"], "zeta = -1");
    bad(
        &["--solver", "dps", "--solver-opt", "eta=0.3"],
        "solver dps: unknown option \"eta\"",
    );
    bad(
        &["--solver", "diffpir", "--solver-opt", "zeta=x"],
        "solver diffpir: option zeta=\"x\"",
    );
    bad(
        &["--solver", "pinv", "--steps", "3"],
        "solver pinv: unknown option \"steps\"",
    );
    bad(&["--solver", "magic"], "unknown solver \"magic\"");
    let r = vmlmap(&[
        "restore",
        "--input",
        &y,
        "--output",
        &p(&dir.join("t.png")),
        "--solver",
        "tikhonov",
        "--solver-opt",
        "lambda=0.5",
        "--model",
        &model,
        "--json",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
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

#[test]
fn held_out_loss_during_training_and_from_models_eval_agree() {
    let (dir, data, arch) = tiny_training_setup("heldout", 3);
    let (ck, out) = (dir.join("state.safetensors"), dir.join("tiny.safetensors"));
    let r = vmlmap(&train_args(
        &data,
        &arch,
        "3",
        &ck,
        &[
            "--batch",
            "2",
            "--eval-every",
            "2",
            "--eval-images",
            "3",
            "--eval-data",
            data.to_str().unwrap(),
            "--export",
            out.to_str().unwrap(),
        ],
    ));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    // At step 2 (every 2) and at the end.
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("held-out MSE (3 images)"))
        .collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[1].starts_with("step 3:"), "{err}");
    let at_end: Vec<f64> = lines[1]
        .split("sigma ")
        .skip(1)
        .map(|p| {
            p.split(": ")
                .nth(1)
                .unwrap()
                .trim_end_matches(", ")
                .trim_end_matches(',')
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(at_end.len(), 6);
    // The export draws the held-out curve beside the training loss.
    let curve = image::open(dir.join("tiny.held-out.png")).expect("the held-out plot");
    assert_eq!((curve.width(), curve.height()), (720, 360));
    // The exported EMA weights score the same on the same images and noise.
    let r = vmlmap(&[
        "models",
        "eval",
        out.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--json",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["images"], 3);
    let mse: Vec<f64> = v["mse"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mse"].as_f64().unwrap())
        .collect();
    for (a, b) in at_end.iter().zip(&mse) {
        assert!((a / b - 1.0).abs() < 1e-3, "{a} vs {b}");
    }
    // That file as the reference of a re-export: a second panel (the ratio) below.
    let reference = dir.join("reference.json");
    std::fs::write(&reference, &r.stdout).unwrap();
    let again = dir.join("again.safetensors");
    let export_with = |reference: &std::path::Path| {
        vmlmap(&train_args(
            &data,
            &arch,
            "3",
            &ck,
            &[
                "--eval-images",
                "3",
                "--export",
                again.to_str().unwrap(),
                "--held-out-reference",
                reference.to_str().unwrap(),
                "--held-out-reference-name",
                "itself",
            ],
        ))
    };
    let r2 = export_with(&reference);
    assert!(
        r2.status.success(),
        "{}",
        String::from_utf8_lossy(&r2.stderr)
    );
    let both = image::open(dir.join("again.held-out.png")).expect("the held-out plot");
    assert_eq!((both.width(), both.height()), (720, 720));
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());
    // A reference that is not `models eval --json` output is refused before anything is
    // written, naming the file and what is missing.
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"images": 3}"#).unwrap();
    std::fs::remove_file(&again).unwrap();
    let r2 = export_with(&bad);
    assert_eq!(r2.status.code(), Some(2));
    let err2 = String::from_utf8_lossy(&r2.stderr);
    assert!(err2.contains("bad.json") && err2.contains("mse"), "{err2}");
    assert!(!again.exists());
    // A model of another image size is refused, naming both sizes.
    let r = vmlmap(&[
        "models",
        "eval",
        "default",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(2));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("1x8x8") || err.contains("8x8"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
