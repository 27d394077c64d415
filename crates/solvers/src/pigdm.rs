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

use crate::common::{ddpm_levels, ddpm_sigmas, unit, Ddim};
use crate::driver::{Level, ReverseProcess, Run};
use crate::{Computes, Declaration, Problem, SolverError};
use vmlmap_core::vector::{axpy, sub};
use vmlmap_core::Denoiser;

/// How the registry knows it.
pub static DECLARATION: Declaration = Declaration::of::<PiGdm>(
    "pigdm",
    "pseudoinverse-guided diffusion (Song et al. 2023): DDIM plus J^T H^+ (y - H D)",
    Computes::Sample,
    true,
);

/// Settings of ΠGDM.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PiGdm {
    /// DDIM steps on the DDPM table.
    pub steps: usize,
    /// DDIM stochasticity in [0, 1] (InverseBench's 0.2).
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

impl crate::Settings for PiGdm {
    fn into_solver(self) -> Result<Box<dyn crate::Solver>, SolverError> {
        Ok(Box::new(self.check()?))
    }
}

/// The vector whose VJP is ΠGDM's guidance at level `sigma`: the noisy pseudo-inverse
/// `(HᵀH + sigma_y²/r² I)⁻¹ Hᵀ (y − H D)`, `r² = sigma²/(1 + sigma²)` (module doc).
pub fn guidance_cotangent(p: &Problem, d: &[f64], sigma: f64) -> Vec<f64> {
    let r2 = sigma * sigma / (1.0 + sigma * sigma);
    let resid = sub(&p.y, &p.op.apply(d));
    p.op.regularized_pinv(&resid, p.sigma_y * p.sigma_y / r2)
}

impl ReverseProcess for PiGdm {
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
        let d = std::mem::take(&mut lin.outputs);
        let w: Vec<Vec<f64>> = run
            .problems
            .iter()
            .zip(&d)
            .map(|(p, db)| guidance_cotangent(p, db, l.sigma))
            .collect();
        let guidance = lin.vjp(&w)?;
        let ddim = Ddim::new(l.sigma, l.next, self.eta);
        for (b, g) in guidance.iter().enumerate() {
            let mut x = ddim.step(&xs[b], &d[b], &mut run.rngs[b]);
            axpy(&mut x, 1.0, g);
            xs[b] = x;
        }
        Ok(())
    }
}
