//! DDNM (Wang, Yu, Zhang, "Zero-shot image restoration using denoising diffusion null-space
//! model", ICLR 2023; docs/algorithms.md §8): at each DDIM step the clean estimate is replaced
//! by its range-null-space correction `x0' = D - H^+ (H D - y) = H^+ y + (I - H^+ H) D`, so
//! that `H x0' = y` exactly, and the DDIM step continues from `x0'` with the network's noise
//! estimate. No VJP.
//!
//! Noisy measurements use DDNM+ (its §3.3) in the operator's SVD basis `H = U S V^T`: the
//! correction of spectral coordinate `j` is scaled by `lambda_j = min(1, c s_j / sigma_y)`,
//! `c` the fresh noise of the DDIM step, so that the measurement noise it carries,
//! `lambda_j sigma_y / s_j`, never exceeds `c`, and the fresh noise of that coordinate is
//! reduced to `sqrt(c² - (lambda_j sigma_y / s_j)²)` (null-space coordinates get all of
//! `c`). With unit singular values (masks) this is the paper's scalar `lambda`; a blur's
//! small singular values, which `H^+` would amplify without bound, get a small `lambda_j`.
//! An operator without an explicit SVD (FFT motion blur) is refused for noisy DDNM+. The
//! last step adds no noise, so DDNM+ makes no correction there.
//!
//! Defaults: 100 steps, eta = 0.85 (the official repository's `--eta 0.85`).

use crate::common::{ddpm_levels, ddpm_sigmas, unit, Ddim};
use crate::driver::{Level, ReverseProcess, Run};
use crate::{Computes, Declaration, SolverError};
use vmlmap_core::rng::{normal_vec, Rng};
use vmlmap_core::vector::{axpy, sub};
use vmlmap_core::Denoiser;
use vmlmap_operators::SvdBasis;

/// Measurements with `sigma_y` at or below this are treated as noise-free (plain DDNM).
pub const NOISE_FREE: f64 = 1e-6;

/// DDNM+'s scaled correction `V diag(lambda_j / s_j) U^T r` of the residual `r = H D - y`
/// and the reduced fresh noise `V diag(sqrt(c² - (lambda_j sigma_y / s_j)²)) z`.
fn ddnm_plus(
    svd: &dyn SvdBasis,
    resid: &[f64],
    sigma_y: f64,
    c: f64,
    rng: &mut Rng,
) -> (Vec<f64>, Vec<f64>) {
    let tol = vmlmap_operators::spectral::rank_threshold(svd.spectrum());
    let r = svd.to_spectral(&svd.u_t(resid));
    let z = normal_vec(rng, r.len());
    let mut corr = vec![0.0; r.len()];
    let mut noise = vec![0.0; r.len()];
    for (j, &s) in svd.spectrum().iter().enumerate() {
        if s > tol {
            let lambda = (c * s / sigma_y).min(1.0);
            corr[j] = lambda * r[j] / s;
            noise[j] = (c * c - (lambda * sigma_y / s).powi(2)).max(0.0).sqrt() * z[j];
        } else {
            noise[j] = c * z[j];
        }
    }
    (svd.v(&corr), svd.v(&noise))
}

/// How the registry knows it.
pub static DECLARATION: Declaration = Declaration::of::<Ddnm>(
    "ddnm",
    "denoising diffusion null-space model (Wang et al. 2023): DDIM from the range-null-space correction of D (DDNM+ with noise)",
    Computes::Sample,
    true,
);

/// Settings of DDNM / DDNM+.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Ddnm {
    /// DDIM steps on the DDPM table.
    pub steps: usize,
    /// DDIM stochasticity in [0, 1] (the official --eta 0.85).
    pub eta: f64,
}

impl Default for Ddnm {
    fn default() -> Self {
        Self {
            steps: 100,
            eta: 0.85,
        }
    }
}

impl Ddnm {
    pub fn check(self) -> Result<Self, SolverError> {
        ddpm_sigmas(self.steps)?;
        unit("eta", self.eta)?;
        Ok(self)
    }
}

impl crate::Settings for Ddnm {
    fn into_solver(self) -> Result<Box<dyn crate::Solver>, SolverError> {
        Ok(Box::new(self.check()?))
    }
}

impl ReverseProcess for Ddnm {
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
        let d = run.net.denoise(xs, l.sigma)?;
        let ddim = Ddim::new(l.sigma, l.next, self.eta);
        let c = ddim.fresh;
        for (b, p) in run.problems.iter().enumerate() {
            let resid = sub(&p.op.apply(&d[b]), &p.y);
            let mut x = ddim.mean(&xs[b], &d[b]);
            if p.sigma_y <= NOISE_FREE {
                axpy(&mut x, -1.0, &p.op.pinv(&resid));
                if c > 0.0 {
                    axpy(&mut x, c, &normal_vec(&mut run.rngs[b], run.n));
                }
            } else {
                let svd = p.op.svd().ok_or_else(|| SolverError::NeedsSvd {
                    solver: "ddnm",
                    operator: p.op.describe(),
                })?;
                let (corr, noise) = ddnm_plus(svd, &resid, p.sigma_y, c, &mut run.rngs[b]);
                axpy(&mut x, -1.0, &corr);
                axpy(&mut x, 1.0, &noise);
            }
            xs[b] = x;
        }
        Ok(())
    }
}
