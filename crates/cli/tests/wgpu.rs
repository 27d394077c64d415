//! `--device wgpu` end to end (the `wgpu` feature): a short VML-MAP restore and a denoiser
//! call on the wgpu device give what the CPU gives. CI runs it on Mesa's lavapipe (a software
//! Vulkan device); without a Vulkan device it fails with that message.
#![cfg(feature = "wgpu")]

mod common;

use common::{s, scratch, stderr, vmlmap};

fn read_npy(p: &std::path::Path) -> Vec<f64> {
    vmlmap_io::read_npy(p).unwrap().0
}

#[test]
fn restore_on_wgpu_matches_the_cpu() {
    let dir = scratch("wgpu-restore");
    let gt = common::repo("assets/fashion-test/06_dress_t10k13.png");
    let y = dir.join("y.png");
    let r = vmlmap(&[
        "degrade",
        "--task",
        "sr4",
        "--input",
        &gt,
        "--output",
        &s(&y),
        "--sigma-y",
        "0.05",
        "--seed",
        "1",
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    let run = |device: &str| {
        let out = dir.join(format!("x-{}.npy", device.replace(':', "-")));
        // A short restore (3 reverse steps, 33 network passes). At the defaults (10 steps)
        // VML-MAP amplifies f32 round-off: even the native and burn engines on one CPU end
        // 0.08 apart there, so that comparison would test the solver's conditioning, not
        // the device (3 steps: native, burn and wgpu all within 2.5e-5).
        let r = vmlmap(&[
            "restore",
            "--input",
            &s(&y.with_extension("json")),
            "--output",
            &s(&out),
            "--steps",
            "3",
            "--device",
            device,
        ]);
        assert!(
            r.status.success(),
            "NOT RUN on {device} (a Vulkan device is needed: Debian's mesa-vulkan-drivers):\n{}",
            stderr(&r)
        );
        read_npy(&out)
    };
    let (cpu, gpu) = (run("cpu"), run("wgpu"));
    let worst = cpu
        .iter()
        .zip(&gpu)
        .map(|(a, b)| (a - b).abs())
        .fold(0f64, f64::max);
    eprintln!("restore: largest difference wgpu vs cpu {worst:.2e}");
    assert!(worst < 1e-3, "wgpu and cpu restorations differ by {worst}");
}

#[test]
fn denoise_on_wgpu_matches_the_cpu_and_bad_devices_are_named() {
    let dir = scratch("wgpu-denoise");
    let x = common::repo("assets/fashion-test/00_tshirt_t10k19.png");
    let run = |device: &str| {
        let out = dir.join(format!("d-{device}.npy"));
        let r = vmlmap(&[
            "denoise",
            "--input",
            &x,
            "--sigma",
            "0.5",
            "--output",
            &s(&out),
            "--device",
            device,
        ]);
        assert!(r.status.success(), "{device}: {}", stderr(&r));
        read_npy(&out)
    };
    let (cpu, gpu) = (run("cpu"), run("wgpu"));
    let worst = cpu
        .iter()
        .zip(&gpu)
        .map(|(a, b)| (a - b).abs())
        .fold(0f64, f64::max);
    assert!(worst < 1e-4, "{worst}");
    // A GPU index that is not there is an error naming the device; nothing is written.
    let out = dir.join("none.npy");
    let r = vmlmap(&[
        "denoise",
        "--input",
        &x,
        "--sigma",
        "0.5",
        "--output",
        &s(&out),
        "--device",
        "wgpu:7",
    ]);
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));
    assert!(stderr(&r).contains("wgpu:7"), "{}", stderr(&r));
    assert!(!out.exists());
}
