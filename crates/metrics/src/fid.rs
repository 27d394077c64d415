//! The Fréchet distance between Gaussians fitted to feature sets, as FID uses it (Heusel
//! et al., NeurIPS 2017): `|mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2))`,
//! with unbiased covariances (`numpy.cov`). The trace of the matrix square root is taken
//! as `sum sqrt(eig(S_a^(1/2) S_b S_a^(1/2)))` (a symmetric matrix with the same
//! eigenvalues as `S_a S_b`), eigenvalues below zero from round-off clamped to zero.

use nalgebra::{DMatrix, DVector, SymmetricEigen};

/// Feature sets that cannot be compared.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FidError {
    #[error("{0} feature values do not make rows of {1}")]
    Ragged(usize, usize),
    #[error("a feature set needs at least 2 rows, not {0}")]
    TooFew(usize),
    #[error("feature sets of dimension {0} and {1}")]
    Dimension(usize, usize),
}

/// The mean and covariance of a feature set.
#[derive(Clone, Debug)]
pub struct FeatureStats {
    pub n: usize,
    pub mean: DVector<f64>,
    pub cov: DMatrix<f64>,
}

impl FeatureStats {
    /// From `n` rows of `dim` values (row-major).
    pub fn from_rows(values: &[f32], dim: usize) -> Result<Self, FidError> {
        if dim == 0 || !values.len().is_multiple_of(dim) {
            return Err(FidError::Ragged(values.len(), dim));
        }
        let n = values.len() / dim;
        if n < 2 {
            return Err(FidError::TooFew(n));
        }
        let x = DMatrix::from_row_iterator(n, dim, values.iter().map(|&v| v as f64));
        let mean = DVector::from_iterator(dim, x.column_iter().map(|c| c.sum() / n as f64));
        let centred = DMatrix::from_fn(n, dim, |i, j| x[(i, j)] - mean[j]);
        let cov = (centred.transpose() * &centred) / (n as f64 - 1.0);
        Ok(Self { n, mean, cov })
    }
}

/// The symmetric square root of a symmetric positive semi-definite matrix.
fn sqrt_psd(m: &DMatrix<f64>) -> DMatrix<f64> {
    let e = SymmetricEigen::new(m.clone());
    let s = e.eigenvalues.map(|l| l.max(0.0).sqrt());
    &e.eigenvectors * DMatrix::from_diagonal(&s) * e.eigenvectors.transpose()
}

/// The Fréchet distance between the Gaussians of two feature sets.
pub fn frechet_distance(a: &FeatureStats, b: &FeatureStats) -> Result<f64, FidError> {
    if a.mean.len() != b.mean.len() {
        return Err(FidError::Dimension(a.mean.len(), b.mean.len()));
    }
    let d = &a.mean - &b.mean;
    let ra = sqrt_psd(&a.cov);
    let m = &ra * &b.cov * &ra;
    let m = (&m + m.transpose()) * 0.5;
    let tr_sqrt: f64 = SymmetricEigen::new(m)
        .eigenvalues
        .iter()
        .map(|l| l.max(0.0).sqrt())
        .sum();
    Ok(d.dot(&d) + a.cov.trace() + b.cov.trace() - 2.0 * tr_sqrt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize, dim: usize, f: impl Fn(usize, usize) -> f64) -> Vec<f32> {
        (0..n * dim).map(|k| f(k / dim, k % dim) as f32).collect()
    }

    #[test]
    fn identical_sets_are_at_distance_zero_and_shifts_add_their_square() {
        let a =
            FeatureStats::from_rows(&rows(50, 4, |i, j| ((i * 7 + j * 3) % 11) as f64), 4).unwrap();
        assert!(frechet_distance(&a, &a).unwrap().abs() < 1e-9);
        let b =
            FeatureStats::from_rows(&rows(50, 4, |i, j| ((i * 7 + j * 3) % 11) as f64 + 2.0), 4)
                .unwrap();
        assert!((frechet_distance(&a, &b).unwrap() - 16.0).abs() < 1e-8);
    }

    /// Diagonal covariances: the closed form sum (s_a + s_b - 2 sqrt(s_a s_b)).
    #[test]
    fn diagonal_covariances_give_the_closed_form() {
        let dim = 3;
        let a = FeatureStats {
            n: 10,
            mean: DVector::from_vec(vec![0.0, 1.0, 2.0]),
            cov: DMatrix::from_diagonal(&DVector::from_vec(vec![1.0, 4.0, 9.0])),
        };
        let b = FeatureStats {
            n: 10,
            mean: DVector::from_vec(vec![1.0, 1.0, 0.0]),
            cov: DMatrix::from_diagonal(&DVector::from_vec(vec![4.0, 1.0, 16.0])),
        };
        let want = 1.0 + 4.0 + (1.0 + 4.0 - 4.0) + (4.0 + 1.0 - 4.0) + (9.0 + 16.0 - 24.0);
        assert_eq!(a.mean.len(), dim);
        assert!((frechet_distance(&a, &b).unwrap() - want).abs() < 1e-9);
    }

    #[test]
    fn bad_sets_are_errors() {
        assert_eq!(
            FeatureStats::from_rows(&[1.0; 7], 2).unwrap_err(),
            FidError::Ragged(7, 2)
        );
        assert_eq!(
            FeatureStats::from_rows(&[1.0; 2], 2).unwrap_err(),
            FidError::TooFew(1)
        );
    }
}
