//! The benchmark harness behind `vmlmap bench`: the grid solvers × tasks × noise levels ×
//! images × seeds on one model, run in batches that share each network evaluation, each
//! run appended to `results.jsonl` as its batch finishes (resumable; shardable across
//! machines and merged), then `report.md`, plots and image grids. The protocol is one
//! command and one report for every method of the comparison (VML-MAP, arXiv 2512.10524,
//! against DPS, ΠGDM, DDRM, DDNM, DiffPIR, DAPS, RED-diff and the classical estimates).
//!
//! - [`config`]: `bench.toml` and flags → checked [`BenchSettings`].
//! - [`plan`]: the runs and their batches (fixed by the settings), shards.
//! - [`runner`]: measurements, solving, scoring, appending.
//! - [`record`]: the `results.jsonl` lines.
//! - [`report`], [`versus`], [`failures`] and [`figures`]: what a reader sees.
//! - this module: the output folder (`bench.json`, resume, force) and merging shards.

pub mod config;
pub mod failures;
pub mod figures;
pub mod plan;
pub mod record;
pub mod report;
pub mod runner;
pub mod stats;
pub mod versus;

pub use config::{BenchConfig, BenchSettings, SeedsFor};
pub use plan::{batches, runs, Batch, Run, Shard};
pub use record::{read_records, RunRecord};
pub use runner::{
    peak_rss_mb, Bench, BenchImage, BenchProgress, MetricError, PerceptualMetric, RunMeta,
};

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use vmlmap_core::Shape;

/// The error behind a failed read, write or parse, kept with its type.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a bench cannot start, go on or be reported.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("{source_name}: {source}")]
    Config {
        source_name: String,
        #[source]
        source: BoxError,
    },
    #[error("bench setting {field}: {reason}")]
    Setting { field: String, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: BoxError,
    },
    #[error("{path}: not a bench.json: {source}")]
    BenchJson {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path} line {line}: {source}")]
    Record {
        path: String,
        line: usize,
        #[source]
        source: BoxError,
    },
    #[error("{0}")]
    Resume(String),
    #[error("{0}")]
    Plot(#[source] BoxError),
    /// A perceptual metric that failed on the outputs (not a bad setting).
    #[error("{metric} could not score the outputs: {source}")]
    Metric {
        metric: &'static str,
        #[source]
        source: runner::MetricError,
    },
}

/// `bench.json`: what a results folder holds, checked on `--resume` and by `merge`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchState {
    pub settings: BenchSettings,
    /// `i/n`, or `merged`.
    pub shard: String,
    pub images: Vec<String>,
    pub shape: [usize; 3],
}

impl BenchState {
    /// The images' shape (`None` if `bench.json` was edited into an impossible one).
    pub fn shape(&self) -> Option<Shape> {
        Shape::new(self.shape[0], self.shape[1], self.shape[2]).ok()
    }

    /// Runs the state's shard plans.
    pub fn expected_runs(&self) -> usize {
        let shard: Option<Shard> = self.shard.parse().ok();
        batches(&self.settings, self.images.len())
            .iter()
            .filter(|b| shard.is_none_or(|s| s.holds(b)))
            .map(|b| b.runs.len())
            .sum()
    }

    /// The state a results folder was started with (`bench.json`).
    pub fn read(dir: &Path) -> Result<Self, HarnessError> {
        let p = dir.join("bench.json");
        let text = std::fs::read_to_string(&p).map_err(|e| HarnessError::Io {
            path: p.display().to_string(),
            source: e.into(),
        })?;
        serde_json::from_str(&text).map_err(|e| HarnessError::BenchJson {
            path: p.display().to_string(),
            source: e,
        })
    }

    fn write(&self, dir: &Path) -> Result<(), HarnessError> {
        let p = dir.join("bench.json");
        let text = serde_json::to_string_pretty(self).map_err(|e| HarnessError::Io {
            path: p.display().to_string(),
            source: e.into(),
        })?;
        vmlmap_io::write_atomic(&p, true, |tmp| {
            std::fs::write(tmp, text + "\n").map_err(|e| e.to_string())
        })
        .map_err(|e| HarnessError::Io {
            path: p.display().to_string(),
            source: e.into(),
        })
    }

    /// The state with every variant's family cleared.
    fn without_families(mut self) -> Self {
        for s in &mut self.settings.solvers {
            s.family = None;
        }
        self
    }

