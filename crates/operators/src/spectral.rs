//! The explicit SVD `H = U S V^T` of an operator and the spectral formulas built on it
//! (docs/algorithms.md §4, §7; the decomposable operators of DDRM, Kawar et al. 2022).
//!
//! Coordinates: `V^T x` has `n` coefficients, one singular value each (zero on the null
//! space); `U^T y` has `m`. [`SvdBasis::to_measurement`] and [`SvdBasis::to_spectral`] pair
//! the coordinates that share a singular value.

use crate::RANK_TOL;

/// An orthonormal factorisation `H = U S V^T`.
pub trait SvdBasis: Send + Sync {
    /// `V^T x` (`n` coefficients).
    fn v_t(&self, x: &[f64]) -> Vec<f64>;
    /// `V c`.
    fn v(&self, c: &[f64]) -> Vec<f64>;
    /// `U^T y` (`m` coefficients).
    fn u_t(&self, y: &[f64]) -> Vec<f64>;
    /// `U c`.
    fn u(&self, c: &[f64]) -> Vec<f64>;
    /// The singular value of each `V` coordinate (`n` values, zero on the null space).
    fn spectrum(&self) -> &[f64];
    /// Moves `V`-coordinates to their paired `U`-coordinates (unpaired ones are dropped,
    /// missing ones are zero).
    fn to_measurement(&self, cv: &[f64]) -> Vec<f64>;
    /// Moves `U`-coordinates to their paired `V`-coordinates (others zero).
    fn to_spectral(&self, cu: &[f64]) -> Vec<f64>;

    /// `U S V^T x`.
    fn svd_apply(&self, x: &[f64]) -> Vec<f64> {
        let c: Vec<f64> = self
            .v_t(x)
            .iter()
            .zip(self.spectrum())
            .map(|(c, s)| c * s)
            .collect();
        self.u(&self.to_measurement(&c))
    }

    /// `V S^T U^T y`.
    fn svd_adjoint(&self, y: &[f64]) -> Vec<f64> {
        let c = self.to_spectral(&self.u_t(y));
        self.v(&c
            .iter()
            .zip(self.spectrum())
            .map(|(c, s)| c * s)
            .collect::<Vec<_>>())
    }
}

/// Singular values below `RANK_TOL * max` are treated as zero.
pub fn rank_threshold(spectrum: &[f64]) -> f64 {
    RANK_TOL * spectrum.iter().cloned().fold(0.0, f64::max)
}

/// `V diag(f(s)) V^T x`.
fn v_filter(b: &dyn SvdBasis, x: &[f64], f: impl Fn(f64) -> f64) -> Vec<f64> {
    let tol = rank_threshold(b.spectrum());
    let c: Vec<f64> = b
        .v_t(x)
        .iter()
        .zip(b.spectrum())
        .map(|(c, &s)| c * f(if s > tol { s } else { 0.0 }))
        .collect();
    b.v(&c)
}

/// `(H^T H + lambda I)^-1 v` (pseudo-inverse on the null space when `lambda = 0`).
pub fn gram_solve(b: &dyn SvdBasis, v: &[f64], lambda: f64) -> Vec<f64> {
    v_filter(b, v, |s| {
        let d = s * s + lambda;
        if d > 0.0 {
            1.0 / d
        } else {
            0.0
        }
    })
}

/// `lambda (H^T H + lambda I)^-1 u`.
pub fn null_filter(b: &dyn SvdBasis, u: &[f64], lambda: f64) -> Vec<f64> {
    v_filter(b, u, |s| {
        if s == 0.0 {
            1.0
        } else {
            lambda / (s * s + lambda)
        }
    })
}

/// `(H^T H + lambda I)^-1 H^T y = V diag(s / (s^2 + lambda)) U^T y`.
pub fn regularized_pinv(b: &dyn SvdBasis, y: &[f64], lambda: f64) -> Vec<f64> {
    let tol = rank_threshold(b.spectrum());
    let cu = b.to_spectral(&b.u_t(y));
    let c: Vec<f64> = cu
        .iter()
        .zip(b.spectrum())
        .map(|(c, &s)| {
            if s > tol {
                c * s / (s * s + lambda)
            } else {
                0.0
            }
        })
        .collect();
    b.v(&c)
}

/// Implements the spectral methods of [`crate::LinearOperator`] through `self.svd_basis()`.
#[macro_export]
macro_rules! spectral_methods {
    () => {
        fn singular_values(&self) -> Vec<f64> {
            $crate::SvdBasis::spectrum(self).to_vec()
        }
        fn gram_solve(&self, v: &[f64], lambda: f64) -> Vec<f64> {
            $crate::spectral::gram_solve(self, v, lambda)
        }
        fn regularized_pinv(&self, y: &[f64], lambda: f64) -> Vec<f64> {
            $crate::spectral::regularized_pinv(self, y, lambda)
        }
        fn null_filter(&self, u: &[f64], lambda: f64) -> Vec<f64> {
            $crate::spectral::null_filter(self, u, lambda)
        }
        fn svd(&self) -> Option<&dyn $crate::SvdBasis> {
            Some(self)
        }
    };
}
