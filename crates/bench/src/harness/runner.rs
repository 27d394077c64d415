//! Runs a bench's batches: builds each task's operator once, measures every image with
//! noise seeded by the image and task (the same measurement for every solver and seed),
//! solves each batch in one `solve_batch` call, scores it, and appends its lines to
//! `results.jsonl`. A batch that fails is run again one run at a time; a run that fails
//! is recorded with its error and the bench goes on.

use super::config::BenchSettings;
use super::plan::{Batch, Run};
use super::record::{append_records, run_key, RunRecord};
use super::HarnessError;
use std::collections::{BTreeSet, HashMap};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;
use vmlmap_core::{Denoiser, Shape};
use vmlmap_operators::{LinearOperator, TaskSpec};
use vmlmap_solvers::{build_solver, Observer, Problem, SolverOptions};

/// A ground-truth image of the bench.
#[derive(Clone, Debug)]
pub struct BenchImage {
    pub name: String,
    pub x: Vec<f64>,
}

/// What every line records about where it ran.
#[derive(Clone, Debug, Default)]
pub struct RunMeta {
    pub model: String,
    pub model_sha256: String,
    pub machine: String,
    pub threads: usize,
    pub vmlmap_version: String,
    pub date: String,
}

/// A bench ready to run: settings, images, the operators built for the images' shape.
pub struct Bench<'a> {
    pub settings: &'a BenchSettings,
    pub images: &'a [BenchImage],
    pub shape: Shape,
    ops: Vec<Box<dyn LinearOperator>>,
    /// Each task's options written out (defaults included).
    task_opts: Vec<Vec<String>>,
    /// LPIPS-alex (scored into `lpips`) and LPIPS-vgg (into `lpips_vgg`), when weights
    /// were given.
    pub lpips: Option<&'a dyn PerceptualMetric>,
    pub lpips_vgg: Option<&'a dyn PerceptualMetric>,
}

/// FNV-1a of a string: a seed that stays the same across Rust versions and platforms.
fn stable_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

/// The seed of the measurement noise of `image` under `task`.
pub fn noise_seed(image: &str, task: &str) -> u64 {
    stable_hash(&format!("{image}\u{0}{task}"))
}

/// A noise level as a folder name: `1e-9`, `5e-2`.
pub fn sigma_label(s: f64) -> String {
    format!("{s:e}")
}

/// What a measurement looks like at the image's size: itself (denoising, colourisation
/// aside), the observed pixels for inpainting, else `H^+ y`.
pub fn measurement_view(op: &dyn LinearOperator, y: &[f64], shape: Shape, task: &str) -> Vec<f64> {
    match op.output_shape() {
        Some(s) if s == shape => y.to_vec(),
        _ if task.starts_with("inpaint") => op.adjoint(y),
        _ => op.pinv(y),
    }
}

/// Where the report's grid pictures of one (task, noise level) are kept.
pub fn outputs_dir(out: &Path, task: &str, sigma_y: f64) -> PathBuf {
    out.join("outputs").join(task).join(sigma_label(sigma_y))
}

/// A perceptual metric's own error, kept as the source of [`HarnessError::Metric`].
pub type MetricError = Box<dyn std::error::Error + Send + Sync>;

/// A perceptual distance between batches of images (LPIPS; kept behind a trait so that
/// the harness does not depend on the network stack).
pub trait PerceptualMetric {
    /// Distances between `n` image pairs (`a`, `b`: `n` images of `shape` back to back).
    fn distances(&self, a: &[f64], b: &[f64], shape: Shape) -> Result<Vec<f64>, MetricError>;
}

/// Steps of the batch under way, passed to a progress display.
pub trait BenchProgress {
    /// Batch `done` of `total` in this sitting is starting (`label`: solver and batch).
    fn batch(&mut self, done: usize, total: usize, label: &str);
    /// A solver step within the batch.
    fn step(&mut self, _step: usize, _steps: usize) {}
}

/// The measurements of a bench by (task, noise level, image).
type Measurements = HashMap<(usize, usize, usize), Vec<f64>>;