    /// The solvers `new` adds to `self` when it is `self` with more solvers and nothing
    /// else changed (every old solver still listed, with the same settings). A solver's
    /// batches depend only on its own runs and the batch size, never on the other solvers,
    /// so a resumed bench runs only the new solvers' batches, exactly as one started with
    /// the longer list would. A shard's part of the plan depends on the order of the
    /// list, so a sharded bench takes new solvers only at the end of it.
    pub fn extended_by(&self, new: &Self) -> Option<Vec<String>> {
        let (old_s, new_s) = (&self.settings.solvers, &new.settings.solvers);
        if new_s.len() <= old_s.len() || !old_s.iter().all(|o| new_s.contains(o)) {
            return None;
        }
        if self.shard != Shard::WHOLE.to_string() && new_s[..old_s.len()] != old_s[..] {
            return None;
        }
        let mut same = new.clone();
        same.settings.solvers = old_s.clone();
        (same == *self).then(|| {
            new_s
                .iter()
                .filter(|s| !old_s.contains(s))
                .map(|s| s.label.clone())
                .collect()
        })
    }

    /// The first top-level setting where `self` and `other` differ.
    fn first_difference(&self, other: &Self) -> Option<String> {
        let (a, b) = (
            serde_json::to_value(self).ok()?,
            serde_json::to_value(other).ok()?,
        );
        let flat = |v: &serde_json::Value| -> Vec<(String, serde_json::Value)> {
            let mut out = Vec::new();
            if let Some(o) = v.as_object() {
                for (k, v) in o {
                    match v.as_object() {
                        Some(inner) => out.extend(
                            inner
                                .iter()
                                .map(|(k2, v2)| (format!("{k}.{k2}"), v2.clone())),
                        ),
                        None => out.push((k.clone(), v.clone())),
                    }
                }
            }
            out
        };
        let (fa, fb) = (flat(&a), flat(&b));
        fa.iter()
            .zip(&fb)
            .find(|(x, y)| x != y)
            .map(|((k, x), (_, y))| format!("{k} was {x}, now {y}"))
    }
}

/// Files of a finished report, removed by `--force`.
const REPORT_FILES: &[&str] = &[
    "report.md",
    "psnr-vs-seconds.png",
    "psnr-vs-nfe.png",
    "psnr-bars.png",
    "paired-differences.png",
];

/// Prepares `out` for `state`: a fresh folder, a resumed one (`resume`: the same settings,
/// shard and images, a line cut short by a kill dropped) or one started over (`force`).
/// Returns the keys of the runs already recorded and a note for the user, if any.
pub fn open_out(
    out: &Path,
    state: &BenchState,
    resume: bool,
    force: bool,
) -> Result<(BTreeSet<String>, Option<String>), HarnessError> {
    let io = |p: &Path, e: std::io::Error| HarnessError::Io {
        path: p.display().to_string(),
        source: e.into(),
    };
    if out.exists() && !out.is_dir() {
        return Err(HarnessError::Setting {
            field: "out".into(),
            reason: format!("{} exists and is not a folder", out.display()),
        });
    }
    std::fs::create_dir_all(out).map_err(|e| io(out, e))?;
    let results = out.join("results.jsonl");
    let mut done = BTreeSet::new();
    let mut note = None;
    if results.exists() {
        if resume {
            // Families only group variants in the figures: a resumed bench may regroup.
            let old = BenchState::read(out)?.without_families();
            let new = state.clone().without_families();
            if old == new {
            } else if let Some(added) = old.extended_by(&new) {
                note = Some(format!("adding solvers {} to the bench", added.join(", ")));
            } else if let Some(d) = old.first_difference(&new) {
                return Err(HarnessError::Resume(format!(
                    "cannot resume {}: its bench ran other settings ({d}); use another --out, or --force to start over",
                    out.display()
                )));
            }
            let (records, dropped) = read_records(&results)?;
            if dropped.is_some() {
                record::write_records(&results, &records)?;
                note = Some(
                    "dropped the last line of results.jsonl, cut short when the bench was stopped"
                        .to_string(),
                );
            }
            done = records.iter().map(RunRecord::key).collect();
        } else if force {
            std::fs::remove_file(&results).map_err(|e| io(&results, e))?;
            for d in ["outputs", "grids"] {
                let p = out.join(d);
                if p.exists() {
                    std::fs::remove_dir_all(&p).map_err(|e| io(&p, e))?;
                }
            }
            for f in REPORT_FILES {
                let p = out.join(f);
                if p.exists() {
                    std::fs::remove_file(&p).map_err(|e| io(&p, e))?;
                }
            }
        } else {
            return Err(HarnessError::Resume(format!(
                "{} exists: pass --resume to go on with it, or --force to start over",
                results.display()
            )));
        }
    } else if resume {
        note = Some(format!("nothing to resume in {}: starting", out.display()));
    }
    state.write(out)?;
    Ok((done, note))
}

/// What [`write_report`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFiles {
    /// `out/report.md`.
    pub report: PathBuf,
    /// Records in `results.jsonl` (all of them, not only this invocation's).
    pub runs: usize,
    /// Image grids drawn under `out/grids`: none when the runs' output images are not in
    /// `out/outputs` (records copied from elsewhere).
    pub grids: usize,
    /// Images per task the bench asked to show in its grids (0: no grids wanted).
    pub grid_images: usize,
}

