//! DiffPIR (Zhu et al., "Denoising diffusion models for plug-and-play image restoration",
//! CVPR 2023 workshops; docs/algorithms.md §8): half-quadratic splitting inside the reverse
//! diffusion. At each level the network's estimate `D` is pulled toward the data by the
//! closed-form proximal step
//! `x0' = argmin_x ‖y - H x‖² + rho ‖x - D‖² = (H^T H + rho I)^-1 (H^T y + rho D)`,
//! `rho = lambda sigma_y² / sigma²` (its eq. 13 in the VE form, `sigma` the level's noise),
//! computed through the operator's regularised pseudo-inverse and null-space filter; then
//! `x' = x0' + next (sqrt(1 - zeta) eps' + sqrt(zeta) z)` with
//! `eps' = (x - x0') / sigma` (its eq. 15). No VJP.
//!
//! Defaults (the paper and the official repository): 100 steps, `lambda = 1`; `zeta` per
//! task: 1.0 for inpainting, 0.25 for super-resolution, 0.1 for deblurring (and for the
//! other tasks). Departure: the official code starts some tasks from a noised measurement
//! at an intermediate step; here every run starts from pure noise at the top of the DDPM
//! table, as the other baselines do. `clip` (off by default, as in the paper's equations)
//! clamps each denoised estimate to `[-1, 1]` as deepinv does: +1.7 dB on noisy Gaussian
//! deblurring of the shipped prior (`docs/results/crosscheck-deepinv.md`).

use crate::common::{clamp_to_data_range, ddpm_levels, ddpm_sigmas, positive, unit};
use crate::driver::{Level, ReverseProcess, Run};
use crate::{Computes, Declaration, SolverError};
use vmlmap_core::rng::normal_vec;
use vmlmap_core::vector::add;
use vmlmap_core::Denoiser;

/// How the registry knows it.
pub static DECLARATION: Declaration = Declaration::of::<DiffPir>(
    "diffpir",
    "diffusion plug-and-play restoration (Zhu et al. 2023): a closed-form proximal data step on D at each level",
    Computes::Sample,
    true,
);

/// Settings of DiffPIR.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DiffPir {
    /// Steps on the DDPM table.
    pub steps: usize,
    /// The weight of the proximal step, rho = lambda sigma_y² / sigma².
    pub lambda: f64,
    /// The share of fresh noise in [0, 1]; by default 1.0 for inpainting, 0.25 for
    /// super-resolution, 0.1 for the other tasks (the paper's).
    pub zeta: Option<f64>,
    /// Clamp each denoised estimate to [-1, 1] before the data step (deepinv does; off by
    /// default, as in the paper's equations).
    pub clip: bool,
}

impl Default for DiffPir {
    fn default() -> Self {
        Self {
            steps: 100,
            lambda: 1.0,
            zeta: None,
            clip: false,
        }
    }
}

/// The paper's `zeta` for an operator, from its description.
pub fn default_zeta(describe: &str) -> f64 {
    if describe.starts_with("inpaint") {
        1.0
    } else if describe.starts_with("sr") {
        0.25
    } else {
        0.1
    }
}

impl DiffPir {
    pub fn check(self) -> Result<Self, SolverError> {
        ddpm_sigmas(self.steps)?;
        positive("lambda", self.lambda)?;
        if let Some(z) = self.zeta {
            unit("zeta", z)?;
        }
        Ok(self)
    }
}

impl crate::Settings for DiffPir {
    fn into_solver(self) -> Result<Box<dyn crate::Solver>, SolverError> {
        Ok(Box::new(self.check()?))
    }
}

impl ReverseProcess for DiffPir {
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
        let (sigma, next) = (l.sigma, l.next);
        let mut d = run.net.denoise(xs, sigma)?;
        if self.clip {
            d.iter_mut().for_each(|db| clamp_to_data_range(db));
        }
        for (b, p) in run.problems.iter().enumerate() {
            let rho = self.lambda * (p.sigma_y / sigma).powi(2);
            let x0 = add(
                &p.op.regularized_pinv(&p.y, rho),
                &p.op.null_filter(&d[b], rho),
            );
            if next == 0.0 {
                xs[b] = x0;
                continue;
            }
            let zeta = self.zeta.unwrap_or_else(|| default_zeta(&p.op.describe()));
            let z = normal_vec(&mut run.rngs[b], run.n);
            let (a, c) = (next * (1.0 - zeta).sqrt(), next * zeta.sqrt());
            xs[b] = x0
                .iter()
                .zip(&xs[b])
                .zip(&z)
                .map(|((x0, x), z)| x0 + a * (x - x0) / sigma + c * z)
                .collect();
        }
        Ok(())
    }
}