/// A run's outcome, its seconds, and the size of the batch it was computed in.
type Outcome = (Result<vmlmap_solvers::Solution, String>, f64, usize);

struct Steps<'a>(&'a mut dyn BenchProgress);

impl Observer for Steps<'_> {
    fn on_step(&mut self, step: usize, total: usize, _sigma: f64) -> ControlFlow<()> {
        self.0.step(step, total);
        ControlFlow::Continue(())
    }
}

impl<'a> Bench<'a> {
    /// Builds every task's operator for `shape` (an error names a task the images cannot
    /// take) and checks the images' sizes.
    pub fn new(
        settings: &'a BenchSettings,
        images: &'a [BenchImage],
        shape: Shape,
    ) -> Result<Self, HarnessError> {
        if images.is_empty() {
            return Err(HarnessError::Setting {
                field: "images".into(),
                reason: format!("{} holds no image", settings.images),
            });
        }
        if let Some(im) = images.iter().find(|im| im.x.len() != shape.numel()) {
            return Err(HarnessError::Setting {
                field: "images".into(),
                reason: format!(
                    "{} has {} values; the model's images are {shape}",
                    im.name,
                    im.x.len(),
                ),
            });
        }
        let mut ops = Vec::new();
        let mut task_opts = Vec::new();
        for t in &settings.tasks {
            let cannot = |e: vmlmap_operators::OperatorError| HarnessError::Setting {
                field: "tasks".into(),
                reason: format!("{} cannot run on the model's {shape} images: {e}", t.label),
            };
            let spec = TaskSpec::parse(&t.name, &t.opts).map_err(cannot)?;
            let resolved = spec.resolved(shape).map_err(cannot)?;
            ops.push(resolved.build(shape).map_err(cannot)?);
            task_opts.push(
                resolved
                    .options
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect(),
            );
        }
        Ok(Self {
            settings,
            images,
            shape,
            ops,
            task_opts,
            lpips: None,
            lpips_vgg: None,
        })
    }

    /// The measurement `y = H x + sigma_y eta` of a run.
    fn measure(&self, task: usize, sigma: usize, image: usize) -> Vec<f64> {
        let op = &self.ops[task];
        let im = &self.images[image];
        let seed = noise_seed(&im.name, &self.settings.tasks[task].label);
        vmlmap_operators::measure(op.as_ref(), &im.x, self.settings.sigma_y[sigma], seed)
    }

    fn key(&self, r: &Run) -> String {
        run_key(
            &self.images[r.image].name,
            &self.settings.tasks[r.task].label,
            &self.settings.solvers[r.solver].label,
            self.settings.sigma_y[r.sigma],
            r.seed,
        )
    }

