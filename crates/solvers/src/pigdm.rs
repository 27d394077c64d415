//! ΠGDM (Song, Vahdat, Mardani, Kautz, "Pseudoinverse-guided diffusion models for inverse
//! problems", ICLR 2023; docs/algorithms.md §8): a DDIM step from the network's estimate `D`,
//! plus the pseudo-inverse guidance `J^T H^+ (y - H D)` through the network (one VJP per
//! step). The paper's Algorithm 1 adds `sqrt(abar_prev) sqrt(abar_t) g` in VP coordinates
//! with `g = J_vp^T H^+ (y - H D)` (as `azula`'s `PGDMSampler` does); in this project's VE
//! coordinates the two square roots cancel against the change of variables and the step is
//! `x' = DDIM(x, D) + J^T H^+ (y - H D)`. Noisy measurements use the paper's noisy
//! pseudo-inverse: `H^+` becomes `r² H^T (r² H H^T + sigma_y² I)^-1 =
//! (H^T H + sigma_y²/r² I)^-1 H^T`, `r² = sigma² / (1 + sigma²)` (the posterior variance
//! of a unit-variance prior), which is `H^+` as `sigma_y -> 0`.
//!
//! Defaults: 100 DDIM steps on the DDPM table; eta = 0.2 (InverseBench's `algo/pigdm.py`;
//! there is no official repository).

use crate::common::{
    check_finite, ddim_move, ddpm_levels, ddpm_sigmas, eps_hat, flat, solutions, split, start, unit,
};
use crate::{check_batch, Observer, Problem, Solution, Solver, SolverError};
use vmlmap_core::vector::{axpy, sub};
use vmlmap_core::Denoiser;

/// Settings of ΠGDM.
#[derive(Clone, Debug)]
pub struct PiGdm {
    pub steps: usize,
    pub eta: f64,
}

impl Default for PiGdm {
    fn default() -> Self {
        Self {
            steps: 100,
            eta: 0.2,
        }
    }
}

impl PiGdm {
    pub fn check(self) -> Result<Self, SolverError> {
        ddpm_sigmas(self.steps)?;
        unit("eta", self.eta)?;
        Ok(self)
    }
}

impl Solver for PiGdm {
    fn name(&self) -> &'static str {
        "pigdm"
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
            let d = split(lin.output(), n);
            let r2 = sigma * sigma / (1.0 + sigma * sigma);
            let w: Vec<f64> = problems
                .iter()
                .zip(&d)
                .flat_map(|(p, db)| {
                    let resid = sub(&p.y, &p.op.apply(db));
                    p.op.regularized_pinv(&resid, p.sigma_y * p.sigma_y / r2)
                })
                .collect();
            let guidance = split(&lin.vjp(&w)?, n);
            for b in 0..problems.len() {
                let e = eps_hat(&xs[b], &d[b], sigma);
                let mut x = ddim_move(&d[b], &e, sigma, next, self.eta, &mut rngs[b]);
                axpy(&mut x, 1.0, &guidance[b]);
                xs[b] = x;
            }
            check_finite(&xs, i, sigma)?;
            observer.on_step(i, sigmas.len(), sigma);
        }
        Ok(solutions(xs, sigmas.len(), sigmas.len()))
    }
}
