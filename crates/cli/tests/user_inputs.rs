//! A user's own files: measurements no command of this project wrote, sidecars that pin
//! their operators, and scores of the file as written.

mod common;

use common::*;
use std::path::Path;

#[test]
fn restore_takes_a_low_resolution_photo_that_no_command_wrote() {
    let dir = scratch("raw-sr");
    let low = dir.join("lowres.png");
    grey(&low, 8, 8, |x, y| (40 + 25 * ((x + 2 * y) % 7)) as u8);
    let out = dir.join("out.png");
    let r = vmlmap(&[
        "restore",
        "--task",
        "sr4",
        "--input",
        &s(&low),
        "--output",
        &s(&out),
        "--steps",
        "4",
        "--inner",
        "1",
        "--json",
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    let v = json(&r);
    assert_eq!(v["task"], "sr4");
    assert!(stderr(&r).contains("noise-free"), "{}", stderr(&r));
    // The final data step makes the 4x4 block means of the output the measurement.
    assert!(v["measurement_residual"].as_f64().unwrap() < 1e-3, "{v}");
    let img = image::open(&out).unwrap();
    assert_eq!((img.width(), img.height()), (32, 32));
    // A file of the wrong size says what size it expected, and nothing is written.
    let big = dir.join("big.png");
    grey(&big, 16, 16, |_, _| 100);
    let out2 = dir.join("out2.png");
    let r = vmlmap(&[
        "restore",
        "--task",
        "sr4",
        "--input",
        &s(&big),
        "--output",
        &s(&out2),
    ]);
    assert_eq!(r.status.code(), Some(2));
    let e = stderr(&r);
    assert!(e.contains("16x16") && e.contains("8x8 pixels"), "{e}");
    assert!(!out2.exists());
    // Without a sidecar and without --task: say what is missing.
    let r = vmlmap(&["restore", "--input", &s(&low), "--output", &s(&out2)]);
    assert_eq!(r.status.code(), Some(2));
    assert!(stderr(&r).contains("--task"), "{}", stderr(&r));
    // Compressed sensing measurements are not images.
    let r = vmlmap(&[
        "restore",
        "--task",
        "cs",
        "--input",
        &s(&big),
        "--output",
        &s(&out2),
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert!(stderr(&r).contains(".npy of 512 values"), "{}", stderr(&r));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn raw_inpainting_keeps_the_observed_pixels_and_takes_a_mask() {
    let dir = scratch("raw-inpaint");
    let photo = dir.join("photo.png");
    grey(&photo, 32, 32, |x, y| ((x * 7 + y * 3) % 250) as u8);
    let out = dir.join("filled.png");
    let r = vmlmap(&[
        "restore",
        "--task",
        "inpaint-box",
        "--input",
        &s(&photo),
        "--output",
        &s(&out),
        "--solver",
        "pinv",
        "--json",
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    let (a, b) = (read_grey(&photo), read_grey(&out));
    for (p, (x, y)) in a.iter().zip(&b).enumerate() {
        let (r, c) = (p / 32, p % 32);
        if !((8..24).contains(&r) && (8..24).contains(&c)) {
            assert_eq!(x, y, "observed pixel {r},{c} kept");
        }
    }
    // inpaint-mask with the user's mask; --task-opt is refused for sidecar measurements.
    let mask = dir.join("mask.png");
    grey(&mask, 32, 32, |x, _| if x < 20 { 255 } else { 0 });
    let out = dir.join("masked.npy");
    let r = vmlmap(&[
        "restore",
        "--task",
        "inpaint-mask",
        "--task-opt",
        &format!("path={}", s(&mask)),
        "--input",
        &s(&photo),
        "--output",
        &s(&out),
        "--solver",
        "pinv",
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    let y = dir.join("y.png");
    let r = vmlmap(&[
        "degrade",
        "--task",
        "sr2",
        "--input",
        &s(&photo),
        "--output",
        &s(&y),
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    let r = vmlmap(&[
        "restore",
        "--input",
        &s(&y),
        "--task-opt",
        "size=3",
        "--output",
        &s(&dir.join("z.png")),
        "--solver",
        "pinv",
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert!(
        stderr(&r).contains("--task-opt applies to raw"),
        "{}",
        stderr(&r)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sidecar_records_every_operator_parameter_and_pins_the_mask() {
    let dir = scratch("sidecar");
    let photo = dir.join("photo.png");
    grey(&photo, 32, 32, |x, y| ((x * 5 + y * 9) % 250) as u8);
    let r = vmlmap(&[
        "degrade",
        "--task",
        "deblur-gaussian",
        "--input",
        &s(&photo),
        "--output",
        &s(&dir.join("blur.png")),
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    let side: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("blur.json")).unwrap()).unwrap();
    assert_eq!(side["options"]["size"], "9");
    assert_eq!(side["options"]["std"], "1.5");
    // A mask given by a relative path: recorded absolute, with its SHA-256.
    grey(
        &dir.join("mask.png"),
        32,
        32,
        |_, y| if y < 16 { 255 } else { 0 },
    );
    let r = vmlmap_in(
        &dir,
        &[
            "degrade",
            "--task",
            "inpaint-mask",
            "--task-opt",
            "path=mask.png",
            "--input",
            "photo.png",
            "--output",
            "m.png",
        ],
    );
    assert!(r.status.success(), "{}", stderr(&r));
    let side: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("m.json")).unwrap()).unwrap();
    assert!(Path::new(side["options"]["path"].as_str().unwrap()).is_absolute());
    assert_eq!(side["options"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(side["options"]["invert"], "false");
    // Restored from another folder: the operator is found.
    let r = vmlmap(&[
        "restore",
        "--input",
        &s(&dir.join("m.json")),
        "--output",
        &s(&dir.join("a.png")),
        "--solver",
        "pinv",
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    // The mask edited after degrade: refused, naming the file.
    grey(
        &dir.join("mask.png"),
        32,
        32,
        |_, y| if y < 17 { 255 } else { 0 },
    );
    let r = vmlmap(&[
        "restore",
        "--input",
        &s(&dir.join("m.json")),
        "--output",
        &s(&dir.join("b.png")),
        "--solver",
        "pinv",
    ]);
    assert_eq!(r.status.code(), Some(2));
    let e = stderr(&r);
    assert!(e.contains("mask.png") && e.contains("changed"), "{e}");
    assert!(!dir.join("b.png").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn scores_of_the_written_png_are_reported_beside_the_float_ones() {
    let dir = scratch("scores");
    let photo = dir.join("photo.png");
    grey(&photo, 32, 32, |x, y| ((x * 11 + y * 3) % 250) as u8);
    let y = dir.join("y.png");
    let r = vmlmap(&[
        "degrade",
        "--task",
        "sr2",
        "--input",
        &s(&photo),
        "--output",
        &s(&y),
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    let out = dir.join("x.png");
    let r = vmlmap(&[
        "restore",
        "--input",
        &s(&y),
        "--output",
        &s(&out),
        "--solver",
        "pinv",
        "--ground-truth",
        &s(&photo),
        "--json",
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    let v = json(&r);
    // The written file's PSNR, recomputed here from the two PNGs (peak-to-peak 2 in [-1, 1]).
    let (a, b) = (read_grey(&photo), read_grey(&out));
    let mse = a
        .iter()
        .zip(&b)
        .map(|(&p, &q)| (2.0 * (p as f64 - q as f64) / 255.0).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    let want = 10.0 * (4.0 / mse).log10();
    let got = v["psnr_png"].as_f64().unwrap();
    assert!((got - want).abs() < 1e-9, "{got} vs {want}");
    assert!(
        v["psnr"].as_f64().unwrap() != got,
        "float and file scores both reported"
    );
    assert!(v["ssim_png"].as_f64().is_some());
    // pinv and tikhonov use no prior: a model that does not exist is not even opened.
    for solver in ["pinv", "tikhonov"] {
        let r = vmlmap(&[
            "restore",
            "--input",
            &s(&y),
            "--output",
            &s(&dir.join(format!("{solver}.png"))),
            "--solver",
            solver,
            "--model",
            "/nonexistent/model.pt",
        ]);
        assert!(r.status.success(), "{solver}: {}", stderr(&r));
    }
    let r = vmlmap(&[
        "restore",
        "--input",
        &s(&y),
        "--output",
        &s(&dir.join("v.png")),
        "--model",
        "/nonexistent/model.pt",
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert!(
        stderr(&r).contains("/nonexistent/model.pt"),
        "{}",
        stderr(&r)
    );
    // The human-readable line prints two decimals and names both.
    let r = vmlmap(&[
        "restore",
        "--input",
        &s(&y),
        "--output",
        &s(&dir.join("h.png")),
        "--solver",
        "pinv",
        "--ground-truth",
        &s(&photo),
    ]);
    let e = stderr(&r);
    let line = e.lines().find(|l| l.contains("written PNG")).expect(&e);
    let db = line
        .split("PSNR ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert_eq!(db.split('.').nth(1).map(str::len), Some(2), "{line}");
    assert!(e.contains("float output"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
