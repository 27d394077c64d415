//! A dense `m x n` operator with its full SVD: random compressed sensing (Candès & Tao
//! 2006; a seeded Gaussian matrix with entries `N(0, 1/m)`). Dense storage limits it to
//! small images.

use crate::factor::DenseFactor;
use crate::{spectral_methods, LinearOperator, SvdBasis};
use nalgebra::{DMatrix, DVector};
use vmlmap_core::Shape;

/// Largest `n = C*H*W` a dense operator accepts: its full SVD (nalgebra, O(n^3)) takes
/// about 4 s at n = 1,024 (a 32x32 grey image) on one core, and grows 8-fold with each
/// doubling of n (328 s at 4,096 were measured), so larger images are refused up front.
pub const DENSE_MAX_N: usize = 1024;

/// `y = A x` for a dense matrix `A`.
#[derive(Clone, Debug)]
pub struct DenseOperator {
    name: String,
    shape: Shape,
    f: DenseFactor,
    spectrum: Vec<f64>,
}

impl DenseOperator {
    /// From a dense matrix whose column count is `shape.numel()`.
    pub fn new(name: impl Into<String>, shape: Shape, a: DMatrix<f64>) -> Self {
        let f = DenseFactor::new(a);
        let mut spectrum = f.s.clone();
        spectrum.resize(shape.numel(), 0.0);
        Self {
            name: name.into(),
            shape,
            f,
            spectrum,
        }
    }

    /// A seeded Gaussian sensing matrix with `m` rows, entries `N(0, 1/m)`.
    pub fn gaussian(name: impl Into<String>, shape: Shape, m: usize, seed: u64) -> Self {
        let n = shape.numel();
        let mut rng = vmlmap_core::rng::seeded(seed);
        let v = vmlmap_core::rng::normal_vec(&mut rng, m * n);
        let a = DMatrix::from_row_slice(m, n, &v) / (m as f64).sqrt();
        Self::new(name, shape, a)
    }
}

fn mul(m: &DMatrix<f64>, x: &[f64], transpose: bool) -> Vec<f64> {
    let v = DVector::from_column_slice(x);
    let r = if transpose { m.tr_mul(&v) } else { m * v };
    r.as_slice().to_vec()
}

impl SvdBasis for DenseOperator {
    fn v_t(&self, x: &[f64]) -> Vec<f64> {
        mul(&self.f.v, x, true)
    }
    fn v(&self, c: &[f64]) -> Vec<f64> {
        mul(&self.f.v, c, false)
    }
    fn u_t(&self, y: &[f64]) -> Vec<f64> {
        mul(&self.f.u, y, true)
    }
    fn u(&self, c: &[f64]) -> Vec<f64> {
        mul(&self.f.u, c, false)
    }
    fn spectrum(&self) -> &[f64] {
        &self.spectrum
    }
    fn to_measurement(&self, cv: &[f64]) -> Vec<f64> {
        let m = self.f.a.nrows();
        let mut cu = vec![0.0; m];
        let k = m.min(cv.len());
        cu[..k].copy_from_slice(&cv[..k]);
        cu
    }
    fn to_spectral(&self, cu: &[f64]) -> Vec<f64> {
        let mut cv = vec![0.0; self.shape.numel()];
        let k = cu.len().min(cv.len());
        cv[..k].copy_from_slice(&cu[..k]);
        cv
    }
}

impl LinearOperator for DenseOperator {
    fn describe(&self) -> String {
        self.name.clone()
    }
    fn input_shape(&self) -> Shape {
        self.shape
    }
    fn output_len(&self) -> usize {
        self.f.a.nrows()
    }
    fn output_shape(&self) -> Option<Shape> {
        None
    }
    fn apply(&self, x: &[f64]) -> Vec<f64> {
        mul(&self.f.a, x, false)
    }
    fn adjoint(&self, y: &[f64]) -> Vec<f64> {
        mul(&self.f.a, y, true)
    }
    spectral_methods!();
}
