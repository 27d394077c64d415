//! Tests of `lpips`.

use super::*;

fn fixture(p: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/lpips")
        .join(p)
}

/// The `lpips` package's distances (tools/make_lpips_fixture.py) with the same
/// backbone and the package's own linear layers read from its `.pth` files.
#[test]
fn matches_the_lpips_package() {
    let text = std::fs::read_to_string(fixture("lpips_reference.json")).unwrap();
    let r: serde_json::Value = serde_json::from_str(&text).unwrap();
    let device = crate::DeviceSpec::Cpu.device().unwrap();
    for net in [LpipsNet::Alex, LpipsNet::Vgg] {
        let lin_path = fixture(&format!("{}.pth", net.name()));
        let (lin, name) = Lpips::lin_weights(net, Some(&lin_path)).unwrap();
        let m = Lpips::from_checkpoints(net, &hashed_backbone(net), "hashed", &lin, &name, &device)
            .unwrap();
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
                (got - want).abs() < 1e-5,
                "{} {}: {got} vs {want}",
                net.name(),
                p["name"]
            );
            // A batch of the pair twice gives the same distance twice.
            let (a2, b2) = ([v("a"), v("a")].concat(), [v("b"), v("b")].concat());
            let two = m.distances(&a2, &b2, shape).unwrap();
            assert!((two[0] - got).abs() < 1e-6 && (two[1] - got).abs() < 1e-6);
            assert!(m.distances(&v("a"), &v("a"), shape).unwrap()[0].abs() < 1e-9);
        }
        // The embedded linear layers are the package's.
        let (emb, _) = Lpips::lin_weights(net, None).unwrap();
        for (k, t) in &lin.tensors {
            assert_eq!(emb.tensors[k].data, t.data, "{k}");
        }
    }
}

#[test]
fn wrong_files_are_named() {
    let device = crate::DeviceSpec::Cpu.device().unwrap();
    let (lin, name) = Lpips::lin_weights(LpipsNet::Alex, None).unwrap();
    // VGG weights for AlexNet: shape mismatches, named.
    let e = Lpips::from_checkpoints(
        LpipsNet::Alex,
        &hashed_backbone(LpipsNet::Vgg),
        "vgg16.pth",
        &lin,
        &name,
        &device,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.contains("vgg16.pth") && e.contains("features.0.weight"),
        "{e}"
    );
    let e = Lpips::from_checkpoints(
        LpipsNet::Alex,
        &Checkpoint::default(),
        "model.pt",
        &lin,
        &name,
        &device,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("no features.* tensors"), "{e}");
    assert!("squeeze".parse::<LpipsNet>().is_err());
    let m = Lpips::from_checkpoints(
        LpipsNet::Alex,
        &hashed_backbone(LpipsNet::Alex),
        "h",
        &lin,
        &name,
        &device,
    )
    .unwrap();
    let s2 = Shape::new(2, 32, 32).unwrap();
    assert!(m.distances(&vec![0.0; 2048], &vec![0.0; 2048], s2).is_err());
}
