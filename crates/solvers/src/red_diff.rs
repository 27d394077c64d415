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
use crate::common::{
    check_finite, ddpm_levels, ddpm_sigmas, eps_hat, flat, positive, solutions, split,
};
use crate::{check_batch, Observer, Problem, Solution, Solver, SolverError};
use vmlmap_core::rng::{normal_vec, seeded};
use vmlmap_core::Denoiser;

/// Settings of RED-diff.
#[derive(Clone, Debug)]
pub struct RedDiff {
    pub steps: usize,
    pub lambda: f64,
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

impl Solver for RedDiff {
    fn name(&self) -> &'static str {
        "red-diff"
    }
    fn computes(&self) -> crate::Computes {
        crate::Computes::RegularisedPoint
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
        let mut rngs: Vec<_> = seeds.iter().map(|&s| seeded(s)).collect();
        let mut mus: Vec<Vec<f64>> = problems
            .iter()
            .map(|p| {
                let lambda = p.sigma_y * p.sigma_y / crate::tikhonov::PRIOR_VARIANCE;
                p.op.regularized_pinv(&p.y, lambda)
            })
            .collect();
        let mut adams: Vec<Adam> = problems.iter().map(|_| Adam::new(n, 0.9, 0.99)).collect();
        for (i, &sigma) in sigmas.iter().enumerate() {
            let eps: Vec<Vec<f64>> = rngs.iter_mut().map(|r| normal_vec(r, n)).collect();
            let xs: Vec<Vec<f64>> = mus
                .iter()
                .zip(&eps)
                .map(|(mu, e)| mu.iter().zip(e).map(|(m, e)| m + sigma * e).collect())
                .collect();
            let d = split(
                &denoiser.denoise_batch(&flat(&xs), &vec![sigma; problems.len()])?,
                n,
            );
            let w = self.lambda * sigma;
            for (b, p) in problems.iter().enumerate() {
                let m = p.y.len() as f64;
                let resid: Vec<f64> =
                    p.op.apply(&mus[b])
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
                adams[b].step(&mut mus[b], &g, self.lr);
            }
            check_finite(&mus, i, sigma)?;
            observer.on_step(i, sigmas.len(), sigma);
        }
        Ok(solutions(mus, sigmas.len(), 0))
    }
}
