//! Tests of task specifications: the size rule, resolving, errors, defaults, files.

use super::*;

#[test]
fn size_rule_hits_the_anchors() {
    let d32 = BlurDefaults::for_side(32);
    assert_eq!(
        (d32.gaussian_size, d32.uniform_size, d32.motion_size),
        (9, 5, 9)
    );
    assert!((d32.gaussian_std - 1.5).abs() < 1e-12);
    let d256 = BlurDefaults::for_side(256);
    assert_eq!(
        (d256.gaussian_size, d256.uniform_size, d256.motion_size),
        (61, 9, 61)
    );
    assert!((d256.gaussian_std - 3.0).abs() < 1e-12);
    let d16 = BlurDefaults::for_side(16);
    assert_eq!(
        (d16.gaussian_size, d16.uniform_size, d16.motion_size),
        (5, 3, 5)
    );
    let d64 = BlurDefaults::for_side(64);
    assert_eq!(
        (d64.gaussian_size, d64.uniform_size, d64.motion_size),
        (27, 7, 27)
    );
}

#[test]
fn resolved_options_rebuild_the_same_operator_and_pin_files() {
    let shape = Shape::new(1, 16, 16).unwrap();
    let x: Vec<f64> = (0..shape.numel())
        .map(|i| (i as f64 * 0.37).sin())
        .collect();
    for &name in TASK_NAMES {
        if name == "inpaint-mask" || name == "colorize" {
            continue;
        }
        let spec = TaskSpec::new(name).unwrap();
        let full = spec.resolved(shape).unwrap();
        assert_eq!(full.resolved(shape).unwrap(), full, "{name}: idempotent");
        let mut keys: Vec<&str> = task_options(name)
            .iter()
            .map(|(k, _)| *k)
            .filter(|k| !["kernel", "sha256"].contains(k))
            .collect();
        keys.sort();
        assert_eq!(
            full.options.keys().map(String::as_str).collect::<Vec<_>>(),
            keys,
            "{name}: every parameter written out"
        );
        let (a, b) = (spec.build(shape).unwrap(), full.build(shape).unwrap());
        assert_eq!(a.apply(&x), b.apply(&x), "{name}");
    }
    let box_ = TaskSpec::new("inpaint-box")
        .unwrap()
        .resolved(shape)
        .unwrap();
    assert_eq!(box_.label(), "inpaint-box(left=4,size=8,top=4)");
    let dir = std::env::temp_dir().join(format!("vmlmap-task-hash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mask = dir.join("m.png");
    image::GrayImage::from_fn(16, 16, |x, _| image::Luma([if x < 8 { 255 } else { 0 }]))
        .save(&mask)
        .unwrap();
    let spec = TaskSpec::parse("inpaint-mask", &[format!("path={}", mask.display())]).unwrap();
    let full = spec.resolved(shape).unwrap();
    assert_eq!(full.options["sha256"].len(), 64);
    assert!(std::path::Path::new(&full.options["path"]).is_absolute());
    assert_eq!(full.build(shape).unwrap().output_len(), 128);
    image::GrayImage::from_fn(16, 16, |x, _| image::Luma([if x < 9 { 255 } else { 0 }]))
        .save(&mask)
        .unwrap();
    let err = full.build(shape).unwrap_err().to_string();
    assert!(err.contains("sha256") && err.contains("changed"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_names_keys_and_values_are_typed_errors() {
    let s = Shape::new(1, 16, 16).unwrap();
    assert!(matches!(
        TaskSpec::new("blur"),
        Err(OperatorError::UnknownTask(_))
    ));
    assert!(matches!(
        TaskSpec::parse("sr4", &["size=3"]),
        Err(OperatorError::UnknownOption { .. })
    ));
    assert!(matches!(
        TaskSpec::parse("cs", &["ratio"]),
        Err(OperatorError::MalformedOption(_))
    ));
    let e = TaskSpec::parse("deblur-gaussian", &["size=4"])
        .unwrap()
        .build(s)
        .unwrap_err();
    assert!(e.to_string().contains("size=\"4\""), "{e}");
    let e = TaskSpec::parse("inpaint-random", &["fraction=1.5"])
        .unwrap()
        .build(s)
        .unwrap_err();
    assert!(e.to_string().contains("fraction"), "{e}");
    assert!(TaskSpec::new("sr8")
        .unwrap()
        .build(Shape::new(1, 12, 12).unwrap())
        .is_err());
    assert!(TaskSpec::new("colorize").unwrap().build(s).is_err());
    assert!(TaskSpec::parse("inpaint-box", &["size=10", "top=10"])
        .unwrap()
        .build(s)
        .is_err());
    assert!(
        TaskSpec::parse("deblur-motion", &["kernel=/nonexistent.txt"])
            .unwrap()
            .build(s)
            .is_err()
    );
    assert!(TaskSpec::new("cs")
        .unwrap()
        .build(Shape::new(3, 64, 64).unwrap())
        .is_err());
    assert!(TaskSpec::new("inpaint-mask").unwrap().build(s).is_err());
}

#[test]
fn box_default_is_centred_half_side() {
    let s = Shape::new(1, 32, 32).unwrap();
    let op = TaskSpec::new("inpaint-box").unwrap().build(s).unwrap();
    assert_eq!(op.output_len(), 32 * 32 - 16 * 16);
    let x: Vec<f64> = (0..1024).map(|i| i as f64).collect();
    let back = op.adjoint(&op.apply(&x));
    assert_eq!(back[8 * 32 + 8], 0.0); // top-left corner of the hole
    assert_eq!(back[7 * 32 + 7], x[7 * 32 + 7]);
    assert_eq!(back[23 * 32 + 23], 0.0);
    assert_eq!(back[24 * 32 + 24], x[24 * 32 + 24]);
}

#[test]
fn random_mask_fraction_and_seed() {
    let s = Shape::new(3, 16, 16).unwrap();
    let a = TaskSpec::new("inpaint-random").unwrap().build(s).unwrap();
    assert_eq!(a.output_len(), 3 * (256 - 179));
    let b = TaskSpec::parse("inpaint-random", &["seed=1"])
        .unwrap()
        .build(s)
        .unwrap();
    let x: Vec<f64> = (0..s.numel()).map(|i| i as f64).collect();
    assert_ne!(a.apply(&x), b.apply(&x));
}

#[test]
fn text_kernel_file_roundtrip() {
    let dir = std::env::temp_dir().join(format!("vmlmap-kernel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("k.txt");
    std::fs::write(&p, "0 1 0\n1 4 1\n0 1 0\n").unwrap();
    let (k, n) = read_kernel(p.to_str().unwrap()).unwrap();
    assert_eq!(n, 3);
    assert!((k[4] - 0.5).abs() < 1e-15);
    std::fs::write(&p, "0 1\n1 4 1\n").unwrap();
    assert!(read_kernel(p.to_str().unwrap()).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
