//! `results.jsonl`: one JSON object per run, appended as each batch finishes, read back to
//! resume (a line cut short by a kill is dropped) and to merge shards.

use super::HarnessError;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// One run's line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub image: String,
    pub task: String,
    pub solver: String,
    pub sigma_y: f64,
    pub seed: u64,
    /// `ok` or `failed` (then `error` says why and the scores are null).
    pub status: String,
    pub psnr: Option<f64>,
    pub ssim: Option<f64>,
    /// LPIPS-alex (the paper's LPIPS) and LPIPS-vgg.
    pub lpips: Option<f64>,
    #[serde(default)]
    pub lpips_vgg: Option<f64>,
    pub nfe: Option<usize>,
    pub vjp: Option<usize>,
    /// Wall time of the run's batch divided by its size.
    pub seconds: f64,
    /// Peak resident memory of the bench process when the run finished.
    pub peak_rss_mb: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The solver behind the label and its options; the task's resolved options.
    pub solver_name: String,
    pub solver_opts: Vec<String>,
    pub task_opts: Vec<String>,
    pub model: String,
    pub model_sha256: String,
    pub batch: usize,
    pub batch_size: usize,
    pub machine: String,
    pub threads: usize,
    pub vmlmap_version: String,
    pub date: String,
}

impl RunRecord {
    /// What identifies a run: image, task, solver, noise level, seed.
    pub fn key(&self) -> String {
        run_key(
            &self.image,
            &self.task,
            &self.solver,
            self.sigma_y,
            self.seed,
        )
    }

    pub fn ok(&self) -> bool {
        self.status == "ok"
    }
}

/// The key of a run (see [`RunRecord::key`]).
pub fn run_key(image: &str, task: &str, solver: &str, sigma_y: f64, seed: u64) -> String {
    format!("{image}|{task}|{solver}|{sigma_y:e}|{seed}")
}

/// Reads a `results.jsonl`. A last line without its newline (a kill mid-write) is dropped
/// and reported in the second value; any other unreadable line is an error naming it.
pub fn read_records(path: &Path) -> Result<(Vec<RunRecord>, Option<String>), HarnessError> {
    let text = std::fs::read_to_string(path).map_err(|e| HarnessError::Io {
        path: path.display().to_string(),
        source: e.into(),
    })?;
    let mut out = Vec::new();
    let mut dropped = None;
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<RunRecord>(line) {
            Ok(r) => out.push(r),
            Err(_) if i + 1 == lines.len() && !complete => dropped = Some(line.to_string()),
            Err(e) => {
                return Err(HarnessError::Record {
                    path: path.display().to_string(),
                    line: i + 1,
                    source: e.into(),
                })
            }
        }
    }
    Ok((out, dropped))
}

/// Rewrites `path` with `records` (atomically), one line each.
pub fn write_records(path: &Path, records: &[RunRecord]) -> Result<(), HarnessError> {
    let mut text = String::new();
    for r in records {
        text.push_str(&line(r)?);
    }
    vmlmap_io::write_atomic(path, true, |tmp| {
        std::fs::write(tmp, &text).map_err(|e| e.to_string())
    })
    .map_err(|e| HarnessError::Io {
        path: path.display().to_string(),
        source: e.into(),
    })
}

fn line(r: &RunRecord) -> Result<String, HarnessError> {
    let mut s = serde_json::to_string(r).map_err(|e| HarnessError::Io {
        path: "results.jsonl".into(),
        source: e.into(),
    })?;
    s.push('\n');
    Ok(s)
}

/// Appends a batch's lines in one write, then flushes them to disk.
pub fn append_records(path: &Path, records: &[RunRecord]) -> Result<(), HarnessError> {
    let io = |e: std::io::Error| HarnessError::Io {
        path: path.display().to_string(),
        source: e.into(),
    };
    let mut text = String::new();
    for r in records {
        text.push_str(&line(r)?);
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_data().map_err(io)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn record(image: &str, psnr: f64) -> RunRecord {
        RunRecord {
            image: image.into(),
            task: "sr4".into(),
            solver: "pinv".into(),
            sigma_y: 0.05,
            seed: 0,
            status: "ok".into(),
            psnr: Some(psnr),
            ssim: Some(0.5),
            lpips: None,
            lpips_vgg: None,
            nfe: Some(0),
            vjp: Some(0),
            seconds: 0.1,
            peak_rss_mb: None,
            error: None,
            solver_name: "pinv".into(),
            solver_opts: vec![],
            task_opts: vec![],
            model: "default".into(),
            model_sha256: "00".into(),
            batch: 0,
            batch_size: 1,
            machine: "m".into(),
            threads: 2,
            vmlmap_version: "0".into(),
            date: "d".into(),
        }
    }

    #[test]
    fn a_line_cut_short_is_dropped_and_others_are_errors() {
        let dir = std::env::temp_dir().join(format!("vmlmap-records-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("results.jsonl");
        append_records(&p, &[record("a", 20.0), record("b", f64::NAN)]).unwrap();
        let (r, dropped) = read_records(&p).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].psnr, None, "NaN is written as null");
        assert!(dropped.is_none());
        let mut text = std::fs::read_to_string(&p).unwrap();
        text.push_str("{\"image\": \"c\", \"ta");
        std::fs::write(&p, &text).unwrap();
        let (r, dropped) = read_records(&p).unwrap();
        assert_eq!(r.len(), 2);
        assert!(dropped.unwrap().contains("\"c\""));
        std::fs::write(&p, "not json\n").unwrap();
        let e = read_records(&p).unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
