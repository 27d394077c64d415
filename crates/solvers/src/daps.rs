//! DAPS (Zhang, Chu, Berner, Meng, Anandkumar, Song, "Improving diffusion inverse problem
//! solving with decoupled noise annealing", CVPR 2025; docs/algorithms.md §8), the DAPS-1K
//! setting. Over `levels` annealing noise levels `sigma_i` (Karras, 100 → 0.1, rho 7):
//! 1. reverse diffusion: `x0_hat` from `x_t` by `ode_steps` Euler steps of the probability-
//!    flow ODE `dx/dsigma = (x - D(x, sigma)) / sigma` from `sigma_i` down to 0 (Karras
//!    levels to 0.01, then a last step to 0, which returns `D`);
//! 2. Langevin dynamics on `x0` for `p(x0 | x_t, y) ∝ exp(-‖H x0 - y‖² / (2 tau²) - ‖x0 -
//!    x0_hat‖² / (2 sigma_i²))`, started at `x0_hat`: `langevin_steps` steps of
//!    `x0 ← x0 - lr (H^T (H x0 - y) / tau² + (x0 - x0_hat) / sigma_i²) + sqrt(2 lr) z`, the
//!    step decaying linearly from `lr` to `lr · lr_min_ratio` across the annealing;
//! 3. forward diffusion: `x_t = x0 + sigma_{i+1} z` (0 after the last level, so the output is
//!    the last Langevin sample).
//!
//! The Langevin likelihood uses the fixed `tau = 0.01`, not the measurement's `sigma_y`,
//! as the official code does. Defaults (the official DAPS-1K configurations): 200 levels × 5
//! ODE steps = 1000 network evaluations, 100 Langevin steps per level, `tau = 0.01`,
//! `lr_min_ratio = 0.01`, `lr = 5e-5` for box inpainting and motion blur and `1e-4`
//! otherwise. No VJP: the measurement enters only through `H` and `H^T`. Project choice:
//! the Langevin step is capped at `1.9 / (‖H‖²/tau² + 1/sigma_i²)`, below which the step is
//! stable; the official steps are under the cap wherever `‖H‖ <= 1` (every operator here
//! but compressed sensing).

use crate::common::{check_finite, flat, positive, solutions, split};
use crate::{check_batch, Observer, Problem, Solution, Solver, SolverError};
use vmlmap_core::rng::{normal_vec, seeded};
use vmlmap_core::schedule::karras;
use vmlmap_core::Denoiser;

/// Settings of DAPS.
#[derive(Clone, Debug)]
pub struct Daps {
    pub levels: usize,
    pub ode_steps: usize,
    pub langevin_steps: usize,
    /// `None`: the official per-task step ([`default_lr`]).
    pub lr: Option<f64>,
    pub lr_min_ratio: f64,
    pub tau: f64,
    pub sigma_max: f64,
    pub sigma_min: f64,
}

impl Default for Daps {
    fn default() -> Self {
        Self {
            levels: 200,
            ode_steps: 5,
            langevin_steps: 100,
            lr: None,
            lr_min_ratio: 0.01,
            tau: 0.01,
            sigma_max: 100.0,
            sigma_min: 0.1,
        }
    }
}

/// The official Langevin step for an operator, from its description.
pub fn default_lr(describe: &str) -> f64 {
    if describe.starts_with("inpaint-box") || describe.starts_with("deblur-motion") {
        5e-5
    } else {
        1e-4
    }
}

/// The last level of the inner ODE before its final step to 0.
const ODE_SIGMA_MIN: f64 = 0.01;

fn schedule_error(e: vmlmap_core::schedule::ScheduleError) -> SolverError {
    crate::common::invalid("levels", e.to_string(), "invalid annealing schedule")
}

impl Daps {
    pub fn check(self) -> Result<Self, SolverError> {
        for (field, v) in [
            ("levels", self.levels),
            ("ode_steps", self.ode_steps),
            ("langevin_steps", self.langevin_steps),
        ] {
            if v == 0 {
                return Err(crate::common::invalid(field, 0, "need at least 1"));
            }
            crate::common::at_most(field, v)?;
        }
        if let Some(lr) = self.lr {
            positive("lr", lr)?;
        }
        positive("tau", self.tau)?;
        positive("sigma_max", self.sigma_max)?;
        positive("sigma_min", self.sigma_min)?;
        if !(self.lr_min_ratio > 0.0 && self.lr_min_ratio <= 1.0) {
            return Err(crate::common::invalid(
                "lr_min_ratio",
                self.lr_min_ratio,
                "must be in (0, 1]",
            ));
        }
        karras(self.levels, self.sigma_max, self.sigma_min, 7.0).map_err(schedule_error)?;
        Ok(self)
    }

