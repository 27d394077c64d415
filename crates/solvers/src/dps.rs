//! DPS (Chung, Kim, Mccann, Klasky, Ye, "Diffusion posterior sampling for general noisy
//! inverse problems", ICLR 2023; docs/algorithms.md §8): DDPM's ancestral sampler over all 1000
//! training steps, each followed by a gradient step on the measurement error through the
//! network: `x_{i+1} <- x_{i+1} - zeta grad_{x_i} ‖y - H D(x_i)‖`, the gradient of the
//! *unsquared* norm, i.e. `zeta J^T H^T (H D - y) / ‖y - H D‖` (the official code's
//! `norm_grad * scale`; the paper's Algorithm 1 writes `zeta_i = zeta / ‖y - H D‖` times the
//! gradient of the squared norm, which is the same up to a factor 2 absorbed in zeta).
//! One VJP per step.
//!
//! The step is taken in the VP coordinates the paper works in, `x_vp = x / sqrt(1 + sigma²)`:
//! in this project's VE coordinates it is scaled by `sqrt(1 + next²) sqrt(1 + sigma²)`.
//!
//! Defaults (the official configurations): 1000 steps, `zeta = 0.5` for inpainting and
//! 0.3 for super-resolution, deblurring and the other tasks (some official configurations
//! use 1.0 for inpainting), and `clip = true`: each denoised estimate is clamped to the data
//! range `[-1, 1]` before the ancestral step and the residual, as the official code does
//! (`clip_denoised: True`, so the gradient is zero where the clamp is active). The paper's
//! Algorithm 1 has no clamp; `clip=false` gives it.

use crate::common::{
    check_finite, clamp_to_data_range, ddim_move, ddpm_levels, ddpm_sigmas, eps_hat, flat,
    positive, solutions, split, start,
};
use crate::{check_batch, Observer, Problem, Solution, Solver, SolverError};
use vmlmap_core::vector::{axpy, norm, sub};
use vmlmap_core::Denoiser;

/// Settings of DPS.
#[derive(Clone, Debug)]
pub struct Dps {
    pub steps: usize,
    /// `None`: the per-task default (see the module doc).
    pub zeta: Option<f64>,
    /// Clamp each denoised estimate to the data range `[-1, 1]`, in the ancestral step and
    /// in the measurement residual (whose gradient is then zero where the clamp is
    /// active), as the official code does (`clip_denoised: True`).
    pub clip: bool,
}

impl Default for Dps {
    fn default() -> Self {
        Self {
            steps: 1000,
            zeta: None,
            clip: true,
        }
    }
}

/// The official step weight for an operator, from its description.
pub fn default_zeta(describe: &str) -> f64 {
    if describe.starts_with("inpaint") {
        0.5
    } else {
        0.3
    }
}

impl Dps {
    pub fn check(self) -> Result<Self, SolverError> {
        ddpm_sigmas(self.steps)?;
        if let Some(z) = self.zeta {
            positive("zeta", z)?;
        }
        Ok(self)
    }
}

impl Solver for Dps {
    fn name(&self) -> &'static str {
        "dps"
    }
    fn computes(&self) -> crate::Computes {
        crate::Computes::Sample
    }

    fn solve_batch(
        &self,
        problems: &[Problem],
        denoiser: &dyn Denoiser,
        seeds: &[u64],
        observer: &mut dyn Observer,
    ) -> Result<Vec<Solution>, SolverError> {
        check_batch(problems, denoiser, seeds)?;
        let n = denoiser.shape().numel();
        let sigmas = ddpm_levels(self.steps, denoiser)?;
        let (mut rngs, mut xs) = start(denoiser, seeds, sigmas[0]);
        for (i, &sigma) in sigmas.iter().enumerate() {
            let next = sigmas.get(i + 1).copied().unwrap_or(0.0);
            let lin = denoiser.linearize_batch(&flat(&xs), &vec![sigma; problems.len()])?;
            let mut d = split(lin.output(), n);
            if self.clip {
                d.iter_mut().for_each(|db| clamp_to_data_range(db));
            }
            let w: Vec<f64> = problems
                .iter()
                .zip(&d)
                .flat_map(|(p, db)| {
                    let resid = sub(&p.op.apply(db), &p.y);
                    let r = norm(&resid).max(f64::MIN_POSITIVE);
                    p.op.adjoint(&resid)
                        .into_iter()
                        .zip(db)
                        // The clamp's derivative: zero where it is active.
                        .map(|(v, &x)| {
                            if x.abs() < 1.0 || !self.clip {
                                v / r
                            } else {
                                0.0
                            }
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            let grad = split(&lin.vjp(&w)?, n);
            let vp = ((1.0 + next * next) * (1.0 + sigma * sigma)).sqrt();
            for (b, p) in problems.iter().enumerate() {
                let e = eps_hat(&xs[b], &d[b], sigma);
                let mut x = ddim_move(&d[b], &e, sigma, next, 1.0, &mut rngs[b]);
                let zeta = self.zeta.unwrap_or_else(|| default_zeta(&p.op.describe()));
                axpy(&mut x, -zeta * vp, &grad[b]);
                xs[b] = x;
            }
            check_finite(&xs, i, sigma)?;
            observer.on_step(i, sigmas.len(), sigma);
        }
        Ok(solutions(xs, sigmas.len(), sigmas.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Silent;
    use vmlmap_core::Shape;
    use vmlmap_operators::TaskSpec;
    use vmlmap_priors::{Covariance, GaussianPrior};

    #[test]
    fn the_clamp_bounds_the_estimate_and_stops_the_gradient_where_it_is_active() {
        // A prior centred far above white: every denoised estimate is about 5, so with the
        // clamp the last step returns exactly 1 everywhere (the clamped estimate, no
        // gradient through the clamp); without it, the estimate and the data step.
        let shape = Shape::new(1, 8, 8).unwrap();
        let prior = GaussianPrior::new(shape, vec![5.0; 64], Covariance::Isotropic(0.01)).unwrap();
        let op = TaskSpec::new("inpaint-box").unwrap().build(shape).unwrap();
        let y = vec![0.0; op.output_len()];
        let problem = Problem::new(op.as_ref(), y, 0.05).unwrap();
        let run = |clip| {
            let dps = Dps {
                steps: 20,
                zeta: None,
                clip,
            };
            dps.solve_batch(std::slice::from_ref(&problem), &prior, &[3], &mut Silent)
                .unwrap()
                .remove(0)
                .x
        };
        assert!(run(true).iter().all(|&v| v == 1.0));
        let free = run(false);
        assert!(free.iter().all(|v| v.is_finite()));
        assert!(free.iter().any(|v| (v - 1.0).abs() > 0.5), "{free:?}");
    }
}
