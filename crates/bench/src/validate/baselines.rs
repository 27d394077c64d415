//! The `baselines` check of `vmlmap validate`: every solver other than VML-MAP on the
//! isotropic Gaussian prior (`gauss-iso`, docs/algorithms.md §6), against what its derivation
//! says it computes.
//!
//! - `tikhonov` is the MAP of the zero-mean prior `N(0, 0.25 I)`: checked to 1e-6 against
//!   that prior's exact posterior mean.
//! - `red-diff` (Mardani et al. 2024) is a regularised MAP-like point: its error to the
//!   exact MAP is measured and printed.
//! - The samplers — `ddnm` (Wang et al. 2023), `ddrm` (Kawar et al. 2022), `diffpir` (Zhu et
//!   al. 2023), `pigdm` (Song et al. 2023), `dps` (Chung et al. 2023) — approximate posterior
//!   samples: [`SAMPLER_SEEDS`] seeded runs go as one batch, and their mean and per-pixel
//!   variance are compared with the exact posterior's. Their approximations make them biased
//!   by construction, so the bias is printed, not failed.
//!
//! Every solver must give finite output; `tikhonov` must equal its closed form. On the noisy
//! measurements (`sigma_y > 1e-6`) each is compared with `pinv`'s `H⁺y`: `tikhonov` by its
//! distance to its own prior's MAP, a sampler by its bias (the distance of its runs' mean
//! to the exact posterior mean with the Monte Carlo part removed, `‖mean − MAP‖² − Σ var_i /
//! runs`, so that 64 runs of an unbiased sampler are not blamed for their sampling noise),
//! `red-diff` by its distance to the MAP. The samplers and `red-diff` are biased by
//! construction, so their bias and the comparison are printed (`beats_pinv`), not failed; a
//! solver that cannot take an operator (DDRM without an SVD) is recorded as not applicable,
//! with the reason.

use super::Record;
use crate::problems::{gaussian_priors, measure, operator, shape_for};
use std::time::Instant;
use vmlmap_core::rng::seeded;
use vmlmap_core::vector::{all_finite, rel_err};
use vmlmap_priors::{Covariance, GaussianPrior};
use vmlmap_solvers::{build_solver, Computes, Problem, Silent, SolverError, SolverOptions};

/// Seeded runs of each sampler (one batch).
pub const SAMPLER_SEEDS: usize = 64;
/// A point estimate this many times farther from the exact MAP than pinv (or than the MAP's
/// own norm) has diverged: the check fails.
pub const DIVERGED: f64 = 100.0;

/// Tikhonov must equal its closed form to this relative error.
pub const TIKHONOV_TOL: f64 = 1e-6;

/// What a solver's derivation says it computes, as its declaration says
/// ([`vmlmap_solvers::Declaration::computes`]); `"unknown solver"` for a name the registry
/// does not know.
pub fn computes(solver: &str) -> &'static str {
    vmlmap_solvers::registry::declaration(solver)
        .map(|d| d.computes.describe())
        .unwrap_or("unknown solver")
}

/// The solvers the per-step, end-to-end and mode checks cover instead.
pub const VML_CHECKED: &[&str] = &["vml-map", "vml-map-plain"];

/// The solvers this check covers, in the registry's order: all but those of the VML-MAP
/// checks ([`VML_CHECKED`]) and the data fit (the reference every one is compared with).
/// Every other mode seeker (MAP-GA, vml-map-full) is scored by its distance to the exact
/// MAP.
pub fn baseline_solvers() -> Vec<&'static str> {
    vmlmap_solvers::SOLVERS
        .iter()
        .filter(|d| d.computes != Computes::DataFit && !VML_CHECKED.contains(&d.name))
        .map(|d| d.name)
        .collect()
}

fn sampler(solver: &str) -> bool {
    computes(solver).starts_with("posterior sample")
}

