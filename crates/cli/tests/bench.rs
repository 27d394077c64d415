//! `vmlmap bench`: a killed bench resumed, shards merged, configuration files, and bad
//! settings refused before any run starts.

use std::path::{Path, PathBuf};
use std::process::Command;

fn vmlmap(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vmlmap"))
        .env(
            "VMLMAP_CACHE",
            std::env::temp_dir().join("vmlmap-tests-empty-cache"),
        )
        .args(args)
        .output()
        .expect("runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vmlmap-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A small grid on the embedded prior: two shipped images, two tasks, both noise levels,
/// `pinv`, `ddrm` (3 steps, 2 seeds) and VML-MAP (5 steps, 1 inner): 8 + 16 + 8 = 32 runs
/// in batches of 3.
const GRID: &[&str] = &[
    "bench",
    "--images",
    "shipped:2",
    "--tasks",
    "sr4,inpaint-box",
    "--solvers",
    "pinv,ddrm,vml-map",
    "--solver-opt",
    "ddrm:steps=3",
    "--solver-opt",
    "vml-map:steps=5",
    "--solver-opt",
    "vml-map:inner=1",
    "--seeds",
    "2",
    "--seeds-for",
    "samplers",
    "--batch",
    "3",
    "--grid-images",
    "1",
];

fn grid(out: &Path, extra: &[&str]) -> std::process::Output {
    let o = s(out);
    let mut args: Vec<&str> = GRID.to_vec();
    args.extend(["--out", &o]);
    args.extend(extra);
    vmlmap(&args)
}

/// The lines of a `results.jsonl` without what differs between two runs of the same
/// bench (timings, memory, date; the batch's number, which counts the batches of the
/// solvers listed before), sorted.
fn normalised(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("results.jsonl")).unwrap();
    let mut lines: Vec<String> = text
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            let o = v.as_object_mut().unwrap();
            for k in ["seconds", "peak_rss_mb", "date", "batch"] {
                assert!(o.remove(k).is_some(), "{k} in {l}");
            }
            serde_json::to_string(&v).unwrap()
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn a_killed_bench_resumes_to_the_same_results_and_shards_merge_to_them() {
    let dir = scratch("resume");
    let whole = dir.join("whole");
    ok(&grid(&whole, &[]));
    let full = normalised(&whole);
    assert_eq!(full.len(), 32);
    let text = std::fs::read_to_string(whole.join("results.jsonl")).unwrap();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let fields = "image task solver sigma_y seed psnr ssim lpips nfe vjp seconds peak_rss_mb status model_sha256 solver_opts";
        for k in fields.split(' ') {
            assert!(v.get(k).is_some(), "{k} missing in {line}");
        }
        assert_eq!(v["status"], "ok", "{line}");
        assert!(v["psnr"].as_f64().unwrap().is_finite(), "{line}");
        if v["solver"] != "vml-map" {
            // (VML-MAP at 5 steps of 1 inner iteration is far from converged: it is here
            // for its VJP count, not its quality.)
            assert!(v["psnr"].as_f64().unwrap() > 10.0, "{line}");
        }
    }
    for f in [
        "report.md",
        "psnr-vs-seconds.png",
        "psnr-vs-nfe.png",
        "psnr-bars.png",
        "paired-differences.png",
        "grids/sr4.png",
        "grids/inpaint-box.png",
    ] {
        assert!(whole.join(f).is_file(), "{f}");
    }
    let report = std::fs::read_to_string(whole.join("report.md")).unwrap();
    assert!(
        report.contains("32 runs recorded (0 failed) of 32 planned"),
        "{report}"
    );
    assert!(report.contains("## Where VML-MAP wins"), "{report}");
    assert!(
        report.contains("## Every baseline against vml-map (paired)"),
        "{report}"
    );
    assert!(report.contains("LPIPS: left out"), "{report}");

    // Killed after 11 lines, the 12th cut short: --resume drops the cut line, runs the
    // rest, and ends with the same lines.
    let killed = dir.join("killed");
    std::fs::create_dir_all(&killed).unwrap();
    std::fs::copy(whole.join("bench.json"), killed.join("bench.json")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut cut = lines[..11].join("\n");
    cut.push('\n');
    cut.push_str(&lines[11][..40]);
    std::fs::write(killed.join("results.jsonl"), cut).unwrap();
    let again = grid(&killed, &[]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("pass --resume"));
    let resumed = grid(&killed, &["--resume"]);
    ok(&resumed);
    let err = String::from_utf8_lossy(&resumed.stderr);
    assert!(err.contains("cut short"), "{err}");
    assert!(err.contains("11 already recorded"), "{err}");
    assert!(
        err.contains("21 runs made; the report has all 32 recorded"),
        "{err}"
    );
    assert_eq!(normalised(&killed), full);
    // The committed records alone (no output images) re-make the same report, say why
    // there are no grids, and leave no empty `grids/`.
    let copied = dir.join("copied");
    std::fs::create_dir_all(&copied).unwrap();
    for f in ["bench.json", "results.jsonl"] {
        std::fs::copy(whole.join(f), copied.join(f)).unwrap();
    }
    let remade = vmlmap(&["bench", "report", &s(&copied)]);
    ok(&remade);
    let err = String::from_utf8_lossy(&remade.stderr);
    assert!(err.contains("32 runs, 0 image grids"), "{err}");
    assert!(err.contains("note: no image grids"), "{err}");
    assert!(!copied.join("grids").exists());
    assert_eq!(
        std::fs::read_to_string(copied.join("report.md")).unwrap(),
        report
    );
    // Resuming with other settings is refused, naming the setting.
    let other = grid(&killed, &["--resume", "--sigma-y", "0.1"]);
    assert_eq!(other.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&other.stderr).contains("sigma_y was [1e-9,0.05], now [0.1]"));

    // Two shards and a merge: the same lines.
    let (a, b, m) = (dir.join("s0"), dir.join("s1"), dir.join("merged"));
    ok(&grid(&a, &["--shard", "0/2"]));
    ok(&grid(&b, &["--shard", "1/2"]));
    let (na, nb) = (normalised(&a).len(), normalised(&b).len());
    assert!(na > 0 && nb > 0 && na + nb == 32, "{na} + {nb}");
    let merged = vmlmap(&["bench", "merge", &s(&a), &s(&b), "--out", &s(&m)]);
    ok(&merged);
    assert_eq!(normalised(&m), full);
    assert!(m.join("grids/sr4.png").is_file());
    let merged_report = std::fs::read_to_string(m.join("report.md")).unwrap();
    assert!(merged_report.contains("32 runs recorded (0 failed) of 32 planned"));
    // A merge of one shard says what is missing.
    let half = vmlmap(&["bench", "merge", &s(&a), "--out", &s(&dir.join("half"))]);
    ok(&half);
    assert!(String::from_utf8_lossy(&half.stderr).contains(&format!("{nb} planned runs missing")));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_config_file_with_variants_and_flags_over_it() {
    let dir = scratch("config");
    let cfg = dir.join("b.toml");
    std::fs::write(
        &cfg,
        r#"
images = "shipped:1"
tasks = ["sr4"]
sigma_y = [0.05]
solvers = ["pinv", "tikhonov-strong"]
[variants.tikhonov-strong]
solver = "tikhonov"
opts = ["lambda=1"]
"#,
    )
    .unwrap();
    let out = dir.join("out");
    let run = vmlmap(&[
        "bench",
        "--config",
        &s(&cfg),
        "--out",
        &s(&out),
        "--sigma-y",
        "0.1",
    ]);
    ok(&run);
    let lines = normalised(&out);
    assert_eq!(lines.len(), 2);
    assert!(
        lines.iter().all(|l| l.contains("\"sigma_y\":0.1")),
        "{lines:?}"
    );
    assert!(lines
        .iter()
        .any(|l| l.contains("\"solver\":\"tikhonov-strong\"") && l.contains("lambda=1")));
    std::fs::write(&cfg, "images = \"shipped:1\"\nsolver = [\"pinv\"]\n").unwrap();
    let bad = vmlmap(&["bench", "--config", &s(&cfg), "--out", &s(&dir.join("o2"))]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("b.toml") && err.contains("solver"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_settings_fail_before_any_run() {
    let dir = scratch("bad");
    let out = dir.join("out");
    let o = s(&out);
    let grey = dir.join("imgs");
    std::fs::create_dir_all(&grey).unwrap();
    image::GrayImage::from_pixel(16, 16, image::Luma([100]))
        .save(grey.join("a.png"))
        .unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["--solvers", "pinv,dsp"], "unknown solver"),
        (&["--tasks", "sr4,blur"], "unknown task \"blur\""),
        (
            &["--tasks", "colorize", "--solvers", "pinv"],
            "colorize cannot run on the model's 1x32x32 images",
        ),
        (
            &[
                "--task-opt",
                "inpaint-box:size=40",
                "--solvers",
                "pinv",
                "--images",
                "shipped:1",
            ],
            "inpaint-box cannot run",
        ),
        (
            &["--images", "/nonexistent/folder"],
            "cannot read the image folder /nonexistent/folder",
        ),
        (&["--images", &s(&grey), "--solvers", "pinv,ddrm"], "a.png"),
        (&["--solver-opt", "dps:zeta=1"], "options for dps"),
        (&["--seeds", "0"], "seeds"),
        (&["--shard", "2/2"], "not a shard"),
    ];
    for (args, want) in cases {
        let mut all = vec!["bench", "--out", &o];
        all.extend(args.iter());
        let r = vmlmap(&all);
        assert_eq!(r.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!out.join("results.jsonl").exists(), "{args:?} started runs");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_slurm_array_script_runs_shards_and_queues_the_merge() {
    let dir = scratch("slurm");
    // A stand-in for sbatch that records what it was asked to queue.
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let fake = bin.join("sbatch");
    std::fs::write(&fake, "#!/bin/sh\necho \"$@\" >> \"$QUEUED\"\n").unwrap();
    std::process::Command::new("chmod")
        .args(["+x", &s(&fake)])
        .status()
        .unwrap();
    let cfg = dir.join("b.toml");
    std::fs::write(
        &cfg,
        "images = \"shipped:2\"\ntasks = [\"sr4\"]\nsolvers = [\"pinv\", \"tikhonov\"]\nbatch = 1\n",
    )
    .unwrap();
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tools/slurm/bench_array.sbatch");
    let out = dir.join("res");
    let queued = dir.join("queued.txt");
    let path = format!("{}:{}", s(&bin), std::env::var("PATH").unwrap_or_default());
    let run = |env: &[(&str, &str)]| {
        let mut c = Command::new("bash");
        c.arg(&script).arg(&cfg).arg(&out);
        c.env("PATH", &path)
            .env("QUEUED", &queued)
            .env("VMLMAP", env!("CARGO_BIN_EXE_vmlmap"))
            .env(
                "VMLMAP_CACHE",
                std::env::temp_dir().join("vmlmap-tests-empty-cache"),
            )
            .env("SLURM_ARRAY_JOB_ID", "77")
            .env("SLURM_ARRAY_TASK_COUNT", "2")
            .env("SLURM_ARRAY_TASK_MIN", "0");
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        ok(&o);
    };
    run(&[("SLURM_ARRAY_TASK_ID", "0")]);
    run(&[("SLURM_ARRAY_TASK_ID", "1")]);
    let q = std::fs::read_to_string(&queued).unwrap();
    assert_eq!(
        q.lines().count(),
        1,
        "only the first task queues the merge: {q}"
    );
    assert!(
        q.contains("--dependency=afterok:77") && q.contains("VMLMAP_MERGE=1"),
        "{q}"
    );
    run(&[("VMLMAP_MERGE", "1")]);
    let merged = normalised(&out.join("merged"));
    // 2 images x 2 noise levels x 2 solvers.
    assert_eq!(merged.len(), 8);
    assert!(out.join("merged/report.md").is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn lpips_from_a_backbone_file_is_recorded_and_matches_the_metric() {
    use vmlmap_models::lpips::{hashed_backbone, Lpips, LpipsNet};
    let dir = scratch("lpips");
    // torchvision's names and shapes, deterministic weights (the golden test of the metric
    // itself against the lpips package is in vmlmap-models).
    let backbone = dir.join("alexnet.safetensors");
    hashed_backbone(LpipsNet::Alex)
        .save_safetensors(&backbone, false)
        .unwrap();
    let out = dir.join("out");
    let run = vmlmap(&[
        "bench",
        "--images",
        "shipped:2",
        "--tasks",
        "sr4",
        "--sigma-y",
        "0.05",
        "--solvers",
        "pinv,tikhonov",
        "--lpips",
        &format!("alex={}", s(&backbone)),
        "--out",
        &s(&out),
    ]);
    ok(&run);
    let text = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    let device = vmlmap_models::DeviceSpec::Cpu.device().unwrap();
    let m = Lpips::load(LpipsNet::Alex, &backbone, None, &device).unwrap();
    let shape = vmlmap_core::Shape::new(1, 32, 32).unwrap();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let got = v["lpips"].as_f64().expect("lpips recorded");
        let (img, solver) = (v["image"].as_str().unwrap(), v["solver"].as_str().unwrap());
        let dir = out.join("outputs/sr4/5e-2");
        let read = |p: PathBuf| vmlmap_io::read_array(s(&p), Some(shape), false).unwrap().0;
        let x = read(dir.join(solver).join(format!("{img}.npy")));
        let gt = read(dir.join("_ground-truth").join(format!("{img}.npy")));
        let want = m.distances(&x, &gt, shape).unwrap()[0];
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        assert!(got > 0.0);
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("| solver | PSNR | SSIM | LPIPS-alex | NFE |"),
        "{report}"
    );
    assert!(report.contains("alex backbone from"), "{report}");
    // A backbone of the wrong network is refused before any run, naming the file.
    let bad = vmlmap(&[
        "bench",
        "--images",
        "shipped:1",
        "--tasks",
        "sr4",
        "--solvers",
        "pinv",
        "--lpips",
        &format!("vgg={}", s(&backbone)),
        "--out",
        &s(&dir.join("bad")),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("alexnet.safetensors") && err.contains("features."),
        "{err}"
    );
    assert!(!dir.join("bad/results.jsonl").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_finished_bench_takes_more_solvers() {
    let dir = scratch("extend");
    let args = |out: &Path, solvers: &str, extra: &[&str]| {
        let o = s(out);
        let mut a = vec![
            "bench",
            "--images",
            "shipped:2",
            "--tasks",
            "sr4",
            "--solvers",
            solvers,
            "--solver-opt",
            "ddrm:steps=3",
            "--batch",
            "3",
            "--out",
        ];
        a.push(&o);
        a.extend(extra);
        vmlmap(&a)
    };
    let (grown, fresh) = (dir.join("grown"), dir.join("fresh"));
    ok(&args(&grown, "pinv,ddrm", &[]));
    let more = args(&grown, "pinv,ddrm,tikhonov", &["--resume"]);
    ok(&more);
    let err = String::from_utf8_lossy(&more.stderr);
    assert!(
        err.contains("adding solvers tikhonov") && err.contains("4 of 12 runs to do"),
        "{err}"
    );
    ok(&args(&fresh, "pinv,ddrm,tikhonov", &[]));
    assert_eq!(normalised(&grown), normalised(&fresh));
    // Anywhere in the list will do for a whole bench (a solver's batches do not depend
    // on the others)...
    let (mid, fresh2) = (dir.join("mid"), dir.join("fresh2"));
    ok(&args(&mid, "pinv,ddrm", &[]));
    ok(&args(&mid, "tikhonov,pinv,ddrm", &["--resume"]));
    ok(&args(&fresh2, "tikhonov,pinv,ddrm", &[]));
    assert_eq!(normalised(&mid), normalised(&fresh2));
    // ... but dropping a solver, or changing one's settings, is refused.
    let fewer = args(&grown, "pinv,ddrm", &["--resume"]);
    assert_eq!(fewer.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&fewer.stderr).contains("other settings"));
    // A shard takes new solvers only at the end of the list (its part of the plan
    // follows the order).
    let sh = dir.join("shard");
    ok(&args(&sh, "pinv,ddrm", &["--shard", "0/2"]));
    let front = args(&sh, "tikhonov,pinv,ddrm", &["--shard", "0/2", "--resume"]);
    assert_eq!(front.status.code(), Some(2));
    ok(&args(
        &sh,
        "pinv,ddrm,tikhonov",
        &["--shard", "0/2", "--resume"],
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failing_run_is_recorded_and_does_not_take_its_batch_with_it() {
    let dir = scratch("failing");
    let out = dir.join("out");
    // DDNM+ (noisy) needs the operator's SVD, which motion blur has not: those runs fail;
    // the 4x SR runs in the same batch must not.
    let r = vmlmap(&[
        "bench",
        "--images",
        "shipped:2",
        "--tasks",
        "deblur-motion,sr4",
        "--sigma-y",
        "0.05",
        "--solvers",
        "pinv,ddnm",
        "--solver-opt",
        "ddnm:steps=2",
        "--out",
        &s(&out),
    ]);
    ok(&r);
    assert!(String::from_utf8_lossy(&r.stderr).contains("2 failed"));
    let text = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    let mut seen = 0;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["solver"] != "ddnm" {
            continue;
        }
        seen += 1;
        if v["task"] == "deblur-motion" {
            assert_eq!(v["status"], "failed");
            assert!(v["error"].as_str().unwrap().contains("SVD"), "{line}");
            assert!(v["psnr"].is_null());
        } else {
            assert_eq!(v["status"], "ok", "{line}");
            assert!(v["psnr"].as_f64().unwrap().is_finite());
            // Re-run alone after its batch failed, and recorded so.
            assert_eq!(v["batch_size"], 1);
        }
    }
    assert_eq!(seen, 4);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("## Failed runs") && report.contains("has none"),
        "{report}"
    );
    // Grouped: one line for the two runs (two images, one seed) that share the error.
    assert!(
        report.contains("2 runs failed, in 1 group ")
            && report.contains("| ddnm | deblur-motion | 5e-2 | 2 | 2 | 1 | ddnm"),
        "{report}"
    );
    assert!(
        report.contains("| ddnm | – | – | – | – | – | 0 (2 failed) |"),
        "{report}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
