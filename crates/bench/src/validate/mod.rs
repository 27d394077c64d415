//! `vmlmap validate`: VML-MAP (arXiv 2512.10524) and the baselines on exact priors, for
//! every operator, noise-free (`sigma_y = 1e-9`) and noisy (`sigma_y = 0.05`).
//!
//! Three checks (docs/algorithms.md §5–6):
//! - `per-step`: at a fixed sigma, minimising `VML_S` with the inner optimiser reaches
//!   `D(x*, sigma) = MAP` (Gaussian priors, where this is exact); the preconditioned and the
//!   plain (step `1/L`, `L` by power iteration) optimisers' iteration counts side by side.
//! - `end-to-end`: the whole run's relative error to the exact MAP as `N` grows (`K = 5`).
//! - `mode`: on a well-separated Gaussian mixture, the output lies on a posterior mode; the
//!   fraction of seeded runs on the highest mode is printed beside that mode's weight.
//! - `baselines`: every other solver on the isotropic Gaussian prior, against what it
//!   computes: a MAP, or for samplers the mean and variance of seeded runs against the
//!   exact posterior's (see [`baselines`]).

pub mod baselines;

use crate::problems::{
    gaussian_priors, measure, mixture_prior, operator, shape_for, validation_tasks,
};
use rayon::prelude::*;
use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use vmlmap_core::rng::{normal_vec, seeded};
use vmlmap_core::vector::{all_finite, rel_err};
use vmlmap_core::Denoiser;
use vmlmap_operators::LinearOperator;
use vmlmap_priors::GaussianPrior;
use vmlmap_solvers::vml_map::{
    minimise_at_sigma, plain_lipschitz, InnerOptimiser, Preconditioning, VmlMapConfig,
};
use vmlmap_solvers::{build_solver, Problem, Silent, Solver, SolverOptions};

/// What to run.
#[derive(Clone, Debug)]
pub struct ValidateOptions {
    /// Task names (default: every task that needs no file).
    pub tasks: Vec<String>,
    /// Measurement noise levels (`[-1, 1]` units).
    pub sigma_ys: Vec<f64>,
    /// Reverse-step counts of the end-to-end check (`K = 5`).
    pub steps: Vec<usize>,
    /// Noise levels of the per-step check.
    pub per_step_sigmas: Vec<f64>,
    /// Iteration cap of the plain per-step optimiser (the preconditioned one gets 100,000).
    pub plain_cap: usize,
    /// Seeded runs per mixture problem, and their reverse steps.
    pub mode_runs: usize,
    pub mode_steps: usize,
    /// Which checks to run.
    pub checks: Vec<String>,
    /// Gaussian priors of the `baselines` check (0 `gauss-iso`, 1 `gauss-lowrank`).
    pub baseline_priors: Vec<usize>,
    /// Solvers of the `baselines` check (default: every one but VML-MAP and pinv).
    pub baseline_solvers: Vec<&'static str>,
}