    /// The batches among `batches` with a run not in `done`.
    pub fn pending<'b>(&self, batches: &'b [Batch], done: &BTreeSet<String>) -> Vec<&'b Batch> {
        batches
            .iter()
            .filter(|b| b.runs.iter().any(|r| !done.contains(&self.key(r))))
            .collect()
    }

    /// Runs `todo`, appending to `out/results.jsonl` the lines of runs not in `done`, and
    /// writes the grid pictures (seed 0 of the first `grid_images` images) under
    /// `out/outputs`. Returns the number of runs that failed.
    pub fn run(
        &self,
        todo: &[&Batch],
        done: &BTreeSet<String>,
        den: &dyn Denoiser,
        meta: &RunMeta,
        out: &Path,
        progress: &mut dyn BenchProgress,
    ) -> Result<usize, HarnessError> {
        let results = out.join("results.jsonl");
        let mut ys: Measurements = HashMap::new();
        let mut failed = 0;
        for (i, batch) in todo.iter().enumerate() {
            let entry = &self.settings.solvers[batch.runs[0].solver];
            progress.batch(
                i,
                todo.len(),
                &format!("{} batch {}", entry.label, batch.index),
            );
            for r in &batch.runs {
                ys.entry((r.task, r.sigma, r.image))
                    .or_insert_with(|| self.measure(r.task, r.sigma, r.image));
            }
            let solver = build_solver(
                &entry.solver,
                &SolverOptions {
                    extra: entry.opts.clone(),
                    ..Default::default()
                },
            )
            .map_err(|e| HarnessError::Setting {
                field: "solvers".into(),
                reason: e.to_string(),
            })?;
            let outcomes = self.solve(batch, solver.as_ref(), &ys, den, progress);
            let lpips = self.lpips_of(self.lpips, batch, &outcomes)?;
            let lpips_vgg = self.lpips_of(self.lpips_vgg, batch, &outcomes)?;
            let rss = peak_rss_mb();
            let mut lines = Vec::new();
            for (k, r) in batch.runs.iter().enumerate() {
                let mut rec = self.record(r, batch, &outcomes[k], meta, rss);
                rec.lpips = lpips[k];
                rec.lpips_vgg = lpips_vgg[k];
                if let Ok(sol) = &outcomes[k].0 {
                    self.save_grid_pictures(r, &sol.x, &ys, out)?;
                }
                failed += usize::from(!rec.ok());
                if !done.contains(&rec.key()) {
                    lines.push(rec);
                }
            }
            append_records(&results, &lines)?;
        }
        progress.batch(todo.len(), todo.len(), "");
        Ok(failed)
    }

    /// The batch's runs solved together; a batch that fails is run again one run at a time,
    /// so that one failing run (a diverging image, an operator the solver cannot take) does
    /// not take the others with it.
    fn solve(
        &self,
        batch: &Batch,
        solver: &dyn vmlmap_solvers::Solver,
        ys: &Measurements,
        den: &dyn Denoiser,
        progress: &mut dyn BenchProgress,
    ) -> Vec<Outcome> {
        let problem = |r: &Run| {
            Problem::new(
                self.ops[r.task].as_ref(),
                ys[&(r.task, r.sigma, r.image)].clone(),
                self.settings.sigma_y[r.sigma],
            )
        };
        let t = Instant::now();
        let whole = batch
            .runs
            .iter()
            .map(problem)
            .collect::<Result<Vec<_>, _>>()
            .and_then(|problems| {
                let seeds: Vec<u64> = batch.runs.iter().map(|r| r.seed).collect();
                solver.solve_batch(&problems, den, &seeds, &mut Steps(progress))
            });
        let n = batch.runs.len();
        match whole {
            Ok(sols) => {
                let secs = t.elapsed().as_secs_f64() / n as f64;
                sols.into_iter().map(|x| (Ok(x), secs, n)).collect()
            }
            Err(e) if n == 1 => vec![(Err(e.to_string()), t.elapsed().as_secs_f64(), 1)],
            Err(_) => batch
                .runs
                .iter()
                .map(|r| {
                    let t = Instant::now();
                    let res = problem(r)
                        .and_then(|p| solver.solve(&p, den, r.seed, &mut Steps(progress)));
                    (res.map_err(|e| e.to_string()), t.elapsed().as_secs_f64(), 1)
                })
                .collect(),
        }
    }

    /// LPIPS of the batch's outputs in one pass (its time is not the solver's); `None` for
    /// a failed run or without an LPIPS model.
    fn lpips_of(
        &self,
        metric: Option<&dyn PerceptualMetric>,
        batch: &Batch,
        outcomes: &[Outcome],
    ) -> Result<Vec<Option<f64>>, HarnessError> {
        let n = outcomes.len();
        let Some(m) = metric else {
            return Ok(vec![None; n]);
        };
        let ok: Vec<usize> = (0..n).filter(|&k| outcomes[k].0.is_ok()).collect();
        let mut out = vec![None; n];
        if ok.is_empty() {
            return Ok(out);
        }
        let outs: Vec<f64> = ok
            .iter()
            .flat_map(|&k| {
                outcomes[k]
                    .0
                    .as_ref()
                    .map(|s| s.x.clone())
                    .unwrap_or_default()
            })
            .collect();
        let gts: Vec<f64> = ok
            .iter()
            .flat_map(|&k| self.images[batch.runs[k].image].x.iter().copied())
            .collect();
        let d = m
            .distances(&outs, &gts, self.shape)
            .map_err(|source| HarnessError::Metric {
                metric: "LPIPS",
                source,
            })?;
        for (&k, v) in ok.iter().zip(d) {
            out[k] = Some(v);
        }
        Ok(out)
    }

    /// The record of one run (without LPIPS): its scores, or why it failed.
    fn record(
        &self,
        r: &Run,
        batch: &Batch,
        outcome: &Outcome,
        meta: &RunMeta,
        rss: Option<f64>,
    ) -> RunRecord {
        let entry = &self.settings.solvers[r.solver];
        let im = &self.images[r.image];
        let mut rec = RunRecord {
            image: im.name.clone(),
            task: self.settings.tasks[r.task].label.clone(),
            solver: entry.label.clone(),
            sigma_y: self.settings.sigma_y[r.sigma],
            seed: r.seed,
            status: "ok".into(),
            psnr: None,
            ssim: None,
            lpips: None,
            lpips_vgg: None,
            nfe: None,
            vjp: None,
            seconds: outcome.1,
            peak_rss_mb: rss,
            error: None,
            solver_name: entry.solver.clone(),
            solver_opts: entry.opts.clone(),
            task_opts: self.task_opts[r.task].clone(),
            model: meta.model.clone(),
            model_sha256: meta.model_sha256.clone(),
            batch: batch.index,
            batch_size: outcome.2,
            machine: meta.machine.clone(),
            threads: meta.threads,
            vmlmap_version: meta.vmlmap_version.clone(),
            date: meta.date.clone(),
        };
        match &outcome.0 {
            Ok(sol) => {
                rec.psnr = Some(vmlmap_metrics::psnr(&sol.x, &im.x));
                rec.ssim = vmlmap_metrics::ssim(&sol.x, &im.x, self.shape).ok();
                rec.nfe = Some(sol.nfe);
                rec.vjp = Some(sol.vjp);
            }
            Err(e) => {
                rec.status = "failed".into();
                rec.error = Some(e.clone());
            }
        }
        if rec.ok() && !rec.psnr.is_some_and(f64::is_finite) {
            rec.status = "failed".into();
            rec.error = Some("the output is not finite".into());
        }
        rec
    }

    /// The pictures of the report's grids: seed 0 of the first `grid_images` images, with
    /// their ground truth and measurement.
    fn save_grid_pictures(
        &self,
        r: &Run,
        x: &[f64],
        ys: &Measurements,
        out: &Path,
    ) -> Result<(), HarnessError> {
        if r.image >= self.settings.grid_images || r.seed != 0 {
            return Ok(());
        }
        let im = &self.images[r.image];
        let task = &self.settings.tasks[r.task];
        let dir = outputs_dir(out, &task.label, self.settings.sigma_y[r.sigma]);
        self.save(
            &dir.join(&self.settings.solvers[r.solver].label),
            &im.name,
            x,
        )?;
        self.save(&dir.join("_ground-truth"), &im.name, &im.x)?;
        let y = &ys[&(r.task, r.sigma, r.image)];
        let v = measurement_view(self.ops[r.task].as_ref(), y, self.shape, &task.name);
        self.save(&dir.join("_measurement"), &im.name, &v)
    }

    fn save(&self, dir: &Path, name: &str, x: &[f64]) -> Result<(), HarnessError> {
        std::fs::create_dir_all(dir).map_err(|e| HarnessError::Io {
            path: dir.display().to_string(),
            source: e.into(),
        })?;
        let p = dir.join(format!("{name}.npy"));
        vmlmap_io::write_array(&p, x, self.shape, true).map_err(|e| HarnessError::Io {
            path: p.display().to_string(),
            source: e.into(),
        })
    }
}

/// Peak resident memory of this process so far (Linux `VmHWM`), in MB.
pub fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
