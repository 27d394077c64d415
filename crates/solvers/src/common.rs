//! Pieces the diffusion baselines share: the DDPM step grid in the variance-exploding form,
//! the DDIM move between noise levels with its noise split out, per-image random streams,
//! and running a batched solver on one problem.
//!
//! Every baseline of docs/algorithms.md §8 is written in the EDM form `x = x0 + sigma eps` of
//! docs/algorithms.md §1–2: a VP network's `x_vp = x / sqrt(1 + sigma²)` and the VE `x` describe
//! the same state, and `eps_hat = (x - D) / sigma` is the network's noise prediction, so the
//! papers' VP updates translate term by term.

use crate::SolverError;
use vmlmap_core::rng::{normal_vec, Rng};
use vmlmap_core::schedule::VpTable;
use vmlmap_core::Denoiser;

/// `steps` noise levels of the standard DDPM table (T = 1000, linear betas), from
/// `t = T - 1` down to `t = 0`, evenly spaced in `t` (the DDIM "uniform skip"); 1000 steps
/// visit every training step (DPS's ancestral sampler).
pub fn ddpm_sigmas(steps: usize) -> Result<Vec<f64>, SolverError> {
    if steps == 0 {
        return Err(SolverError::InvalidConfig {
            field: "steps",
            value: "0".into(),
            reason: "need at least 1 step".into(),
        });
    }
    at_most("steps", steps)?;
    let table = VpTable::ddpm_linear();
    let top = (table.len() - 1) as f64;
    Ok((0..steps)
        .map(|i| {
            let t = if steps == 1 {
                top
            } else {
                top * (1.0 - i as f64 / (steps - 1) as f64)
            };
            table.sigmas()[t.round() as usize]
        })
        .collect())
}

/// The one DDIM move of the project, from level `sigma` to `next` given the network's
/// clean estimate `D`: `x' = D + sqrt(next² - c²) (x - D) / sigma + c z`,
/// `c = eta next sqrt(1 - next²/sigma²)` (DDIM in the variance-exploding form; eta = 1:
/// DDPM's ancestral step; eta = 0: deterministic; `next = 0` gives `D`).
#[derive(Clone, Copy, Debug)]
pub struct Ddim {
    /// The weight of `x - D`: `sqrt(next² - c²) / sigma`.
    pub keep: f64,
    /// The standard deviation `c` of the fresh noise.
    pub fresh: f64,
}

impl Ddim {
    pub fn new(sigma: f64, next: f64, eta: f64) -> Self {
        let c = fresh_noise_std(sigma, next, eta);
        Self {
            keep: (next * next - c * c).max(0.0).sqrt() / sigma,
            fresh: c,
        }
    }

    /// The deterministic part `D + keep (x - D)`.
    pub fn mean(&self, x: &[f64], d: &[f64]) -> Vec<f64> {
        d.iter()
            .zip(x)
            .map(|(d, x)| d + self.keep * (x - d))
            .collect()
    }

    /// The whole move; the fresh noise (when `c > 0`) is the next draw of `rng`.
    pub fn step(&self, x: &[f64], d: &[f64], rng: &mut Rng) -> Vec<f64> {
        let mut out = self.mean(x, d);
        if self.fresh > 0.0 {
            let z = normal_vec(rng, x.len());
            vmlmap_core::vector::axpy(&mut out, self.fresh, &z);
        }
        out
    }
}

/// The standard deviation of the fresh noise of a DDIM move (see [`ddim_move`]).
pub fn fresh_noise_std(sigma: f64, next: f64, eta: f64) -> f64 {
    eta * next * (1.0 - (next / sigma).powi(2)).max(0.0).sqrt()
}

/// Clamps values to the data range `[-1, 1]` (guided-diffusion's `clip_denoised`, which
/// DPS's official code, deepinv's DiffPIR and the plain samplers apply to each denoised
/// estimate).
pub fn clamp_to_data_range(v: &mut [f64]) {
    v.iter_mut().for_each(|x| *x = x.clamp(-1.0, 1.0));
}

/// `eps_hat = (x - D) / sigma`.
pub fn eps_hat(x: &[f64], d: &[f64], sigma: f64) -> Vec<f64> {
    x.iter().zip(d).map(|(x, d)| (x - d) / sigma).collect()
}

/// [`ddpm_sigmas`] rounded to the denoiser's grid.
pub fn ddpm_levels(steps: usize, denoiser: &dyn Denoiser) -> Result<Vec<f64>, SolverError> {
    Ok(ddpm_sigmas(steps)?
        .into_iter()
        .map(|s| denoiser.round_sigma(s))
        .collect())
}

/// A non-finite iterate is a typed error naming the step.
pub fn check_finite(xs: &[Vec<f64>], step: usize, sigma: f64) -> Result<(), SolverError> {
    if xs.iter().all(|x| vmlmap_core::vector::all_finite(x)) {
        Ok(())
    } else {
        Err(SolverError::Diverged { step, sigma })
    }
}

/// The most steps (or inner iterations) any solver takes: far above every published
/// setting (DPS's 1000, DAPS's 100 Langevin steps per level), and low enough that a
/// mistyped count is an error, not an attempt to allocate a schedule of billions of levels.
pub const MAX_STEPS: usize = 100_000;

/// A step count within [`MAX_STEPS`].
pub fn at_most(field: &'static str, n: usize) -> Result<(), SolverError> {
    if n > MAX_STEPS {
        return Err(invalid(field, n, &format!("at most {MAX_STEPS}")));
    }
    Ok(())
}

/// Validation helpers for solver settings.
pub fn invalid(field: &'static str, value: impl ToString, reason: &str) -> SolverError {
    SolverError::InvalidConfig {
        field,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// A positive, finite setting.
pub fn positive(field: &'static str, v: f64) -> Result<f64, SolverError> {
    if v > 0.0 && v.is_finite() {
        Ok(v)
    } else {
        Err(invalid(field, v, "must be positive and finite"))
    }
}

/// A setting in `[0, 1]`.
pub fn unit(field: &'static str, v: f64) -> Result<f64, SolverError> {
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(invalid(field, v, "must be in [0, 1]"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmlmap_core::rng::seeded;

    #[test]
    fn the_ddpm_grid_runs_from_the_last_training_step_to_the_first() {
        let table = VpTable::ddpm_linear();
        let all = ddpm_sigmas(1000).unwrap();
        assert_eq!(all.len(), 1000);
        assert_eq!(all[0], table.sigmas()[999]);
        assert_eq!(all[999], table.sigmas()[0]);
        assert!(all.windows(2).all(|w| w[0] > w[1]));
        let s = ddpm_sigmas(100).unwrap();
        assert_eq!((s[0], s[99]), (table.sigmas()[999], table.sigmas()[0]));
        assert!(ddpm_sigmas(0).is_err());
    }

    #[test]
    fn a_ddim_move_keeps_the_noise_level() {
        // D = 0 and x of variance sigma² = 4: the result has variance next² for every eta.
        let mut rng = seeded(1);
        let eps: Vec<f64> = normal_vec(&mut rng, 20000)
            .iter()
            .map(|v| 2.0 * v)
            .collect();
        for eta in [0.0, 0.5, 1.0] {
            let out = Ddim::new(2.0, 1.5, eta).step(&eps, &vec![0.0; 20000], &mut rng);
            let var = out.iter().map(|v| v * v).sum::<f64>() / out.len() as f64;
            assert!((var - 2.25).abs() < 0.08, "eta {eta}: {var}");
        }
    }
}