/// What the report says of its LPIPS scores.
fn lpips_note(specs: &[config::LpipsSpec]) -> String {
    if specs.is_empty() {
        return "left out: no LPIPS weights (run `vmlmap metrics fetch-weights` once; benches then score LPIPS-alex and LPIPS-vgg).".to_string();
    }
    let nets: Vec<String> = specs
        .iter()
        .map(|l| {
            format!(
                "{} backbone from `{}`, linear layers {}",
                l.net,
                l.backbone,
                l.lin
                    .as_deref()
                    .map_or("of the lpips package (embedded)".to_string(), |p| format!(
                        "from `{p}`"
                    ))
            )
        })
        .collect();
    format!(
        "version 0.1 of Zhang et al. (2018): {}. Images in [-1, 1] go in at their own size (no resize); grey images are repeated to three channels.",
        nets.join("; ")
    )
}

/// Writes `report.md` and the figures of the results in `out`.
pub fn write_report(out: &Path) -> Result<ReportFiles, HarnessError> {
    let state = BenchState::read(out)?;
    let lpips_note = Some(lpips_note(&state.settings.lpips));
    let (records, _) = read_records(&out.join("results.jsonl"))?;
    let protocol = report::Protocol {
        images: state.images.clone(),
        image_source: state.settings.images.clone(),
        shape: format!("{}x{}x{}", state.shape[0], state.shape[1], state.shape[2]),
        lpips_note,
        expected_runs: state.expected_runs(),
    };
    let md = report::markdown(&state.settings, &records, &protocol);
    let p = out.join("report.md");
    vmlmap_io::write_atomic(&p, true, |tmp| {
        std::fs::write(tmp, &md).map_err(|e| e.to_string())
    })
    .map_err(|e| HarnessError::Io {
        path: p.display().to_string(),
        source: e.into(),
    })?;
    let grids = figures::write_figures(&state.settings, &records, state.shape(), out)?;
    Ok(ReportFiles {
        report: p,
        runs: records.len(),
        grids,
        grid_images: state.settings.grid_images,
    })
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), HarnessError> {
    let io = |p: &Path, e: std::io::Error| HarnessError::Io {
        path: p.display().to_string(),
        source: e.into(),
    };
    std::fs::create_dir_all(to).map_err(|e| io(to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| io(from, e))? {
        let entry = entry.map_err(|e| io(from, e))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if src.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst).map_err(|e| io(&src, e))?;
        }
    }
    Ok(())
}

/// What `merge` did.
#[derive(Clone, Debug, Default)]
pub struct MergeSummary {
    pub runs: usize,
    pub duplicates: usize,
    pub missing: usize,
}

/// Joins the results folders `dirs` (shards of one bench: the same settings and images)
/// into `out`: their lines in plan order (a run recorded twice is kept once), their
/// pictures, `bench.json` marked `merged`. The report is left to [`write_report`].
pub fn merge(dirs: &[PathBuf], out: &Path, force: bool) -> Result<MergeSummary, HarnessError> {
    let first = dirs.first().ok_or_else(|| HarnessError::Setting {
        field: "merge".into(),
        reason: "no results folder given".into(),
    })?;
    let base = BenchState::read(first)?;
    let mut records: Vec<RunRecord> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut summary = MergeSummary::default();
    for d in dirs {
        let st = BenchState::read(d)?;
        let mut cmp = st.clone();
        cmp.shard = base.shard.clone();
        if let Some(diff) = base.first_difference(&cmp) {
            return Err(HarnessError::Setting {
                field: "merge".into(),
                reason: format!(
                    "{} and {} are different benches ({diff})",
                    first.display(),
                    d.display()
                ),
            });
        }
        let (rs, _) = read_records(&d.join("results.jsonl"))?;
        for r in rs {
            if seen.insert(r.key()) {
                records.push(r);
            } else {
                summary.duplicates += 1;
            }
        }
    }
    let results = out.join("results.jsonl");
    if results.exists() && !force {
        return Err(HarnessError::Resume(format!(
            "{} exists; pass --force to replace it",
            results.display()
        )));
    }
    std::fs::create_dir_all(out).map_err(|e| HarnessError::Io {
        path: out.display().to_string(),
        source: e.into(),
    })?;
    // Plan order: by batch, and within a batch in the order it was written.
    records.sort_by_key(|r| r.batch);
    for d in dirs {
        let o = d.join("outputs");
        if o.is_dir() && d != out {
            copy_tree(&o, &out.join("outputs"))?;
        }
    }
    record::write_records(&results, &records)?;
    let state = BenchState {
        shard: "merged".into(),
        ..base
    };
    summary.runs = records.len();
    summary.missing = state.expected_runs().saturating_sub(records.len());
    state.write(out)?;
    Ok(summary)
}
