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

use crate::common::{clamp_to_data_range, ddpm_levels, ddpm_sigmas, positive, Ddim};
use crate::driver::{Level, ReverseProcess, Run};
use crate::{Computes, Declaration, SolverError};
use vmlmap_core::vector::{axpy, norm, sub};
use vmlmap_core::Denoiser;

/// How the registry knows it.
pub static DECLARATION: Declaration = Declaration::of::<Dps>(
    "dps",
    "diffusion posterior sampling (Chung et al. 2023): ancestral steps plus a gradient step on ‖y - H D‖",
    Computes::Sample,
    true,
);

/// Settings of DPS.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Dps {
    /// Ancestral steps on the DDPM table (1000 visits every training step).
    pub steps: usize,
    /// The step weight; by default 0.5 for inpainting, 0.3 for the other tasks (the
    /// official configurations).
    pub zeta: Option<f64>,
    /// Clamp each denoised estimate to [-1, 1] in the step and the residual, as the
    /// official code does; false gives the paper's Algorithm 1.
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

impl crate::Settings for Dps {
    fn into_solver(self) -> Result<Box<dyn crate::Solver>, SolverError> {
        Ok(Box::new(self.check()?))
    }
}

impl ReverseProcess for Dps {
    type State = Vec<Vec<f64>>;

    fn declaration(&self) -> &'static Declaration {
        &DECLARATION
    }

    fn levels(&self, denoiser: &dyn Denoiser) -> Result<Vec<f64>, SolverError> {
        ddpm_levels(self.steps, denoiser)
    }

    fn start(&self, run: &mut Run, sigma0: f64) -> Result<Self::State, SolverError> {
        Ok(run.noise_start(sigma0))
    }

    fn step(&self, run: &mut Run, l: Level, xs: &mut Self::State) -> Result<(), SolverError> {
        let mut lin = run.net.linearize(xs, l.sigma)?;
        let mut d = std::mem::take(&mut lin.outputs);
        if self.clip {
            d.iter_mut().for_each(|db| clamp_to_data_range(db));
        }
        let w: Vec<Vec<f64>> = run
            .problems
            .iter()
            .zip(&d)
            .map(|(p, db)| {
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
                    .collect()
            })
            .collect();
        let grad = lin.vjp(&w)?;
        let vp = ((1.0 + l.next * l.next) * (1.0 + l.sigma * l.sigma)).sqrt();
        let ddim = Ddim::new(l.sigma, l.next, 1.0);
        for (b, p) in run.problems.iter().enumerate() {
            let mut x = ddim.step(&xs[b], &d[b], &mut run.rngs[b]);
            let zeta = self.zeta.unwrap_or_else(|| default_zeta(&p.op.describe()));
            axpy(&mut x, -zeta * vp, &grad[b]);
            xs[b] = x;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Problem, Silent, Solver};
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