impl ValidateOptions {
    /// `vmlmap validate --quick`: six tasks, fewer runs and iterations, one Gaussian prior
    /// for the baselines (about a tenth of the time).
    pub fn quick() -> Self {
        Self {
            tasks: [
                "inpaint-box",
                "inpaint-random",
                "sr4",
                "deblur-gaussian",
                "deblur-motion",
                "cs",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            steps: vec![20, 100, 1000],
            plain_cap: 2_000,
            mode_runs: 4,
            baseline_priors: vec![1],
            ..Self::default()
        }
    }
}

impl Default for ValidateOptions {
    fn default() -> Self {
        Self {
            tasks: validation_tasks().iter().map(|s| s.to_string()).collect(),
            sigma_ys: vec![1e-9, 0.05],
            steps: vec![20, 100, 1000],
            per_step_sigmas: vec![0.5, 0.1],
            plain_cap: 20_000,
            mode_runs: 10,
            mode_steps: 1000,
            checks: vec![
                "per-step".into(),
                "end-to-end".into(),
                "mode".into(),
                "baselines".into(),
            ],
            baseline_priors: vec![0, 1],
            baseline_solvers: baselines::baseline_solvers(),
        }
    }
}

/// The relative tolerances the checks use.
pub const PER_STEP_TOL: f64 = 1e-6;
pub const END_TO_END_TOL: f64 = 1e-3;
pub const MODE_TOL: f64 = 1e-3;
const PRECONDITIONED_CAP: usize = 100_000;
const INNER: usize = 5;

/// One line of the report.
#[derive(Clone, Debug, Serialize)]
pub struct Record {
    pub solver: String,
    pub prior: String,
    pub operator: String,
    pub sigma_y: f64,
    pub check: String,
    pub steps: usize,
    pub inner: usize,
    pub rel_err_to_map: f64,
    pub measurement_residual: f64,
    pub nfe: usize,
    pub vjp: usize,
    pub seconds: f64,
    pub pass: bool,
    /// The bound `rel_err_to_map` is held to.
    pub tolerance: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sigma: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub converged: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runs: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub highest_mode_fraction: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub highest_mode_weight: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stationarity: Option<f64>,
    /// What the solver's derivation says it computes (`baselines` check).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub computes: Option<String>,
    /// `pinv`'s relative error to the exact posterior mean on the same problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinv_rel_err: Option<f64>,
    /// A sampler's mean per-pixel variance over the exact posterior's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variance_ratio: Option<f64>,
    /// A sampler's bias: its runs' mean's distance to the exact posterior mean, less the
    /// Monte Carlo part, relative to the mean's norm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bias: Option<f64>,
    /// Noisy `baselines` checks: whether the solver is closer to its target than `pinv`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beats_pinv: Option<bool>,
    pub note: String,
}

impl Record {
    pub(crate) fn new(
        solver: &str,
        prior: &str,
        operator: &str,
        sigma_y: f64,
        check: &str,
    ) -> Self {
        Self {
            solver: solver.into(),
            prior: prior.into(),
            operator: operator.into(),
            sigma_y,
            check: check.into(),
            steps: 0,
            inner: 0,
            rel_err_to_map: f64::NAN,
            measurement_residual: f64::NAN,
            nfe: 0,
            vjp: 0,
            seconds: 0.0,
            pass: false,
            tolerance: f64::NAN,
            sigma: None,
            converged: None,
            runs: None,
            highest_mode_fraction: None,
            highest_mode_weight: None,
            stationarity: None,
            computes: None,
            pinv_rel_err: None,
            variance_ratio: None,
            bias: None,
            beats_pinv: None,
            note: String::new(),
        }
    }

