//! RED-diff (Mardani, Song, Kautz, Vahdat, "A variational perspective on solving inverse
//! problems with diffusion models", ICLR 2024; docs/algorithms.md §8): the restoration is the
//! mean `mu` of a variational posterior, optimised with Adam while the noise level sweeps
//! down the DDPM table. At level `sigma` a fresh `eps` gives `x = mu + sigma eps`, and the
//! loss is `‖y - H mu‖² / (2 m) + w (eps_hat(x) - eps)^T mu / n` with `eps_hat` held fixed
//! (stop-gradient: no VJP) and `w = lambda sigma` (the "linear 1/SNR" weighting, `sigma`
//! the VE noise level `sqrt(1 - abar) / sqrt(abar)`), as in the official code
//! (`loss_obs = (e_obs**2).mean() / 2`, `loss_noise = ((et - eps).detach() * x0).mean()`,
//! means over the `m` measurements and `n` pixels). Its gradient is
//! `-H^T (y - H mu) / m + w (eps_hat - eps) / n`.
//!
//! Defaults (the paper and official code): `lambda = 0.25`, Adam with lr 0.1 and betas
//! (0.9, 0.99); 1000 steps (the paper's; the official scripts also run 50, InverseBench
//! 1000 with lr 0.02). Initialisation: `H^+ y` noise-free, as in the paper; with noise the
//! Tikhonov estimate `(H^T H + 4 sigma_y² I)^-1 H^T y` (project choice: the official code's
//! pseudo-inverse zeroes a blur's small singular values, which a plain `H^+ y` amplifies
//! the noise through by up to 1e6 here, and Adam at lr 0.1 cannot walk back from that).

use crate::adam::Adam;
use crate::common::{ddpm_levels, ddpm_sigmas, eps_hat, positive};
use crate::driver::{Iterates, Level, ReverseProcess, Run};
use crate::{Computes, Declaration, SolverError};
use vmlmap_core::rng::normal_vec;
use vmlmap_core::Denoiser;

/// How the registry knows it.
pub static DECLARATION: Declaration = Declaration::of::<RedDiff>(
    "red-diff",
    "regularisation by denoising diffusion (Mardani et al. 2024): Adam on a variational mean over the noise levels",
    Computes::RegularisedPoint,
    true,
);

/// Settings of RED-diff.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RedDiff {
    /// Levels of the DDPM table swept (one Adam step each).
    pub steps: usize,
    /// The weight of the denoising regulariser, w = lambda sigma.
    pub lambda: f64,
    /// Adam's learning rate.
    pub lr: f64,
}

impl Default for RedDiff {
    fn default() -> Self {
        Self {
            steps: 1000,
            lambda: 0.25,
            lr: 0.1,
        }
    }
}

impl RedDiff {
    pub fn check(self) -> Result<Self, SolverError> {
        ddpm_sigmas(self.steps)?;
        positive("lambda", self.lambda)?;
        positive("lr", self.lr)?;
        Ok(self)
    }
}

impl crate::Settings for RedDiff {
    fn into_solver(self) -> Result<Box<dyn crate::Solver>, SolverError> {
        Ok(Box::new(self.check()?))
    }
}

/// RED-diff's state: the means and their Adam moments.
pub struct RedDiffState {
    mus: Vec<Vec<f64>>,
    adams: Vec<Adam>,
}

impl Iterates for RedDiffState {
    fn iterates(&self) -> &[Vec<f64>] {
        &self.mus
    }
    fn finish(self) -> Vec<Vec<f64>> {
        self.mus
    }
}

impl ReverseProcess for RedDiff {
    type State = RedDiffState;

    fn declaration(&self) -> &'static Declaration {
        &DECLARATION
    }

    fn levels(&self, denoiser: &dyn Denoiser) -> Result<Vec<f64>, SolverError> {
        ddpm_levels(self.steps, denoiser)
    }

    fn start(&self, run: &mut Run, _sigma0: f64) -> Result<Self::State, SolverError> {
        let mus = run
            .problems
            .iter()
            .map(|p| {
                let lambda = p.sigma_y * p.sigma_y / crate::tikhonov::PRIOR_VARIANCE;
                p.op.regularized_pinv(&p.y, lambda)
            })
            .collect();
        let adams = run
            .problems
            .iter()
            .map(|_| Adam::new(run.n, 0.9, 0.99))
            .collect();
        Ok(RedDiffState { mus, adams })
    }

    fn step(&self, run: &mut Run, l: Level, st: &mut Self::State) -> Result<(), SolverError> {
        let (n, sigma) = (run.n, l.sigma);
        let eps: Vec<Vec<f64>> = run.rngs.iter_mut().map(|r| normal_vec(r, n)).collect();
        let xs: Vec<Vec<f64>> = st
            .mus
            .iter()
            .zip(&eps)
            .map(|(mu, e)| mu.iter().zip(e).map(|(m, e)| m + sigma * e).collect())
            .collect();
        let d = run.net.denoise(&xs, sigma)?;
        let w = self.lambda * sigma;
        for (b, p) in run.problems.iter().enumerate() {
            let m = p.y.len() as f64;
            let resid: Vec<f64> =
                p.op.apply(&st.mus[b])
                    .iter()
                    .zip(&p.y)
                    .map(|(a, y)| a - y)
                    .collect();
            let data = p.op.adjoint(&resid);
            let e_hat = eps_hat(&xs[b], &d[b], sigma);
            let g: Vec<f64> = data
                .iter()
                .zip(e_hat.iter().zip(&eps[b]))
                .map(|(dg, (eh, e))| dg / m + w * (eh - e) / n as f64)
                .collect();
            st.adams[b].step(&mut st.mus[b], &g, self.lr);
        }
        Ok(())
    }
}
