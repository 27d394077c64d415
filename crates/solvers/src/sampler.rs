//! Unconditional sampling with a denoiser: the DDIM sampler in the variance-exploding form
//! on the Karras schedule (Song, Meng, Ermon 2021; Karras et al. 2022) — deterministic
//! (probability-flow Euler, `x <- D + (sigma_{i+1}/sigma_i)(x - D)`) at `eta = 0`,
//! ancestral (DDPM-like) at `eta = 1`. The sanity check of a prior.
//! With `clip_denoised` each denoised estimate is clamped to the data range `[-1, 1]` before
//! the step, as guided-diffusion's samplers do by default (`clip_denoised=True`).

use crate::common::{clamp_to_data_range, Ddim};
use crate::SolverError;
use vmlmap_core::rng::{normal_vec, seeded};
use vmlmap_core::schedule::karras;
use vmlmap_core::Denoiser;

/// One sample from pure noise, `steps` denoiser evaluations, DDIM stochasticity `eta` in
/// `[0, 1]`; `clip_denoised` clamps each denoised estimate to `[-1, 1]`.
pub fn ddim_sample(
    denoiser: &dyn Denoiser,
    steps: usize,
    seed: u64,
    eta: f64,
    clip_denoised: bool,
) -> Result<Vec<f64>, SolverError> {
    crate::common::unit("eta", eta)?;
    crate::common::at_most("steps", steps)?;
    let sigmas: Vec<f64> = karras(steps, 80.0, 0.002, 7.0)
        .map_err(|e| SolverError::InvalidConfig {
            field: "steps",
            value: steps.to_string(),
            reason: e.to_string(),
        })?
        .into_iter()
        .map(|s| denoiser.round_sigma(s))
        .collect();
    let mut rng = seeded(seed);
    let mut x: Vec<f64> = normal_vec(&mut rng, denoiser.shape().numel())
        .into_iter()
        .map(|v| v * sigmas[0])
        .collect();
    for (i, &s) in sigmas.iter().enumerate() {
        let mut d = denoiser.denoise(&x, s)?;
        if clip_denoised {
            clamp_to_data_range(&mut d);
        }
        let next = sigmas.get(i + 1).copied().unwrap_or(0.0);
        x = Ddim::new(s, next, eta).step(&x, &d, &mut rng);
    }
    Ok(x)
}

/// `seeds.len()` samples at once, sharing each network evaluation: sample `k` follows the
/// steps of [`ddim_sample`] with seed `seeds[k]` (its own noise stream), the denoiser
/// called on the whole batch.
pub fn ddim_sample_batch(
    denoiser: &dyn Denoiser,
    steps: usize,
    seeds: &[u64],
    eta: f64,
    clip_denoised: bool,
) -> Result<Vec<Vec<f64>>, SolverError> {
    crate::common::unit("eta", eta)?;
    crate::common::at_most("steps", steps)?;
    let sigmas: Vec<f64> = karras(steps, 80.0, 0.002, 7.0)
        .map_err(|e| SolverError::InvalidConfig {
            field: "steps",
            value: steps.to_string(),
            reason: e.to_string(),
        })?
        .into_iter()
        .map(|s| denoiser.round_sigma(s))
        .collect();
    let n = denoiser.shape().numel();
    let mut rngs: Vec<_> = seeds.iter().map(|&s| seeded(s)).collect();
    let mut xs: Vec<Vec<f64>> = rngs
        .iter_mut()
        .map(|r| {
            normal_vec(r, n)
                .into_iter()
                .map(|v| v * sigmas[0])
                .collect()
        })
        .collect();
    for (i, &s) in sigmas.iter().enumerate() {
        let flat: Vec<f64> = xs.concat();
        let mut d = denoiser.denoise_batch(&flat, &vec![s; seeds.len()])?;
        if clip_denoised {
            clamp_to_data_range(&mut d);
        }
        let next = sigmas.get(i + 1).copied().unwrap_or(0.0);
        let ddim = Ddim::new(s, next, eta);
        for ((x, dk), rng) in xs.iter_mut().zip(d.chunks(n)).zip(&mut rngs) {
            *x = ddim.step(x, dk, rng);
        }
    }
    Ok(xs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmlmap_core::Shape;
    use vmlmap_priors::{Covariance, GaussianPrior};

    /// The exact prior N(0, s I) on 50 x 50 images.
    fn gauss(s: f64) -> GaussianPrior {
        let shape = Shape::new(1, 50, 50).unwrap();
        GaussianPrior::new(shape, vec![0.0; shape.numel()], Covariance::Isotropic(s)).unwrap()
    }

    #[test]
    fn samples_have_the_prior_variance() {
        // The probability-flow ODE maps N(0, (s + sigma_max^2) I) to N(0, s I).
        // So does the ancestral sampler (eta = 1): DDIM keeps the marginals for every eta.
        for eta in [0.0, 1.0] {
            let x = ddim_sample(&gauss(0.25), 200, 1, eta, false).unwrap();
            let var = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
            assert!((var - 0.25).abs() < 0.03, "eta {eta}: variance {var}");
        }
        let e = ddim_sample(&gauss(0.25), 10, 1, 1.5, false).unwrap_err();
        assert!(e.to_string().contains("eta"), "{e}");
    }

    #[test]
    fn a_batch_gives_each_seed_its_single_sample() {
        let p = gauss(0.25);
        let batch = ddim_sample_batch(&p, 20, &[3, 9, 4], 1.0, true).unwrap();
        for (k, seed) in [3u64, 9, 4].into_iter().enumerate() {
            assert_eq!(
                batch[k],
                ddim_sample(&p, 20, seed, 1.0, true).unwrap(),
                "seed {seed}"
            );
        }
    }

    #[test]
    fn clipped_samples_stay_in_the_data_range() {
        // A wide prior (variance 4) puts most unclipped samples outside [-1, 1]; the last
        // step returns the clamped estimate itself.
        let free = ddim_sample(&gauss(4.0), 50, 2, 0.0, false).unwrap();
        assert!(free.iter().filter(|v| v.abs() > 1.0).count() > free.len() / 2);
        let clipped = ddim_sample(&gauss(4.0), 50, 2, 0.0, true).unwrap();
        assert!(clipped.iter().all(|v| v.abs() <= 1.0));
        assert!(clipped.iter().any(|v| v.abs() == 1.0));
    }
}
