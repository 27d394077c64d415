//! Image quality metrics on images mapped from `[-1, 1]` to `[0, 1]` (docs/algorithms.md §9):
//! PSNR, and SSIM as scikit-image / torchmetrics define it (Wang et al. 2004: Gaussian
//! window of standard deviation 1.5 truncated at 3.5 sigma (11 taps), K1 = 0.01,
//! K2 = 0.03, population covariances, symmetric boundary, the mean over the interior that
//! excludes a 5-pixel border, averaged over channels).

pub mod fid;

use vmlmap_core::Shape;

/// Images that cannot be compared.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MetricError {
    #[error("images differ in size: {0} vs {1}")]
    ShapeMismatch(Shape, Shape),
    #[error("image {0} is too small for SSIM's 11x11 window (needs at least 11x11)")]
    TooSmall(Shape),
}

fn to_unit(v: &[f64]) -> Vec<f64> {
    v.iter().map(|x| (x + 1.0) / 2.0).collect()
}

/// PSNR in dB between two `[-1, 1]` images, computed on `[0, 1]` (data range 1).
pub fn psnr(a: &[f64], b: &[f64]) -> f64 {
    let (a, b) = (to_unit(a), to_unit(b));
    let mse = a.iter().zip(&b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / a.len() as f64;
    10.0 * (1.0 / mse).log10()
}

/// The 1-D Gaussian of scipy's `gaussian_filter1d(sigma=1.5, truncate=3.5)`.
fn gaussian_taps() -> Vec<f64> {
    let (sigma, radius) = (1.5f64, 5i64);
    let w: Vec<f64> = (-radius..=radius)
        .map(|x| (-0.5 * (x as f64 / sigma).powi(2)).exp())
        .collect();
    let s: f64 = w.iter().sum();
    w.iter().map(|v| v / s).collect()
}

/// scipy's `mode="reflect"` (half-sample symmetric) index.
fn reflect(i: i64, n: usize) -> usize {
    let n = n as i64;
    let mut k = i.rem_euclid(2 * n);
    if k >= n {
        k = 2 * n - 1 - k;
    }
    k as usize
}

/// Separable Gaussian filter of one `h x w` plane.
fn filter(x: &[f64], h: usize, w: usize, taps: &[f64]) -> Vec<f64> {
    let r = (taps.len() / 2) as i64;
    let mut tmp = vec![0.0; h * w];
    for i in 0..h {
        for j in 0..w {
            tmp[i * w + j] = taps
                .iter()
                .enumerate()
                .map(|(k, t)| t * x[i * w + reflect(j as i64 + k as i64 - r, w)])
                .sum();
        }
    }
    let mut out = vec![0.0; h * w];
    for i in 0..h {
        for j in 0..w {
            out[i * w + j] = taps
                .iter()
                .enumerate()
                .map(|(k, t)| t * tmp[reflect(i as i64 + k as i64 - r, h) * w + j])
                .sum();
        }
    }
    out
}

/// SSIM between two `[-1, 1]` images of `shape` (scikit-image's
/// `structural_similarity(data_range=1, gaussian_weights=True, sigma=1.5,
/// use_sample_covariance=False)` on the `[0, 1]` images, mean over channels).
pub fn ssim(a: &[f64], b: &[f64], shape: Shape) -> Result<f64, MetricError> {
    if shape.h < 11 || shape.w < 11 {
        return Err(MetricError::TooSmall(shape));
    }
    let (a, b) = (to_unit(a), to_unit(b));
    let taps = gaussian_taps();
    let (c1, c2) = (0.01f64.powi(2), 0.03f64.powi(2));
    let (h, w) = (shape.h, shape.w);
    let p = h * w;
    let pad = 5;
    let mut total = 0.0;
    for c in 0..shape.c {
        let x = &a[c * p..(c + 1) * p];
        let y = &b[c * p..(c + 1) * p];
        let prod = |u: &[f64], v: &[f64]| u.iter().zip(v).map(|(s, t)| s * t).collect::<Vec<_>>();
        let ux = filter(x, h, w, &taps);
        let uy = filter(y, h, w, &taps);
        let uxx = filter(&prod(x, x), h, w, &taps);
        let uyy = filter(&prod(y, y), h, w, &taps);
        let uxy = filter(&prod(x, y), h, w, &taps);
        let mut sum = 0.0;
        let mut count = 0usize;
        for i in pad..h - pad {
            for j in pad..w - pad {
                let k = i * w + j;
                let (vx, vy, vxy) = (
                    uxx[k] - ux[k] * ux[k],
                    uyy[k] - uy[k] * uy[k],
                    uxy[k] - ux[k] * uy[k],
                );
                let s = ((2.0 * ux[k] * uy[k] + c1) * (2.0 * vxy + c2))
                    / ((ux[k] * ux[k] + uy[k] * uy[k] + c1) * (vx + vy + c2));
                sum += s;
                count += 1;
            }
        }
        total += sum / count as f64;
    }
    Ok(total / shape.c as f64)
}

/// Checks that two images have the same shape.
pub fn check_shapes(a: Shape, b: Shape) -> Result<(), MetricError> {
    if a != b {
        return Err(MetricError::ShapeMismatch(a, b));
    }
    Ok(())
}
