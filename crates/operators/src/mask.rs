//! Inpainting: `H` keeps the observed pixels (the same pixels in every channel) and drops
//! the rest; `S = 1` on the kept pixels (docs/algorithms.md §7). The measurement is the vector
//! of kept values in `C x H x W` order; `adjoint` puts it back at full size with zeros in
//! the holes.

use crate::{LinearOperator, SvdBasis};
use vmlmap_core::Shape;

/// A pixel mask broadcast over channels.
#[derive(Clone, Debug)]
pub struct MaskOperator {
    name: String,
    shape: Shape,
    /// Flat indices (into `C x H x W`) of the observed values, increasing.
    kept: Vec<usize>,
    /// Flat indices of the missing values, increasing.
    missing: Vec<usize>,
    spectrum: Vec<f64>,
}

impl MaskOperator {
    /// From a per-pixel `H x W` mask, `true` where the pixel is observed.
    pub fn new(name: impl Into<String>, shape: Shape, observed: &[bool]) -> Self {
        debug_assert_eq!(observed.len(), shape.pixels());
        let mut kept = Vec::new();
        let mut missing = Vec::new();
        for c in 0..shape.c {
            for (p, &o) in observed.iter().enumerate() {
                let idx = c * shape.pixels() + p;
                if o {
                    kept.push(idx);
                } else {
                    missing.push(idx);
                }
            }
        }
        let mut spectrum = vec![1.0; kept.len()];
        spectrum.resize(shape.numel(), 0.0);
        Self {
            name: name.into(),
            shape,
            kept,
            missing,
            spectrum,
        }
    }

    /// The per-pixel observation mask (`H x W`, `true` = observed).
    pub fn observed_pixels(&self) -> Vec<bool> {
        let mut m = vec![false; self.shape.pixels()];
        for &i in self.kept.iter().take_while(|&&i| i < self.shape.pixels()) {
            m[i] = true;
        }
        m
    }

    fn diagonal(&self, v: &[f64], on_kept: f64, on_missing: f64) -> Vec<f64> {
        let mut out = vec![0.0; v.len()];
        for &i in &self.kept {
            out[i] = on_kept * v[i];
        }
        for &i in &self.missing {
            out[i] = on_missing * v[i];
        }
        out
    }
}

impl SvdBasis for MaskOperator {
    /// `V^T` orders the kept values first, then the missing ones.
    fn v_t(&self, x: &[f64]) -> Vec<f64> {
        self.kept
            .iter()
            .chain(&self.missing)
            .map(|&i| x[i])
            .collect()
    }
    fn v(&self, c: &[f64]) -> Vec<f64> {
        let mut x = vec![0.0; self.shape.numel()];
        for (k, &i) in self.kept.iter().chain(&self.missing).enumerate() {
            x[i] = c[k];
        }
        x
    }
    fn u_t(&self, y: &[f64]) -> Vec<f64> {
        y.to_vec()
    }
    fn u(&self, c: &[f64]) -> Vec<f64> {
        c.to_vec()
    }
    fn spectrum(&self) -> &[f64] {
        &self.spectrum
    }
    fn to_measurement(&self, cv: &[f64]) -> Vec<f64> {
        cv[..self.kept.len()].to_vec()
    }
    fn to_spectral(&self, cu: &[f64]) -> Vec<f64> {
        let mut cv = cu.to_vec();
        cv.resize(self.shape.numel(), 0.0);
        cv
    }
}

impl LinearOperator for MaskOperator {
    fn describe(&self) -> String {
        self.name.clone()
    }
    fn input_shape(&self) -> Shape {
        self.shape
    }
    fn output_len(&self) -> usize {
        self.kept.len()
    }
    fn output_shape(&self) -> Option<Shape> {
        None
    }
    fn apply(&self, x: &[f64]) -> Vec<f64> {
        self.kept.iter().map(|&i| x[i]).collect()
    }
    fn adjoint(&self, y: &[f64]) -> Vec<f64> {
        let mut x = vec![0.0; self.shape.numel()];
        for (k, &i) in self.kept.iter().enumerate() {
            x[i] = y[k];
        }
        x
    }
    fn singular_values(&self) -> Vec<f64> {
        self.spectrum.clone()
    }
    // Diagonal in pixel space: no basis change needed.
    fn gram_solve(&self, v: &[f64], lambda: f64) -> Vec<f64> {
        let inv = |d: f64| if d > 0.0 { 1.0 / d } else { 0.0 };
        self.diagonal(v, inv(1.0 + lambda), inv(lambda))
    }
    fn regularized_pinv(&self, y: &[f64], lambda: f64) -> Vec<f64> {
        let x = self.adjoint(y);
        x.iter().map(|v| v / (1.0 + lambda)).collect()
    }
    fn null_filter(&self, u: &[f64], lambda: f64) -> Vec<f64> {
        self.diagonal(u, lambda / (1.0 + lambda), 1.0)
    }
    fn svd(&self) -> Option<&dyn SvdBasis> {
        Some(self)
    }
}
