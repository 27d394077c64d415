//! 1-D matrices and blur kernels: block averaging, bicubic downsampling (Keys' cubic with
//! `a = -0.5`, antialiased as MATLAB's `imresize`), circulant matrices of 1-D kernels,
//! Gaussian and uniform kernels, and seeded random motion-blur kernels.

use nalgebra::DMatrix;
use rand::Rng as _;
use vmlmap_core::rng::{normal_vec, seeded};

/// `(n/f) x n` block averaging: output `i` is the mean of inputs `i*f .. (i+1)*f`.
pub fn block_average(n: usize, f: usize) -> DMatrix<f64> {
    let m = n / f;
    DMatrix::from_fn(m, n, |i, j| if j / f == i { 1.0 / f as f64 } else { 0.0 })
}

/// Keys' cubic convolution kernel with `a = -0.5` (MATLAB `imresize`, DDRM's bicubic).
pub fn cubic(x: f64) -> f64 {
    let a = -0.5;
    let x = x.abs();
    if x <= 1.0 {
        (a + 2.0) * x.powi(3) - (a + 3.0) * x.powi(2) + 1.0
    } else if x < 2.0 {
        a * x.powi(3) - 5.0 * a * x.powi(2) + 8.0 * a * x - 4.0 * a
    } else {
        0.0
    }
}

/// `(n/f) x n` bicubic downsampling by `f` with antialiasing (the kernel stretched by `f`),
/// symmetric (half-sample) boundary reflection, rows normalised to sum 1.
pub fn bicubic_down(n: usize, f: usize) -> DMatrix<f64> {
    let m = n / f;
    let ff = f as f64;
    let mut a = DMatrix::zeros(m, n);
    for i in 0..m {
        let centre = (i as f64 + 0.5) * ff - 0.5;
        let lo = (centre - 2.0 * ff).floor() as i64;
        let hi = (centre + 2.0 * ff).ceil() as i64;
        let mut row = vec![0.0; n];
        for j in lo..=hi {
            let w = cubic((j as f64 - centre) / ff) / ff;
            if w != 0.0 {
                row[reflect(j, n)] += w;
            }
        }
        let s: f64 = row.iter().sum();
        for (j, v) in row.iter().enumerate() {
            a[(i, j)] = v / s;
        }
    }
    a
}

/// Half-sample symmetric reflection of an index into `0..n`.
fn reflect(j: i64, n: usize) -> usize {
    let n = n as i64;
    let period = 2 * n;
    let mut k = j.rem_euclid(period);
    if k >= n {
        k = period - 1 - k;
    }
    k as usize
}

/// `n x n` circulant matrix of a centred 1-D kernel: `(A x)_r = sum_j k_j x_{r + j - c}`
/// (indices mod `n`, `c = len/2`).
pub fn circulant(n: usize, kernel: &[f64]) -> DMatrix<f64> {
    let c = kernel.len() / 2;
    let mut a = DMatrix::zeros(n, n);
    for r in 0..n {
        for (j, &k) in kernel.iter().enumerate() {
            let col = (r + j + n * (c / n + 1) - c) % n;
            a[(r, col)] += k;
        }
    }
    a
}

/// Normalised sampled Gaussian of odd `size` and standard deviation `std` (pixels).
pub fn gaussian_1d(size: usize, std: f64) -> Vec<f64> {
    let c = (size / 2) as f64;
    let k: Vec<f64> = (0..size)
        .map(|i| (-0.5 * ((i as f64 - c) / std).powi(2)).exp())
        .collect();
    let s: f64 = k.iter().sum();
    k.iter().map(|v| v / s).collect()
}

/// Uniform kernel of `size` taps.
pub fn uniform_1d(size: usize) -> Vec<f64> {
    vec![1.0 / size as f64; size]
}

