//! The prior measured on its own, not through restorations: the held-out denoising loss,
//! the mean squared error of `D(x + sigma eps, sigma)` against the clean image `x` over
//! held-out images at fixed noise levels (the quantity the denoising objective of Karras
//! et al. 2022 minimises, at the levels restorations visit). Noise is seeded by image, so
//! two models are scored on identical noisy inputs.

use crate::data::ImageSet;
use crate::TrainError;
use vmlmap_core::rng::{normal_vec, seeded};
use vmlmap_core::Denoiser;

/// The noise levels of the held-out loss (images in `[-1, 1]`).
pub const EVAL_SIGMAS: [f64; 6] = [0.05, 0.2, 0.5, 1.0, 2.0, 5.0];

/// The seed of image `i`'s noise at level index `k`.
fn noise_seed(i: usize, k: usize) -> u64 {
    0x5eed_0000_0000 ^ ((k as u64) << 32) ^ i as u64
}

/// Mean squared error per pixel of `D` at each of `sigmas` over the first `n` images of
/// `data` (all of them when `n` exceeds the set), evaluated `batch` images at a time;
/// `progress(done, total)` after each batch.
pub fn held_out_loss(
    den: &dyn Denoiser,
    data: &ImageSet,
    sigmas: &[f64],
    n: usize,
    batch: usize,
    mut progress: impl FnMut(usize, usize),
) -> Result<Vec<(f64, f64)>, TrainError> {
    let shape = den.shape();
    let per = data.c * data.h * data.w;
    if (data.c, data.h, data.w) != (shape.c, shape.h, shape.w) {
        return Err(TrainError::Data(format!(
            "the held-out images are {}x{}x{}, the model's {shape}",
            data.c, data.h, data.w
        )));
    }
    let n = n.min(data.len());
    if n == 0 || batch == 0 {
        return Err(TrainError::Data("no held-out image to evaluate".into()));
    }
    let total = n.div_ceil(batch) * sigmas.len();
    let mut done = 0;
    let mut out = Vec::new();
    for (k, &sigma) in sigmas.iter().enumerate() {
        let mut sum = 0.0;
        for start in (0..n).step_by(batch) {
            let end = (start + batch).min(n);
            let mut clean = Vec::with_capacity((end - start) * per);
            let mut noisy = Vec::with_capacity((end - start) * per);
            for i in start..end {
                let eps = normal_vec(&mut seeded(noise_seed(i, k)), per);
                for (x, e) in data.image(i).iter().zip(eps) {
                    clean.push(*x as f64);
                    noisy.push(*x as f64 + sigma * e);
                }
            }
            let d = den
                .denoise_batch(&noisy, &vec![sigma; end - start])
                .map_err(|e| TrainError::Data(format!("denoising held-out images: {e}")))?;
            sum += d
                .iter()
                .zip(&clean)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>();
            done += 1;
            progress(done, total);
        }
        out.push((sigma, sum / (n * per) as f64));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmlmap_core::Shape;
    use vmlmap_priors::{Covariance, GaussianPrior};

    /// For images drawn from `N(mu, s I)` and the exact denoiser of that prior, the loss is
    /// the MMSE `s sigma² / (s + sigma²)` per pixel.
    #[test]
    fn the_exact_denoiser_of_a_gaussian_scores_its_mmse() {
        let shape = Shape::new(1, 8, 8).unwrap();
        let s = 0.3;
        let prior = GaussianPrior::new(shape, vec![0.1; 64], Covariance::Isotropic(s)).unwrap();
        let mut rng = seeded(3);
        let n = 3000;
        let data: Vec<f32> = (0..n)
            .flat_map(|_| prior.sample(&mut rng))
            .map(|v| v as f32)
            .collect();
        let set = ImageSet {
            c: 1,
            h: 8,
            w: 8,
            data,
        };
        let mut calls = 0;
        let got = held_out_loss(&prior, &set, &EVAL_SIGMAS, n, 256, |_, _| calls += 1).unwrap();
        assert_eq!(calls, 12 * EVAL_SIGMAS.len());
        for (sigma, mse) in got {
            let want = s * sigma * sigma / (s + sigma * sigma);
            assert!(
                (mse / want - 1.0).abs() < 0.02,
                "sigma {sigma}: {mse} vs {want}"
            );
        }
        // The same images and noise however they are batched.
        let a = held_out_loss(&prior, &set, &[0.5], 100, 7, |_, _| {}).unwrap();
        let b = held_out_loss(&prior, &set, &[0.5], 100, 100, |_, _| {}).unwrap();
        assert!((a[0].1 - b[0].1).abs() < 1e-12);
        let wrong = ImageSet {
            c: 1,
            h: 4,
            w: 4,
            data: vec![0.0; 16],
        };
        assert!(held_out_loss(&prior, &wrong, &[0.5], 1, 1, |_, _| {}).is_err());
    }
}
