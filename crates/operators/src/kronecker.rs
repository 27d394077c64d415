//! Operators that are Kronecker products of 1-D maps along channel, height and width:
//! `H = A_c ⊗ A_h ⊗ A_w`. Covers block-average and bicubic super-resolution, separable
//! circular blurs (Gaussian, uniform), colourisation (channel average) and denoising
//! (identity). The SVD is the Kronecker product of the 1-D SVDs (docs/algorithms.md §7), so
//! DDRM-style spectral solvers and closed-form Gram solves apply at any image size.

use crate::factor::{Factor, Which};
use crate::{spectral_methods, LinearOperator, SvdBasis};
use nalgebra::{DMatrix, DMatrixView};
use vmlmap_core::Shape;

/// `H = A_c ⊗ A_h ⊗ A_w` on `C x H x W` images.
#[derive(Clone, Debug)]
pub struct KroneckerOperator {
    name: String,
    factors: [Factor; 3],
    spectrum: Vec<f64>,
}

impl KroneckerOperator {
    /// From its channel, height and width factors.
    pub fn new(name: impl Into<String>, fc: Factor, fh: Factor, fw: Factor) -> Self {
        let factors = [fc, fh, fw];
        let (nc, nh, nw) = (factors[0].n(), factors[1].n(), factors[2].n());
        let mut spectrum = vec![0.0; nc * nh * nw];
        for i in 0..factors[0].k() {
            for j in 0..factors[1].k() {
                for l in 0..factors[2].k() {
                    spectrum[(i * nh + j) * nw + l] =
                        factors[0].singular(i) * factors[1].singular(j) * factors[2].singular(l);
                }
            }
        }
        Self {
            name: name.into(),
            factors,
            spectrum,
        }
    }

    fn dims(&self, side: Side) -> [usize; 3] {
        let f = &self.factors;
        match side {
            Side::In => [f[0].n(), f[1].n(), f[2].n()],
            Side::Out => [f[0].m(), f[1].m(), f[2].m()],
        }
    }

    /// Applies, along each axis, the factor's `which` matrix (transposed if asked).
    fn apply_all(&self, x: &[f64], which: Which, transpose: bool, from: Side) -> Vec<f64> {
        let mut dims = self.dims(from);
        let mut data = x.to_vec();
        for axis in (0..3).rev() {
            if let Some(m) = self.factors[axis].matrix(which) {
                let (d, len) = apply_axis(&data, dims, axis, m, transpose);
                data = d;
                dims[axis] = len;
            }
        }
        data
    }
}

#[derive(Clone, Copy)]
enum Side {
    In,
    Out,
}

/// Applies `M` (or `M^T`) along `axis` of a row-major array of `dims`.
fn apply_axis(
    data: &[f64],
    dims: [usize; 3],
    axis: usize,
    m: &DMatrix<f64>,
    transpose: bool,
) -> (Vec<f64>, usize) {
    let n = dims[axis];
    let outer: usize = dims[..axis].iter().product();
    let inner: usize = dims[axis + 1..].iter().product();
    let mt;
    let mat = if transpose {
        mt = m.transpose();
        &mt
    } else {
        m
    };
    let n_out = mat.nrows();
    debug_assert_eq!(mat.ncols(), n);
    let mut out = vec![0.0; outer * n_out * inner];
    if inner == 1 {
        // Rows of length n: Y^T = M X^T, where the row-major (outer x n) buffer is X^T in
        // column-major order.
        let xt = DMatrixView::from_slice(data, n, outer);
        let yt = mat * xt;
        out.copy_from_slice(yt.as_slice());
    } else {
        // Each outer block is (n x inner) row-major = (inner x n) column-major = B^T;
        // (M B)^T = B^T M^T.
        let mtt = mat.transpose();
        for o in 0..outer {
            let bt = DMatrixView::from_slice(&data[o * n * inner..(o + 1) * n * inner], inner, n);
            let yt = bt * &mtt;
            out[o * n_out * inner..(o + 1) * n_out * inner].copy_from_slice(yt.as_slice());
        }
    }
    (out, n_out)
}

impl SvdBasis for KroneckerOperator {
    fn v_t(&self, x: &[f64]) -> Vec<f64> {
        self.apply_all(x, Which::V, true, Side::In)
    }
    fn v(&self, c: &[f64]) -> Vec<f64> {
        self.apply_all(c, Which::V, false, Side::In)
    }
    fn u_t(&self, y: &[f64]) -> Vec<f64> {
        self.apply_all(y, Which::U, true, Side::Out)
    }
    fn u(&self, c: &[f64]) -> Vec<f64> {
        self.apply_all(c, Which::U, false, Side::Out)
    }
    fn spectrum(&self) -> &[f64] {
        &self.spectrum
    }
    fn to_measurement(&self, cv: &[f64]) -> Vec<f64> {
        let [nc, nh, nw] = self.dims(Side::In);
        let [mc, mh, mw] = self.dims(Side::Out);
        let mut cu = vec![0.0; mc * mh * mw];
        for i in 0..nc.min(mc) {
            for j in 0..nh.min(mh) {
                for l in 0..nw.min(mw) {
                    cu[(i * mh + j) * mw + l] = cv[(i * nh + j) * nw + l];
                }
            }
        }
        cu
    }
    fn to_spectral(&self, cu: &[f64]) -> Vec<f64> {
        let [nc, nh, nw] = self.dims(Side::In);
        let [mc, mh, mw] = self.dims(Side::Out);
        let mut cv = vec![0.0; nc * nh * nw];
        for i in 0..nc.min(mc) {
            for j in 0..nh.min(mh) {
                for l in 0..nw.min(mw) {
                    cv[(i * nh + j) * nw + l] = cu[(i * mh + j) * mw + l];
                }
            }
        }
        cv
    }
}

impl LinearOperator for KroneckerOperator {
    fn describe(&self) -> String {
        self.name.clone()
    }
    fn input_shape(&self) -> Shape {
        let [c, h, w] = self.dims(Side::In);
        Shape { c, h, w }
    }
    fn output_len(&self) -> usize {
        self.dims(Side::Out).iter().product()
    }
    fn output_shape(&self) -> Option<Shape> {
        let [c, h, w] = self.dims(Side::Out);
        Some(Shape { c, h, w })
    }
    fn apply(&self, x: &[f64]) -> Vec<f64> {
        self.apply_all(x, Which::A, false, Side::In)
    }
    fn adjoint(&self, y: &[f64]) -> Vec<f64> {
        self.apply_all(y, Which::A, true, Side::Out)
    }
    spectral_methods!();
}
