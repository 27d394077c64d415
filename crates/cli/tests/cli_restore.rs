//! `vmlmap degrade` and `vmlmap restore`: sidecars, batches, every solver, and the
//! checks made before any work.

mod common;

use common::{fixture, no_cache, vmlmap};
use std::process::Command;

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

/// Three 16x16 colour images `a`, `b`, `c` in `dir`, degraded into `ys` by box
/// inpainting, 2x super-resolution and Gaussian deblurring; returns (name, task, sigma_y).
fn degrade_three(
    dir: &std::path::Path,
    ys: &std::path::Path,
) -> [(&'static str, &'static str, &'static str); 3] {
    let p = |q: &std::path::Path| q.to_str().unwrap().to_string();
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
    tasks
}

#[test]
fn restore_many_measurements_in_batches_equals_single_restores() {
    let dir = std::env::temp_dir().join(format!("vmlmap-cli-batch-{}", std::process::id()));
    let ys = dir.join("ys");
    std::fs::create_dir_all(&ys).unwrap();
    let p = |q: &std::path::Path| q.to_str().unwrap().to_string();
    let model = fixture("ddpm/tiny_ddpm");
    let tasks = degrade_three(&dir, &ys);
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
        let (b, _) = vmlmap_io::read_npy(p(&out.join(format!("{name}.npy")))).unwrap();
        let e = vmlmap_core::vector::rel_err(&b, &a);
        assert!(e < 1e-4, "{name}: batch vs single {e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn repeated_inputs_take_their_ground_truths_in_order_and_outputs_are_not_overwritten() {
    let dir = std::env::temp_dir().join(format!("vmlmap-cli-repeated-{}", std::process::id()));
    let ys = dir.join("ys");
    std::fs::create_dir_all(&ys).unwrap();
    let p = |q: &std::path::Path| q.to_str().unwrap().to_string();
    let model = fixture("ddpm/tiny_ddpm");
    degrade_three(&dir, &ys);
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
    // Every solver the binary declares (`vmlmap solvers --json`), not a list kept here.
    let listed = vmlmap(&["solvers", "--json"]);
    assert!(listed.status.success());
    let solvers: Vec<(String, bool)> = String::from_utf8(listed.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["name"].as_str().unwrap().to_string(),
                v["uses_prior"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(solvers.len() >= 11 && solvers.iter().any(|(n, _)| n == "vml-map"));
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
        for (solver, uses_prior) in &solvers {
            let solver = solver.as_str();
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
            let steps = *uses_prior;
            if steps {
                args.extend(["--steps".into(), "3".into()]);
            }
            let r = Command::new(env!("CARGO_BIN_EXE_vmlmap"))
                .env("VMLMAP_CACHE", no_cache())
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
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn solver_options_are_applied_and_errors_name_the_solver_key_and_value() {
    let dir = std::env::temp_dir().join(format!("vmlmap-cli-options-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = |q: &std::path::Path| q.to_str().unwrap().to_string();
    let gt = dir.join("gt.png");
    image::RgbImage::from_fn(16, 16, |x, y| {
        image::Rgb([(x * 15) as u8, (y * 15) as u8, 90])
    })
    .save(&gt)
    .unwrap();
    let model = fixture("ddpm/tiny_ddpm");
    let y = p(&dir.join("sr2.png"));
    let r = vmlmap(&[
        "degrade",
        "--task",
        "sr2",
        "--input",
        &p(&gt),
        "--output",
        &y,
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
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
        "solver dps: unknown option `eta`, its options are `steps`, `zeta`, `clip`",
    );
    bad(
        &["--solver", "diffpir", "--solver-opt", "zeta=x"],
        "solver diffpir: zeta=\"x\" is not a number",
    );
    bad(
        &["--solver", "pinv", "--steps", "3"],
        "solver pinv: unknown option `steps`, it takes no options",
    );
    bad(
        &["--solver", "magic"],
        "invalid value 'magic' for '--solver <SOLVER>'",
    );
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