    /// `x0_hat` for each image of the batch, by Euler steps of the probability-flow ODE
    /// from `sigma` to 0 (the last step to 0 returns `D`), and the network evaluations made.
    fn ode(
        &self,
        xs: &[Vec<f64>],
        sigma: f64,
        denoiser: &dyn Denoiser,
    ) -> Result<(Vec<Vec<f64>>, usize), SolverError> {
        let n = denoiser.shape().numel();
        let levels = if sigma > ODE_SIGMA_MIN && self.ode_steps > 1 {
            karras(self.ode_steps, sigma, ODE_SIGMA_MIN, 7.0).map_err(schedule_error)?
        } else {
            vec![sigma]
        };
        let mut x: Vec<Vec<f64>> = xs.to_vec();
        for (k, &s) in levels.iter().enumerate() {
            let d = split(&denoiser.denoise_batch(&flat(&x), &vec![s; x.len()])?, n);
            let Some(&next) = levels.get(k + 1) else {
                return Ok((d, levels.len()));
            };
            for (xb, db) in x.iter_mut().zip(&d) {
                for (v, dv) in xb.iter_mut().zip(db) {
                    *v += (next - s) * (*v - dv) / s;
                }
            }
        }
        unreachable!("the last level returns")
    }
}

impl Solver for Daps {
    fn name(&self) -> &'static str {
        "daps"
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
        let levels =
            karras(self.levels, self.sigma_max, self.sigma_min, 7.0).map_err(schedule_error)?;
        let mut rngs: Vec<_> = seeds.iter().map(|&s| seeded(s)).collect();
        let mut xs: Vec<Vec<f64>> = rngs
            .iter_mut()
            .map(|r| {
                normal_vec(r, n)
                    .iter()
                    .map(|z| self.sigma_max * z)
                    .collect()
            })
            .collect();
        let mut x0s = xs.clone();
        let lrs: Vec<f64> = problems
            .iter()
            .map(|p| self.lr.unwrap_or_else(|| default_lr(&p.op.describe())))
            .collect();
        let inv_tau2 = 1.0 / (self.tau * self.tau);
        // ‖H‖², for the stability cap of the Langevin step.
        let norms2: Vec<f64> = problems
            .iter()
            .map(|p| {
                let s = p.op.singular_values().iter().copied().fold(0.0, f64::max);
                s * s
            })
            .collect();
        let mut nfe = 0;
        for (i, &sigma) in levels.iter().enumerate() {
            let (x0_hat, evaluations) = self.ode(&xs, sigma, denoiser)?;
            nfe += evaluations;
            let ratio = i as f64 / self.levels as f64;
            let decay = 1.0 + ratio * (self.lr_min_ratio - 1.0);
            let inv_s2 = 1.0 / (sigma * sigma);
            for (b, p) in problems.iter().enumerate() {
                // Project choice: never above 1.9 / L, L = ‖H‖²/tau² + 1/sigma² the
                // gradient's Lipschitz constant (the official steps are below it for every
                // operator with ‖H‖ <= 1; compressed sensing's ‖H‖² reaches about 6).
                let stable = 1.9 / (norms2[b] * inv_tau2 + inv_s2);
                let lr = (lrs[b] * decay).min(stable);
                let noise = (2.0 * lr).sqrt();
                let mut x0 = x0_hat[b].clone();
                for _ in 0..self.langevin_steps {
                    let r: Vec<f64> =
                        p.op.apply(&x0)
                            .iter()
                            .zip(&p.y)
                            .map(|(a, y)| a - y)
                            .collect();
                    let g = p.op.adjoint(&r);
                    let z = normal_vec(&mut rngs[b], n);
                    for j in 0..n {
                        let grad = g[j] * inv_tau2 + (x0[j] - x0_hat[b][j]) * inv_s2;
                        x0[j] += -lr * grad + noise * z[j];
                    }
                }
                let next = levels.get(i + 1).copied().unwrap_or(0.0);
                let z = normal_vec(&mut rngs[b], n);
                xs[b] = x0.iter().zip(&z).map(|(v, e)| v + next * e).collect();
                x0s[b] = x0;
            }
            check_finite(&x0s, i, sigma)?;
            observer.on_step(i, levels.len(), sigma);
        }
        Ok(solutions(x0s, nfe, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_and_the_official_steps_chosen_per_task() {
        assert!(Daps::default().check().is_ok());
        assert!(Daps {
            levels: 0,
            ..Daps::default()
        }
        .check()
        .is_err());
        assert!(Daps {
            lr_min_ratio: 0.0,
            ..Daps::default()
        }
        .check()
        .is_err());
        assert!(Daps {
            lr: Some(-1.0),
            ..Daps::default()
        }
        .check()
        .is_err());
        assert_eq!(default_lr("inpaint-box(left=8,size=16,top=8)"), 5e-5);
        assert_eq!(default_lr("deblur-motion"), 5e-5);
        assert_eq!(default_lr("sr4"), 1e-4);
    }
}