/// Runs every baseline on one task and noise level.
pub fn baseline_checks(task: &str, prior: usize, sigma_y: f64, solvers: &[&str]) -> Vec<Record> {
    let mut out = Vec::new();
    let op = match operator(task) {
        Ok(op) => op,
        Err(e) => return vec![Record::new("baselines", "?", task, sigma_y, "baselines").failed(e)],
    };
    let shape = shape_for(task);
    let (prior_name, prior) = gaussian_priors(shape).swap_remove(prior);
    let x0 = prior.sample(&mut seeded(7));
    let y = measure(op.as_ref(), &x0, sigma_y, 7);
    let post = match prior.posterior(op.as_ref(), &y, sigma_y) {
        Ok(p) => p,
        Err(e) => {
            return vec![Record::new("baselines", prior_name, task, sigma_y, "baselines").failed(e)]
        }
    };
    let map = post.map().to_vec();
    let n = map.len();
    // Exact per-pixel posterior variance: the diagonal of C, one column at a time.
    let exact_var: Vec<f64> = (0..n)
        .map(|i| {
            let mut e = vec![0.0; n];
            e[i] = 1.0;
            post.cov_apply(&e)[i]
        })
        .collect();
    let mean_exact_var = exact_var.iter().sum::<f64>() / n as f64;
    let problem = Problem::new(op.as_ref(), y.clone(), sigma_y).expect("consistent problem");
    let pinv_x = op.pinv(&y);
    let pinv_err = rel_err(&pinv_x, &map);
    let noisy = sigma_y > 1e-6;
    let describe = op.describe();
    for &name in solvers {
        let mut r = Record::new(name, prior_name, &describe, sigma_y, "baselines");
        r.computes = Some(computes(name).to_string());
        r.pinv_rel_err = Some(pinv_err);
        let solver = match build_solver(name, &SolverOptions::default()) {
            Ok(s) => s,
            Err(e) => {
                out.push(r.failed(e));
                continue;
            }
        };
        let runs = if sampler(name) { SAMPLER_SEEDS } else { 1 };
        let problems: Vec<Problem> = (0..runs).map(|_| problem.clone()).collect();
        let seeds: Vec<u64> = (0..runs as u64).collect();
        let t = Instant::now();
        let sols = match solver.solve_batch(&problems, &prior, &seeds, &mut Silent) {
            Ok(s) => s,
            Err(e @ SolverError::NeedsSvd { .. }) => {
                r.pass = true;
                r.note = format!("not applicable: {e}");
                out.push(r);
                continue;
            }
            Err(e) => {
                out.push(r.failed(e));
                continue;
            }
        };
        r.seconds = t.elapsed().as_secs_f64() / runs as f64;
        r.nfe = sols[0].nfe;
        r.vjp = sols[0].vjp;
        r.steps = sols[0].nfe.max(1);
        let finite = sols.iter().all(|s| all_finite(&s.x));
        let mean: Vec<f64> = (0..n)
            .map(|i| sols.iter().map(|s| s.x[i]).sum::<f64>() / runs as f64)
            .collect();
        r.rel_err_to_map = rel_err(&mean, &map);
        r.measurement_residual = problem.residual(&mean);
        if name == "tikhonov" {
            let case = Case {
                op: op.as_ref(),
                y: &y,
                sigma_y,
                pinv_x: &pinv_x,
                noisy,
            };
            r = judge_tikhonov(r, &sols[0].x, &case, prior_name, finite);
        } else if sampler(name) {
            judge_sampler(&mut r, &sols, &mean, &map, mean_exact_var, pinv_err, noisy);
            r.pass = finite;
        } else {
            let err = r.rel_err_to_map;
            let text = versus(&mut r, noisy, err, pinv_err);
            // Biased by construction is allowed; a divergence is not.
            let diverged = err.is_nan() || err > DIVERGED * pinv_err.max(1.0);
            r.pass = finite && !diverged;
            r.note = format!("distance to the exact MAP{text}");
            if diverged {
                r.note.push_str("; DIVERGED (over 100× pinv's error)");
            }
        }
        if !finite {
            r.note.push_str("; NON-FINITE output");
        }
        out.push(r);
    }
    out
}

/// What the Tikhonov check needs of the problem.
struct Case<'a> {
    op: &'a dyn vmlmap_operators::LinearOperator,
    y: &'a [f64],
    sigma_y: f64,
    pinv_x: &'a [f64],
    noisy: bool,
}

/// On a noisy measurement, whether `err` beats pinv's, recorded and as a phrase.
fn versus(r: &mut Record, noisy: bool, err: f64, pinv: f64) -> String {
    if !noisy {
        return String::new();
    }
    let better = err < pinv;
    r.beats_pinv = Some(better);
    let word = if better { "better" } else { "NOT better" };
    format!("; pinv {pinv:.2e}: {word}")
}

/// Tikhonov against the exact MAP of its own prior `N(0, 0.25 I)`.
fn judge_tikhonov(mut r: Record, x: &[f64], case: &Case, prior_name: &str, finite: bool) -> Record {
    let shape = case.op.input_shape();
    let zero = GaussianPrior::new(shape, vec![0.0; shape.numel()], Covariance::Isotropic(0.25))
        .expect("valid prior");
    let want = zero
        .posterior(case.op, case.y, case.sigma_y)
        .map(|p| p.map().to_vec());
    match want {
        Ok(want) => {
            let e = rel_err(x, &want);
            let text = versus(&mut r, case.noisy, e, rel_err(case.pinv_x, &want));
            let to_prior_map = r.rel_err_to_map;
            r.rel_err_to_map = e;
            r.tolerance = TIKHONOV_TOL;
            r.pass = finite && e <= TIKHONOV_TOL && r.beats_pinv != Some(false);
            r.note = format!(
                "rel_err = distance to the exact MAP of N(0, 0.25 I), its own prior (tolerance {TIKHONOV_TOL:e}); {to_prior_map:.2e} from {prior_name}'s MAP{text}"
            );
            r
        }
        Err(e) => r.failed(e),
    }
}

/// A sampler's runs: their per-pixel variance against the exact posterior's, and the bias
/// of their mean (its squared distance to the MAP less its Monte Carlo part).
fn judge_sampler(
    r: &mut Record,
    sols: &[vmlmap_solvers::Solution],
    mean: &[f64],
    map: &[f64],
    mean_exact_var: f64,
    pinv_err: f64,
    noisy: bool,
) {
    let (runs, n) = (sols.len(), map.len());
    let var: Vec<f64> = (0..n)
        .map(|i| sols.iter().map(|s| (s.x[i] - mean[i]).powi(2)).sum::<f64>() / (runs - 1) as f64)
        .collect();
    let mean_var = var.iter().sum::<f64>() / n as f64;
    let ratio = mean_var / mean_exact_var;
    let norm2 = map.iter().map(|v| v * v).sum::<f64>();
    let dist2: f64 = mean.iter().zip(map).map(|(a, b)| (a - b).powi(2)).sum();
    let bias = ((dist2 - var.iter().sum::<f64>() / runs as f64).max(0.0) / norm2).sqrt();
    let text = versus(r, noisy, bias, pinv_err);
    r.runs = Some(runs);
    r.variance_ratio = Some(ratio);
    r.bias = Some(bias);
    r.note = format!(
        "{runs} runs: bias {bias:.2e} (mean's rel_err {:.2e} less its Monte Carlo part); per-pixel variance {mean_var:.2e} vs exact {mean_exact_var:.2e} (ratio {ratio:.2}){text}",
        r.rel_err_to_map
    );
}
