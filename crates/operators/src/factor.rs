//! One factor of a Kronecker operator: a dense `m x n` matrix with its full SVD
//! (`U` `m x m`, `V` `n x n`, singular values sorted in descending order), or the identity.

use nalgebra::{DMatrix, DVector};

/// A 1-D linear map along one image axis.
#[derive(Clone, Debug)]
pub enum Factor {
    /// The identity on `n` values (no work, singular values 1).
    Identity(usize),
    /// A dense matrix and its full SVD.
    Dense(Box<DenseFactor>),
}

/// A dense matrix `A = U S V^T` with full orthogonal `U` and `V`.
#[derive(Clone, Debug)]
pub struct DenseFactor {
    pub a: DMatrix<f64>,
    pub u: DMatrix<f64>,
    pub v: DMatrix<f64>,
    /// `min(m, n)` singular values, descending; value `i` pairs `U` column `i` with `V`
    /// column `i`.
    pub s: Vec<f64>,
}

impl Factor {
    /// A dense factor with its full SVD.
    pub fn dense(a: DMatrix<f64>) -> Self {
        Factor::Dense(Box::new(DenseFactor::new(a)))
    }

    /// Input length.
    pub fn n(&self) -> usize {
        match self {
            Factor::Identity(n) => *n,
            Factor::Dense(d) => d.a.ncols(),
        }
    }

    /// Output length.
    pub fn m(&self) -> usize {
        match self {
            Factor::Identity(n) => *n,
            Factor::Dense(d) => d.a.nrows(),
        }
    }

    /// Number of paired (possibly zero) singular values, `min(m, n)`.
    pub fn k(&self) -> usize {
        self.m().min(self.n())
    }

    /// Singular value `i` (`i < k`).
    pub fn singular(&self, i: usize) -> f64 {
        match self {
            Factor::Identity(_) => 1.0,
            Factor::Dense(d) => d.s[i],
        }
    }

    /// The matrix this factor applies as `which` (none for the identity).
    pub fn matrix(&self, which: Which) -> Option<&DMatrix<f64>> {
        match self {
            Factor::Identity(_) => None,
            Factor::Dense(d) => Some(match which {
                Which::A => &d.a,
                Which::U => &d.u,
                Which::V => &d.v,
            }),
        }
    }
}

/// Which matrix of a factor to apply.
#[derive(Clone, Copy, Debug)]
pub enum Which {
    A,
    U,
    V,
}

impl DenseFactor {
    /// Computes the full SVD. The thin SVD comes from nalgebra; the orthogonal complements
    /// of `U` and `V` are completed by QR.
    pub fn new(a: DMatrix<f64>) -> Self {
        let (m, n) = a.shape();
        let k = m.min(n);
        let svd = accurate_svd(a.clone());
        let u_thin = svd.u.expect("SVD computed with U");
        let vt_thin = svd.v_t.expect("SVD computed with V^T");
        let mut order: Vec<usize> = (0..k).collect();
        order.sort_by(|&i, &j| svd.singular_values[j].total_cmp(&svd.singular_values[i]));
        let s: Vec<f64> = order.iter().map(|&i| svd.singular_values[i]).collect();
        let u_cols: Vec<DVector<f64>> = order
            .iter()
            .map(|&i| u_thin.column(i).into_owned())
            .collect();
        let v_cols: Vec<DVector<f64>> = order
            .iter()
            .map(|&i| vt_thin.row(i).transpose().into_owned())
            .collect();
        let u = complete_basis(&u_cols, m);
        let v = complete_basis(&v_cols, n);
        Self { a, u, v, s }
    }
}

/// The SVD iterated to machine precision. nalgebra's default stopping rule leaves
/// reconstruction errors near 1e-8 on ill-conditioned blur matrices, which noise-free
/// solves amplify; iterating to `f64::EPSILON` (no iteration cap) brings them to 1e-14.
pub fn accurate_svd(a: DMatrix<f64>) -> nalgebra::SVD<f64, nalgebra::Dyn, nalgebra::Dyn> {
    nalgebra::SVD::try_new(a, true, true, f64::EPSILON, 0)
        .expect("the SVD converges without an iteration cap")
}

/// An orthogonal `d x d` matrix whose first columns are `cols` (orthonormal), completed by
/// Gram–Schmidt (twice, for stability) against the standard basis.
fn complete_basis(cols: &[DVector<f64>], d: usize) -> DMatrix<f64> {
    let mut basis: Vec<DVector<f64>> = cols.to_vec();
    let mut e = 0;
    while basis.len() < d && e < d {
        let mut c = DVector::<f64>::zeros(d);
        c[e] = 1.0;
        e += 1;
        for _ in 0..2 {
            for b in &basis {
                let p = b.dot(&c);
                c.axpy(-p, b, 1.0);
            }
        }
        let nrm = c.norm();
        if nrm > 1e-6 {
            basis.push(c / nrm);
        }
    }
    DMatrix::from_columns(&basis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_svd_reconstructs_and_is_orthogonal() {
        let a = DMatrix::from_fn(3, 7, |i, j| ((i * 7 + j) as f64 * 0.37).sin());
        let f = DenseFactor::new(a.clone());
        let mut s = DMatrix::zeros(3, 7);
        for i in 0..3 {
            s[(i, i)] = f.s[i];
        }
        let r = &f.u * s * f.v.transpose();
        assert!((r - &a).norm() < 1e-12 * a.norm());
        assert!((f.u.transpose() * &f.u - DMatrix::identity(3, 3)).norm() < 1e-12);
        assert!((f.v.transpose() * &f.v - DMatrix::identity(7, 7)).norm() < 1e-12);
        assert!(f.s.windows(2).all(|w| w[0] >= w[1]));
    }
}