/// A seeded random motion-blur kernel (`size x size`, row-major, sums to 1).
///
/// A camera-shake trajectory in the spirit of Boracchi & Foi (2012) and the `motionblur`
/// package used by DPS: a random walk whose heading drifts with a standard deviation that
/// grows with `intensity` (0 = straight line, 1 = very erratic), with occasional abrupt
/// turns (probability `0.1 * intensity` per step). The path is scaled to span the kernel
/// and splatted with bilinear weights.
pub fn motion_kernel(size: usize, intensity: f64, seed: u64) -> Vec<f64> {
    let mut rng = seeded(seed);
    let steps = (size * 8).max(32);
    let mut heading = rng.random::<f64>() * std::f64::consts::TAU;
    let turns = normal_vec(&mut rng, steps);
    let (mut x, mut y) = (0.0f64, 0.0f64);
    let mut path = Vec::with_capacity(steps + 1);
    path.push((x, y));
    for t in turns {
        heading += t * intensity * std::f64::consts::FRAC_PI_4;
        if rng.random::<f64>() < 0.1 * intensity {
            heading += (rng.random::<f64>() - 0.5) * std::f64::consts::PI;
        }
        x += heading.cos();
        y += heading.sin();
        path.push((x, y));
    }
    // Centre the path's bounding box and scale its larger extent to size - 1 pixels.
    let (minx, maxx) = path
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (miny, maxy) = path
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let extent = (maxx - minx).max(maxy - miny).max(1e-12);
    let scale = (size as f64 - 1.0) / extent;
    let c = (size as f64 - 1.0) / 2.0;
    let (cx, cy) = ((minx + maxx) / 2.0, (miny + maxy) / 2.0);
    let mut k = vec![0.0; size * size];
    for &(px, py) in &path {
        let u = ((px - cx) * scale + c).clamp(0.0, size as f64 - 1.0);
        let v = ((py - cy) * scale + c).clamp(0.0, size as f64 - 1.0);
        let (u0, v0) = (u.floor() as usize, v.floor() as usize);
        let (du, dv) = (u - u0 as f64, v - v0 as f64);
        for (dy, wy) in [(0, 1.0 - dv), (1, dv)] {
            for (dx, wx) in [(0, 1.0 - du), (1, du)] {
                let (r, col) = ((v0 + dy).min(size - 1), (u0 + dx).min(size - 1));
                k[r * size + col] += wx * wy;
            }
        }
    }
    let s: f64 = k.iter().sum();
    k.iter().map(|v| v / s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_sum_to_one() {
        for a in [
            block_average(16, 4),
            bicubic_down(16, 2),
            bicubic_down(32, 4),
            circulant(8, &gaussian_1d(5, 1.0)),
        ] {
            for r in 0..a.nrows() {
                assert!((a.row(r).sum() - 1.0).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn cubic_interpolates() {
        assert_eq!(cubic(0.0), 1.0);
        assert_eq!(cubic(1.0), 0.0);
        assert_eq!(cubic(2.0), 0.0);
        // Keys (1981), a = -0.5: k(0.5) = 0.5625, k(1.5) = -0.0625.
        assert!((cubic(0.5) - 0.5625).abs() < 1e-15);
        assert!((cubic(1.5) + 0.0625).abs() < 1e-15);
    }

    #[test]
    fn bicubic_by_one_is_identity_inside() {
        // With f = 1 the cubic kernel interpolates: sampling at the input grid is the identity.
        let a = bicubic_down(8, 1);
        assert!((a - DMatrix::<f64>::identity(8, 8)).norm() < 1e-12);
    }

    #[test]
    fn motion_kernel_is_seeded_normalised_and_not_separable_line() {
        let a = motion_kernel(9, 0.5, 3);
        let b = motion_kernel(9, 0.5, 3);
        let c = motion_kernel(9, 0.5, 4);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!((a.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(a.iter().all(|v| *v >= 0.0));
        // It spans the kernel: some mass in the outer ring.
        let ring: f64 = (0..81)
            .filter(|i| i / 9 == 0 || i / 9 == 8 || i % 9 == 0 || i % 9 == 8)
            .map(|i| a[i])
            .sum();
        assert!(ring > 0.0);
    }
}
