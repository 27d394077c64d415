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

use crate::common::positive;
use crate::driver::{Iterates, Level, Network, ReverseProcess, Run};
use crate::{Computes, Declaration, SolverError};
use vmlmap_core::rng::normal_vec;
use vmlmap_core::schedule::karras;
use vmlmap_core::Denoiser;

/// How the registry knows it.
pub static DECLARATION: Declaration = Declaration::of::<Daps>(
    "daps",
    "decoupled annealing posterior sampling (Zhang et al. 2025): ODE to x0, Langevin on the data, re-noise",
    Computes::Sample,
    true,
);

/// Settings of DAPS.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Daps {
    /// Annealing levels (Karras, sigma_max down to sigma_min, rho 7).
    #[serde(rename = "steps")]
    pub levels: usize,
    /// Euler steps of the probability-flow ODE per level (network evaluations per level).
    pub ode_steps: usize,
    /// Langevin steps per level.
    pub langevin_steps: usize,
    /// The Langevin step at the first level; by default 5e-5 for box inpainting and motion
    /// blur, 1e-4 for the other tasks (the official configurations).
    pub lr: Option<f64>,
    /// The Langevin step falls linearly to lr × lr_min_ratio over the annealing.
    pub lr_min_ratio: f64,
    /// The fixed noise level of the Langevin likelihood (not sigma_y, as officially).
    pub tau: f64,
    /// The first annealing level.
    pub sigma_max: f64,
    /// The last annealing level.
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
    /// from `sigma` to 0 (the last step to 0 returns `D`).
    fn ode(
        &self,
        xs: &[Vec<f64>],
        sigma: f64,
        net: &Network,
    ) -> Result<Vec<Vec<f64>>, SolverError> {
        let levels = if sigma > ODE_SIGMA_MIN && self.ode_steps > 1 {
            karras(self.ode_steps, sigma, ODE_SIGMA_MIN, 7.0).map_err(schedule_error)?
        } else {
            vec![sigma]
        };
        let mut x: Vec<Vec<f64>> = xs.to_vec();
        for (k, &s) in levels.iter().enumerate() {
            let d = net.denoise(&x, s)?;
            let Some(&next) = levels.get(k + 1) else {
                return Ok(d);
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

impl crate::Settings for Daps {
    fn into_solver(self) -> Result<Box<dyn crate::Solver>, SolverError> {
        Ok(Box::new(self.check()?))
    }
}

/// DAPS's state: the noised iterates `x_t`, the Langevin samples `x0`, and per image the
/// Langevin step and `‖H‖²`.
pub struct DapsState {
    xs: Vec<Vec<f64>>,
    x0s: Vec<Vec<f64>>,
    lrs: Vec<f64>,
    norms2: Vec<f64>,
}

impl Iterates for DapsState {
    fn iterates(&self) -> &[Vec<f64>] {
        &self.x0s
    }
    fn finish(self) -> Vec<Vec<f64>> {
        self.x0s
    }
}

impl ReverseProcess for Daps {
    type State = DapsState;

    fn declaration(&self) -> &'static Declaration {
        &DECLARATION
    }

    /// Not rounded to the network's grid: the annealing levels are DAPS's own.
    fn levels(&self, _denoiser: &dyn Denoiser) -> Result<Vec<f64>, SolverError> {
        karras(self.levels, self.sigma_max, self.sigma_min, 7.0).map_err(schedule_error)
    }

    fn start(&self, run: &mut Run, _sigma0: f64) -> Result<Self::State, SolverError> {
        // sigma_max itself: the first Karras level is it only up to round-off.
        let xs = run.noise_start(self.sigma_max);
        let problems = run.problems;
        Ok(DapsState {
            x0s: xs.clone(),
            xs,
            lrs: problems
                .iter()
                .map(|p| self.lr.unwrap_or_else(|| default_lr(&p.op.describe())))
                .collect(),
            // ‖H‖², for the stability cap of the Langevin step.
            norms2: problems
                .iter()
                .map(|p| {
                    let s = p.op.singular_values().iter().copied().fold(0.0, f64::max);
                    s * s
                })
                .collect(),
        })
    }

    fn step(&self, run: &mut Run, l: Level, st: &mut Self::State) -> Result<(), SolverError> {
        let (n, sigma) = (run.n, l.sigma);
        let x0_hat = self.ode(&st.xs, sigma, &run.net)?;
        let ratio = l.index as f64 / self.levels as f64;
        let decay = 1.0 + ratio * (self.lr_min_ratio - 1.0);
        let inv_tau2 = 1.0 / (self.tau * self.tau);
        let inv_s2 = 1.0 / (sigma * sigma);
        for (b, p) in run.problems.iter().enumerate() {
            // Project choice: never above 1.9 / L, L = ‖H‖²/tau² + 1/sigma² the gradient's
            // Lipschitz constant (the official steps are below it for every operator with
            // ‖H‖ <= 1; compressed sensing's ‖H‖² reaches about 6).
            let stable = 1.9 / (st.norms2[b] * inv_tau2 + inv_s2);
            let lr = (st.lrs[b] * decay).min(stable);
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
                let z = normal_vec(&mut run.rngs[b], n);
                for j in 0..n {
                    let grad = g[j] * inv_tau2 + (x0[j] - x0_hat[b][j]) * inv_s2;
                    x0[j] += -lr * grad + noise * z[j];
                }
            }
            let z = normal_vec(&mut run.rngs[b], n);
            st.xs[b] = x0.iter().zip(&z).map(|(v, e)| v + l.next * e).collect();
            st.x0s[b] = x0;
        }
        Ok(())
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
