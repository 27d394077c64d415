//! A user's own weights and damaged files: weights without a configuration, damaged
//! checkpoints, content changed on reading, progress and failures of long work, absurd
//! sizes, and the help texts.

mod common;

use common::*;
use std::path::{Path, PathBuf};

#[test]
fn weights_without_their_configuration_are_a_preset_or_refused() {
    let dir = scratch("weights");
    // The shipped weights alone are recognised as the adm-fashion32 preset they are.
    let shipped = dir.join("fashion.safetensors");
    std::fs::copy(repo("assets/models/fashion32.safetensors"), &shipped).unwrap();
    let r = vmlmap(&["models", "inspect", &s(&shipped), "--json"]);
    assert!(r.status.success(), "{}", stderr(&r));
    assert_eq!(json(&r)["preset"], "adm-fashion32");
    // Same network as the embedded one: the same restoration, bit for bit.
    let photo = dir.join("photo.png");
    grey(&photo, 32, 32, |x, y| ((x * 7 + y * 13) % 250) as u8);
    let y = dir.join("y.png");
    assert!(vmlmap(&[
        "degrade",
        "--task",
        "sr4",
        "--input",
        &s(&photo),
        "--output",
        &s(&y)
    ])
    .status
    .success());
    let mut outs = Vec::new();
    for (model, name) in [("default", "a.npy"), (s(&shipped).as_str(), "b.npy")] {
        let out = dir.join(name);
        let r = vmlmap(&[
            "restore",
            "--input",
            &s(&y),
            "--output",
            &s(&out),
            "--model",
            model,
            "--steps",
            "2",
            "--inner",
            "1",
        ]);
        assert!(r.status.success(), "{}", stderr(&r));
        outs.push(std::fs::read(&out).unwrap());
    }
    assert_eq!(outs[0], outs[1]);
    // Weights of another architecture without NAME.json: refused, naming what is missing.
    let tiny = dir.join("tiny.safetensors");
    std::fs::copy(repo("tests/fixtures/adm/tiny_a.safetensors"), &tiny).unwrap();
    let r = vmlmap(&["models", "inspect", &s(&tiny)]);
    assert_eq!(r.status.code(), Some(2));
    let e = stderr(&r);
    assert!(e.contains("tiny.json") && e.contains("num_heads"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn content_changed_on_reading_is_said_not_silent() {
    let dir = scratch("warnings");
    let rgb = dir.join("rgb.png");
    image::RgbaImage::from_fn(32, 32, |x, y| {
        image::Rgba([(x * 8) as u8, (y * 8) as u8, 9, 200])
    })
    .save(&rgb)
    .unwrap();
    let r = vmlmap(&[
        "denoise",
        "--input",
        &s(&rgb),
        "--sigma",
        "0.1",
        "--output",
        &s(&dir.join("d.png")),
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    let e = stderr(&r);
    assert!(
        e.contains("converted to grey") && e.contains("alpha"),
        "{e}"
    );
    // An opaque grey PNG saved as RGB is not a colour image: no warning.
    let flat = dir.join("flat.png");
    image::RgbImage::from_fn(32, 32, |x, _| image::Rgb([x as u8 * 4; 3]))
        .save(&flat)
        .unwrap();
    let r = vmlmap(&[
        "denoise",
        "--input",
        &s(&flat),
        "--sigma",
        "0.1",
        "--output",
        &s(&dir.join("f.png")),
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    assert!(!stderr(&r).contains("warning:"), "{}", stderr(&r));
    // A [0, 255] array given as a clean image.
    let npy = dir.join("x255.npy");
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let mut header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 32, 32), }".to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    for i in 0..1024 {
        bytes.extend(((i % 256) as f64).to_le_bytes());
    }
    std::fs::write(&npy, &bytes).unwrap();
    let r = vmlmap(&[
        "degrade",
        "--task",
        "sr2",
        "--input",
        &s(&npy),
        "--output",
        &s(&dir.join("y.png")),
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    assert!(stderr(&r).contains("outside the [-1, 1]"), "{}", stderr(&r));
    // A truncated .npy says so.
    std::fs::write(&npy, &bytes[..bytes.len() - 100]).unwrap();
    let r = vmlmap(&[
        "degrade",
        "--task",
        "sr2",
        "--input",
        &s(&npy),
        "--output",
        &s(&dir.join("z.png")),
    ]);
    assert_eq!(r.status.code(), Some(2));
    let e = stderr(&r);
    assert!(e.contains("truncated") && e.contains("1024"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The shipped weights with their header edited by `edit`, and the shipped configuration.
fn edited_weights(
    dir: &Path,
    name: &str,
    edit: impl Fn(&mut serde_json::Map<String, serde_json::Value>),
) -> PathBuf {
    let bytes = std::fs::read(repo("assets/models/fashion32.safetensors")).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    edit(&mut header);
    let h = serde_json::to_vec(&header).unwrap();
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend(&h);
    out.extend(&bytes[8 + n..]);
    let path = dir.join(format!("{name}.safetensors"));
    std::fs::write(&path, out).unwrap();
    std::fs::copy(
        repo("assets/models/fashion32.json"),
        dir.join(format!("{name}.json")),
    )
    .unwrap();
    path
}

#[test]
fn damaged_weights_and_checkpoints_are_named_once_and_precisely() {
    let dir = scratch("damaged");
    let renamed = edited_weights(&dir, "renamed", |h| {
        let t = h.remove("out.2.weight").unwrap();
        h.insert("out.2.weight_renamed".into(), t);
    });
    let r = vmlmap(&["models", "inspect", &s(&renamed)]);
    assert_eq!(r.status.code(), Some(2));
    let e = stderr(&r);
    assert!(
        e.contains("missing key out.2.weight ")
            && e.contains("unexpected key out.2.weight_renamed"),
        "{e}"
    );
    let reshaped = edited_weights(&dir, "reshaped", |h| {
        let t = h.get_mut("input_blocks.3.0.in_layers.2.weight").unwrap();
        t["shape"] = serde_json::json!([32, 64, 3, 3]);
    });
    let r = vmlmap(&["models", "inspect", &s(&reshaped)]);
    let e = stderr(&r);
    assert!(
        e.contains("(0 missing, 1 shape mismatches, 0 unexpected)"),
        "{e}"
    );
    assert_eq!(e.matches("shape mismatch for").count(), 1, "{e}");
    // Without its configuration, the renamed file cannot be recognised: said once.
    std::fs::remove_file(dir.join("renamed.json")).unwrap();
    let r = vmlmap(&["models", "inspect", &s(&renamed)]);
    let e = stderr(&r);
    assert_eq!(e.matches("cannot recognise").count(), 1, "{e}");
    assert!(e.contains("no key out.2.weight"), "{e}");
    // A training checkpoint that is not one: the path once.
    let imgs = dir.join("imgs");
    std::fs::create_dir_all(&imgs).unwrap();
    for k in 0..2 {
        grey(&imgs.join(format!("{k}.png")), 32, 32, |x, y| {
            ((x + y + k) * 4) as u8
        });
    }
    let state = dir.join("state.safetensors");
    std::fs::write(&state, b"not a checkpoint").unwrap();
    let r = vmlmap(&[
        "train",
        "--data",
        &s(&imgs),
        "--checkpoint",
        &s(&state),
        "--steps",
        "1",
        "--export",
        &s(&dir.join("e.safetensors")),
    ]);
    assert_eq!(r.status.code(), Some(2));
    let e = stderr(&r);
    assert_eq!(e.matches("state.safetensors").count(), 1, "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn long_work_reports_progress_and_failures_leave_nothing_behind() {
    let dir = scratch("progress");
    // Not a terminal: log lines, the last one at the end of each batch.
    let photo = dir.join("photo.png");
    grey(&photo, 32, 32, |x, y| ((x * 3 + y * 5) % 250) as u8);
    let y = dir.join("y.png");
    assert!(vmlmap(&[
        "degrade",
        "--task",
        "sr2",
        "--input",
        &s(&photo),
        "--output",
        &s(&y)
    ])
    .status
    .success());
    let r = vmlmap(&[
        "restore",
        "--input",
        &s(&y),
        "--output",
        &s(&dir.join("x.png")),
        "--steps",
        "3",
        "--inner",
        "1",
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    assert!(stderr(&r).contains("restore: 3/3"), "{}", stderr(&r));
    let r = vmlmap(&[
        "sample",
        "--count",
        "2",
        "--steps",
        "2",
        "--output",
        &s(&dir.join("s.png")),
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    assert!(stderr(&r).contains("sample: 2/2"), "{}", stderr(&r));
    // demo: a failure before the work leaves no output folder behind.
    let out = dir.join("demo-out");
    let r = vmlmap(&["demo", "--out", &s(&out), "--solvers", "pinv,nonsense"]);
    assert_eq!(r.status.code(), Some(2));
    assert!(!out.exists(), "no empty folder left");
    // demo with pinv only (no network pass): progress, then the folder and its files.
    let r = vmlmap(&[
        "demo",
        "--out",
        &s(&out),
        "--solvers",
        "pinv",
        "--images",
        "1",
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    assert!(stderr(&r).contains("demo: 1/1"), "{}", stderr(&r));
    assert!(out.join("grid.png").is_file() && out.join("summary.md").is_file());
    // Compressed sensing beyond the dense limit is refused at once, naming the limit.
    let big = dir.join("big.png");
    grey(&big, 64, 64, |x, _| x as u8);
    let r = vmlmap(&[
        "degrade",
        "--task",
        "cs",
        "--input",
        &s(&big),
        "--output",
        &s(&dir.join("c.png")),
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert!(stderr(&r).contains("at most 1024 values"), "{}", stderr(&r));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn absurd_sizes_are_refused_before_any_allocation() {
    let dir = scratch("sizes");
    let low = dir.join("low.png");
    grey(&low, 8, 8, |x, y| (x * 20 + y) as u8);
    let out = s(&dir.join("x.png"));
    for (args, message) in [
        (
            vec![
                "restore",
                "--task",
                "sr4",
                "--input",
                &s(&low),
                "--output",
                &out,
                "--steps",
                "4294967295",
            ],
            "at most 100000",
        ),
        (
            vec![
                "restore",
                "--task",
                "sr4",
                "--input",
                &s(&low),
                "--output",
                &out,
                "--solver",
                "dps",
                "--steps",
                "4294967295",
            ],
            "at most 100000",
        ),
        (
            vec!["sample", "--count", "4294967295", "--output", &out],
            "--count must be in 1..=10000",
        ),
        (
            vec!["sample", "--steps", "4294967295", "--output", &out],
            "--steps must be in 1..=100000",
        ),
    ] {
        let r = vmlmap(&args);
        assert_eq!(r.status.code(), Some(2), "{args:?}: {}", stderr(&r));
        assert!(stderr(&r).contains(message), "{args:?}: {}", stderr(&r));
        assert!(!stderr(&r).contains("backtrace"), "{}", stderr(&r));
    }
    assert!(!dir.join("x.png").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn help_states_defaults_and_what_each_flag_does() {
    let help = |cmd: &str| String::from_utf8(vmlmap(&[cmd, "--help"]).stdout).unwrap();
    let restore = help("restore");
    for needle in [
        "vml-map 10, from the Tikhonov estimate",
        "inner gradient steps K per noise level (default 5)",
        "(default 1.5)",
        "Overwrite existing output files",
        "zero-one (doubled)",
        "without a sidecar",
    ] {
        assert!(restore.contains(needle), "restore --help lacks {needle:?}");
    }
    assert!(help("degrade").contains("Seed of the measurement noise"));
    assert!(help("train").contains("Images per step"));
    assert!(help("sample").contains("Overwrite an existing output"));
}

#[test]
fn a_measurement_the_model_cannot_take_is_refused_before_its_operator_is_built() {
    let dir = scratch("channels");
    let rgb = dir.join("rgb.png");
    image::RgbImage::from_fn(32, 32, |x, y| {
        image::Rgb([(x * 8) as u8, (y * 8) as u8, 90])
    })
    .save(&rgb)
    .unwrap();
    let y = dir.join("y.png");
    let r = vmlmap(&[
        "degrade",
        "--task",
        "cs",
        "--input",
        &s(&rgb),
        "--output",
        &s(&y),
    ]);
    // 3x32x32 = 3072 values: beyond the dense limit, refused by degrade itself.
    assert_eq!(r.status.code(), Some(2));
    let r = vmlmap(&[
        "degrade",
        "--task",
        "sr4",
        "--input",
        &s(&rgb),
        "--output",
        &s(&y),
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    let r = vmlmap(&[
        "restore",
        "--input",
        &s(&y),
        "--output",
        &s(&dir.join("x.png")),
    ]);
    assert_eq!(r.status.code(), Some(2));
    let e = stderr(&r);
    assert!(e.contains("3x32x32") && e.contains("1 channel"), "{e}");
    // pinv needs no model: it restores the RGB measurement.
    let r = vmlmap(&[
        "restore",
        "--input",
        &s(&y),
        "--output",
        &s(&dir.join("p.png")),
        "--solver",
        "pinv",
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    std::fs::remove_dir_all(&dir).unwrap();
}
