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
    // 2 tasks x 2 noise levels x (2 priors x (4 per-step + 4 end-to-end) + 1 mode)
    assert_eq!(n, 2 * 2 * (2 * 8 + 1));
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
