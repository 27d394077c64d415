//! `vmlmap train`: an image folder, resuming, interruption, export, and the held-out
//! loss.

mod common;

use common::vmlmap;
use std::process::Command;

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
fn held_out_loss_during_training_and_from_models_eval_agree() {
    let (dir, data, arch) = tiny_training_setup("heldout", 3);
    let (ck, out) = (dir.join("state.safetensors"), dir.join("tiny.safetensors"));
    let (data_s, out_s) = (data.to_str().unwrap(), out.to_str().unwrap());
    let eval = ["--batch", "2", "--eval-every", "2", "--eval-images", "3"];
    let extra = [&eval[..], &["--eval-data", data_s, "--export", out_s]].concat();
    let r = vmlmap(&train_args(&data, &arch, "3", &ck, &extra));
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