    pub(crate) fn failed(mut self, why: impl std::fmt::Display) -> Self {
        self.pass = false;
        self.note = format!("error: {why}");
        self
    }
}

/// Whether `H` is ill-conditioned for plain gradient descent noise-free: a null space, or
/// a condition number above 100.
fn ill_conditioned(op: &dyn LinearOperator) -> bool {
    let s = op.singular_values();
    let max = s.iter().cloned().fold(0.0, f64::max);
    let min = s.iter().cloned().fold(f64::MAX, f64::min);
    min <= 1e-12 * max || max / min > 100.0
}

enum Job {
    PerStep {
        task: String,
        prior: usize,
        sigma_y: f64,
    },
    EndToEnd {
        task: String,
        prior: usize,
        sigma_y: f64,
    },
    Mode {
        task: String,
        sigma_y: f64,
    },
    Baselines {
        task: String,
        prior: usize,
        sigma_y: f64,
        solver: &'static str,
    },
}

/// Runs the checks (in parallel over problems); `progress(done, total)` after each problem.
/// Records come back in a fixed order.
pub fn run_validation(
    opts: &ValidateOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Vec<Record> {
    let mut jobs = Vec::new();
    let want = |c: &str| opts.checks.iter().any(|x| x == c);
    for task in &opts.tasks {
        for &sigma_y in &opts.sigma_ys {
            for prior in 0..2 {
                if want("per-step") {
                    jobs.push(Job::PerStep {
                        task: task.clone(),
                        prior,
                        sigma_y,
                    });
                }
                if want("end-to-end") {
                    jobs.push(Job::EndToEnd {
                        task: task.clone(),
                        prior,
                        sigma_y,
                    });
                }
            }
            if want("mode") && task != "colorize" {
                jobs.push(Job::Mode {
                    task: task.clone(),
                    sigma_y,
                });
            }
            if want("baselines") {
                for &prior in &opts.baseline_priors {
                    for &solver in &opts.baseline_solvers {
                        jobs.push(Job::Baselines {
                            task: task.clone(),
                            prior,
                            sigma_y,
                            solver,
                        });
                    }
                }
            }
        }
    }
    let total = jobs.len();
    let done = AtomicUsize::new(0);
    jobs.par_iter()
        .map(|job| {
            let out = match job {
                Job::PerStep {
                    task,
                    prior,
                    sigma_y,
                } => per_step(opts, task, *prior, *sigma_y),
                Job::EndToEnd {
                    task,
                    prior,
                    sigma_y,
                } => end_to_end(opts, task, *prior, *sigma_y),
                Job::Mode { task, sigma_y } => vec![mode(opts, task, *sigma_y)],
                Job::Baselines {
                    task,
                    prior,
                    sigma_y,
                    solver,
                } => baselines::baseline_checks(task, *prior, *sigma_y, &[solver]),
            };
            progress(done.fetch_add(1, Ordering::SeqCst) + 1, total);
            out
        })
        .collect::<Vec<_>>()
        .into_iter()
        .flatten()
        .collect()
}

struct Setup {
    op: Box<dyn LinearOperator>,
    prior_name: &'static str,
    prior: GaussianPrior,
    y: Vec<f64>,
    map: Vec<f64>,
}

fn setup(task: &str, prior: usize, sigma_y: f64) -> Result<Setup, String> {
    let op = operator(task).map_err(|e| e.to_string())?;
    let (prior_name, prior) = gaussian_priors(shape_for(task)).swap_remove(prior);
    let x0 = prior.sample(&mut seeded(7));
    let y = measure(op.as_ref(), &x0, sigma_y, 7);
    let map = prior
        .posterior(op.as_ref(), &y, sigma_y)
        .map_err(|e| e.to_string())?
        .map()
        .to_vec();
    Ok(Setup {
        op,
        prior_name,
        prior,
        y,
        map,
    })
}

fn per_step(opts: &ValidateOptions, task: &str, prior: usize, sigma_y: f64) -> Vec<Record> {
    let s = match setup(task, prior, sigma_y) {
        Ok(s) => s,
        Err(e) => return vec![Record::new("vml-map", "?", task, sigma_y, "per-step").failed(e)],
    };
    let problem = Problem::new(s.op.as_ref(), s.y.clone(), sigma_y).expect("consistent problem");
    let x_init = normal_vec(&mut seeded(1), s.op.input_shape().numel());
    let mut out = Vec::new();
    let ill = ill_conditioned(s.op.as_ref());
    for &sigma in &opts.per_step_sigmas {
        let target = 0.5 * PER_STEP_TOL;
        let run = |pre: Preconditioning, lr: f64, cap: usize, name: &str| -> Record {
            let mut r = Record::new(name, s.prior_name, &s.op.describe(), sigma_y, "per-step");
            r.sigma = Some(sigma);
            r.tolerance = PER_STEP_TOL;
            let t = Instant::now();
            let opt = InnerOptimiser {
                preconditioning: pre,
                lr,
                cap,
            };
            match minimise_at_sigma(&problem, &s.prior, &x_init, sigma, opt, |d| {
                rel_err(d, &s.map) <= target
            }) {
                Ok((_, d, it)) => {
                    r.seconds = t.elapsed().as_secs_f64();
                    r.steps = 1;
                    r.inner = it;
                    r.nfe = 2 * it;
                    r.vjp = it;
                    r.rel_err_to_map = rel_err(&d, &s.map);
                    r.measurement_residual = problem.residual(&d);
                    r.converged = Some(r.rel_err_to_map <= PER_STEP_TOL);
                }
                Err(e) => return r.failed(e),
            }
            r
        };
        let mut pre = run(Preconditioning::Gram, 1.0, PRECONDITIONED_CAP, "vml-map");
        pre.pass = pre.converged == Some(true);
        let l = plain_lipschitz(&problem, &s.prior, &x_init, sigma, 100).unwrap_or(f64::NAN);
        // The cap always exceeds 10x the preconditioned count, so "10x fewer" is decided.
        let cap = opts.plain_cap.max(10 * pre.inner + 1);
        let mut plain = run(Preconditioning::Plain, 1.0 / l, cap, "vml-map-plain");
        plain.note = format!("step 1/L, L = {l:.3e}; cap {cap}");
        let init_err = rel_err(
            &s.prior.denoise(&x_init, sigma).expect("valid input"),
            &s.map,
        );
        if sigma_y < 1e-6 {
            if ill {
                // Noise-free on an ill-conditioned operator: preconditioning must converge where
                // plain descent does not, or in at least 10x fewer iterations.
                plain.pass =
                    pre.pass && (plain.converged != Some(true) || plain.inner >= 10 * pre.inner);
                pre.note = if plain.converged == Some(true) {
                    format!(
                        "{:.0}x fewer iterations than plain",
                        plain.inner as f64 / pre.inner.max(1) as f64
                    )
                } else {
                    format!(
                        "plain did not converge in {} iterations ({:.0}x these)",
                        plain.inner,
                        plain.inner as f64 / pre.inner.max(1) as f64
                    )
                };
            } else {
                plain.pass = plain.converged == Some(true) && pre.pass;
                plain
                    .note
                    .push_str("; well-conditioned operator: both must converge");
            }
        } else {
            // Noisy: plain descent must make progress (it may be slow).
            plain.pass = plain.converged == Some(true)
                || (plain.rel_err_to_map.is_finite() && plain.rel_err_to_map < init_err);
        }
        out.push(pre);
        out.push(plain);
    }
    out
}

fn end_to_end(opts: &ValidateOptions, task: &str, prior: usize, sigma_y: f64) -> Vec<Record> {
    let s = match setup(task, prior, sigma_y) {
        Ok(s) => s,
        Err(e) => return vec![Record::new("vml-map", "?", task, sigma_y, "end-to-end").failed(e)],
    };
    let problem = Problem::new(s.op.as_ref(), s.y.clone(), sigma_y).expect("consistent problem");
    let mut out = Vec::new();
    let mut prev: Option<f64> = None;
    let max_steps = opts.steps.iter().copied().max().unwrap_or(0);
    for &n in &opts.steps {
        let mut r = Record::new(
            "vml-map",
            s.prior_name,
            &s.op.describe(),
            sigma_y,
            "end-to-end",
        );
        let solver = match (VmlMapConfig {
            steps: n,
            inner: INNER,
            ..VmlMapConfig::paper()
        })
        .check()
        {
            Ok(v) => v,
            Err(e) => {
                out.push(r.failed(e));
                continue;
            }
        };
        let t = Instant::now();
        match solver.solve(&problem, &s.prior, 0, &mut Silent) {
            Ok(sol) => {
                r.seconds = t.elapsed().as_secs_f64();
                r.steps = n;
                r.inner = INNER;
                r.nfe = sol.nfe;
                r.vjp = sol.vjp;
                r.rel_err_to_map = rel_err(&sol.x, &s.map);
                r.measurement_residual = problem.residual(&sol.x);
                // Below the per-step tolerance a run has converged: the noise-free blur
                // lands on the MAP to 3e-8 at every N, and jitter at that level is not growth.
                let shrinks = prev.is_none_or(|p| r.rel_err_to_map <= p.max(PER_STEP_TOL));
                let final_ok = n < max_steps || r.rel_err_to_map <= END_TO_END_TOL;
                r.tolerance = if n == max_steps {
                    END_TO_END_TOL
                } else {
                    prev.unwrap_or(f64::INFINITY).max(PER_STEP_TOL)
                };
                r.pass = all_finite(&sol.x) && shrinks && final_ok;
                r.note = if n == max_steps {
                    format!("must be <= {END_TO_END_TOL:e} and not above N before")
                } else {
                    "must not grow with N".into()
                };
                prev = Some(r.rel_err_to_map);
            }
            Err(e) => r = r.failed(e),
        }
        out.push(r);
    }
    // The trivial baseline: H^+ y fits the measurement (every operator here has full row rank).
    let mut r = Record::new(
        "pinv",
        s.prior_name,
        &s.op.describe(),
        sigma_y,
        "end-to-end",
    );
    let t = Instant::now();
    let sol = build_solver("pinv", &SolverOptions::default())
        .expect("pinv")
        .solve(&problem, &s.prior, 0, &mut Silent);
    match sol {
        Ok(sol) => {
            r.seconds = t.elapsed().as_secs_f64();
            r.rel_err_to_map = rel_err(&sol.x, &s.map);
            r.measurement_residual = problem.residual(&sol.x);
            r.tolerance = 1e-6;
            r.pass = r.measurement_residual <= 1e-6;
            r.note = "pass: H H^+ y = y (residual <= 1e-6)".into();
        }
        Err(e) => r = r.failed(e),
    }
    out.push(r);
    out
}

fn mode(opts: &ValidateOptions, task: &str, sigma_y: f64) -> Record {
    let op = match operator(task) {
        Ok(op) => op,
        Err(e) => return Record::new("vml-map", "gmm3", task, sigma_y, "mode").failed(e),
    };
    let prior = mixture_prior(shape_for(task));
    let mut r = Record::new("vml-map", "gmm3", &op.describe(), sigma_y, "mode");
    // Ground truth from the second component, so that the measurement is not trivially
    // explained by the heaviest prior component.
    let mut rng = seeded(11);
    let z = normal_vec(&mut rng, op.input_shape().numel());
    let x0: Vec<f64> = prior.means()[1]
        .iter()
        .zip(&z)
        .map(|(m, e)| m + 0.14 * e)
        .collect();
    let y = measure(op.as_ref(), &x0, sigma_y, 11);
    let post = match prior.posterior(op.as_ref(), &y, sigma_y) {
        Ok(p) => p,
        Err(e) => return r.failed(e),
    };
    let modes = post.modes();
    let problem = Problem::new(op.as_ref(), y.clone(), sigma_y).expect("consistent problem");
    let solver = (VmlMapConfig {
        steps: opts.mode_steps,
        inner: INNER,
        ..VmlMapConfig::paper()
    })
    .check()
    .expect("valid config");
    let t = Instant::now();
    let (mut worst, mut on_top, mut worst_stat, mut resid) = (0.0f64, 0usize, 0.0f64, 0.0f64);
    for seed in 0..opts.mode_runs as u64 {
        let sol = match solver.solve(&problem, &prior, seed, &mut Silent) {
            Ok(s) => s,
            Err(e) => return r.failed(e),
        };
        let (best, dist) = modes
            .iter()
            .enumerate()
            .map(|(i, m)| (i, rel_err(&sol.x, &m.x)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("at least one mode");
        worst = worst.max(dist);
        worst_stat = worst_stat.max(post.stationarity(&sol.x));
        resid = resid.max(problem.residual(&sol.x));
        if best == 0 {
            on_top += 1;
        }
        r.nfe = sol.nfe;
        r.vjp = sol.vjp;
    }
    let runs = opts.mode_runs.max(1) as f64;
    let fraction = on_top as f64 / runs;
    let top_weight = modes[0].weight;
    r.seconds = t.elapsed().as_secs_f64() / runs;
    r.steps = opts.mode_steps;
    r.inner = INNER;
    r.rel_err_to_map = worst;
    r.measurement_residual = resid;
    r.tolerance = MODE_TOL;
    r.runs = Some(opts.mode_runs);
    r.highest_mode_fraction = Some(fraction);
    r.highest_mode_weight = Some(top_weight);
    r.stationarity = Some(worst_stat);
    // A perfect posterior sampler lands on the highest mode with probability `top_weight`;
    // a mode-seeker should do at least as well (two binomial standard errors of slack).
    let slack = 2.0 * (top_weight * (1.0 - top_weight) / runs).sqrt();
    r.pass = worst <= MODE_TOL && fraction + slack >= top_weight;
    r.note = format!(
        "{} modes; rel_err_to_map = worst distance to the nearest mode; {on_top}/{} runs on the highest mode (posterior weight {top_weight:.3})",
        modes.len(),
        opts.mode_runs
    );
    r
}
