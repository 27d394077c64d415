//! Circular 2-D convolution with an arbitrary (non-separable) kernel, diagonalised by the
//! 2-D FFT: `H = F^-1 diag(k̂) F` on every channel (docs/algorithms.md §7, motion blur). Its
//! singular values are `|k̂|`; the Gram solve, the regularised pseudo-inverse and the
//! null-space filter are elementwise in the Fourier domain.

use crate::spectral::rank_threshold;
use crate::LinearOperator;
use rustfft::num_complex::Complex64;
use rustfft::{Fft, FftPlanner};
use std::sync::Arc;
use vmlmap_core::Shape;

/// `y = k ⊛ x` (circular convolution, kernel centred at `(kh/2, kw/2)`) on each channel.
#[derive(Clone)]
pub struct FftConvOperator {
    name: String,
    shape: Shape,
    /// Kernel spectrum, `H x W`.
    khat: Vec<Complex64>,
    /// `|k̂|` with values under the rank threshold set to zero.
    mag: Vec<f64>,
    fft: Fft2,
}

impl std::fmt::Debug for FftConvOperator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FftConvOperator")
            .field("name", &self.name)
            .field("shape", &self.shape)
            .finish()
    }
}

#[derive(Clone)]
struct Fft2 {
    h: usize,
    w: usize,
    fwd_w: Arc<dyn Fft<f64>>,
    inv_w: Arc<dyn Fft<f64>>,
    fwd_h: Arc<dyn Fft<f64>>,
    inv_h: Arc<dyn Fft<f64>>,
}

impl Fft2 {
    fn new(h: usize, w: usize) -> Self {
        let mut p = FftPlanner::new();
        Self {
            h,
            w,
            fwd_w: p.plan_fft_forward(w),
            inv_w: p.plan_fft_inverse(w),
            fwd_h: p.plan_fft_forward(h),
            inv_h: p.plan_fft_inverse(h),
        }
    }

    /// In-place 2-D transform of an `h x w` row-major buffer (unnormalised).
    fn run(&self, buf: &mut [Complex64], inverse: bool) {
        let (fw, fh) = if inverse {
            (&self.inv_w, &self.inv_h)
        } else {
            (&self.fwd_w, &self.fwd_h)
        };
        fw.process(buf);
        let mut col = vec![Complex64::default(); self.h];
        for j in 0..self.w {
            for i in 0..self.h {
                col[i] = buf[i * self.w + j];
            }
            fh.process(&mut col);
            for i in 0..self.h {
                buf[i * self.w + j] = col[i];
            }
        }
    }
}

impl FftConvOperator {
    /// From a `kh x kw` kernel (row-major). The kernel must fit in the image.
    pub fn new(
        name: impl Into<String>,
        shape: Shape,
        kernel: &[f64],
        kh: usize,
        kw: usize,
    ) -> Self {
        let (h, w) = (shape.h, shape.w);
        let mut kpad = vec![Complex64::default(); h * w];
        for a in 0..kh {
            for b in 0..kw {
                let i = (a + h - kh / 2 % h) % h;
                let j = (b + w - kw / 2 % w) % w;
                kpad[i * w + j].re += kernel[a * kw + b];
            }
        }
        let fft = Fft2::new(h, w);
        fft.run(&mut kpad, false);
        let raw: Vec<f64> = kpad.iter().map(|c| c.norm()).collect();
        let tol = rank_threshold(&raw);
        let mag = raw.iter().map(|&m| if m > tol { m } else { 0.0 }).collect();
        Self {
            name: name.into(),
            shape,
            khat: kpad,
            mag,
            fft,
        }
    }

    /// Multiplies every channel's spectrum by `f(k̂, |k̂|)`.
    fn fourier_multiply(&self, x: &[f64], f: impl Fn(Complex64, f64) -> Complex64) -> Vec<f64> {
        let p = self.shape.pixels();
        let scale = 1.0 / p as f64;
        let mut out = vec![0.0; x.len()];
        let mut buf = vec![Complex64::default(); p];
        for c in 0..self.shape.c {
            for (b, v) in buf.iter_mut().zip(&x[c * p..(c + 1) * p]) {
                *b = Complex64::new(*v, 0.0);
            }
            self.fft.run(&mut buf, false);
            for ((b, k), m) in buf.iter_mut().zip(&self.khat).zip(&self.mag) {
                *b *= f(*k, *m);
            }
            self.fft.run(&mut buf, true);
            for (o, b) in out[c * p..(c + 1) * p].iter_mut().zip(&buf) {
                *o = b.re * scale;
            }
        }
        out
    }
}

impl LinearOperator for FftConvOperator {
    fn describe(&self) -> String {
        self.name.clone()
    }
    fn input_shape(&self) -> Shape {
        self.shape
    }
    fn output_len(&self) -> usize {
        self.shape.numel()
    }
    fn output_shape(&self) -> Option<Shape> {
        Some(self.shape)
    }
    fn apply(&self, x: &[f64]) -> Vec<f64> {
        self.fourier_multiply(x, |k, _| k)
    }
    fn adjoint(&self, y: &[f64]) -> Vec<f64> {
        self.fourier_multiply(y, |k, _| k.conj())
    }
    fn singular_values(&self) -> Vec<f64> {
        let mut s = Vec::with_capacity(self.shape.numel());
        for _ in 0..self.shape.c {
            s.extend_from_slice(&self.mag);
        }
        s
    }
    fn gram_solve(&self, v: &[f64], lambda: f64) -> Vec<f64> {
        self.fourier_multiply(v, |_, m| {
            let d = m * m + lambda;
            Complex64::new(if d > 0.0 { 1.0 / d } else { 0.0 }, 0.0)
        })
    }
    fn regularized_pinv(&self, y: &[f64], lambda: f64) -> Vec<f64> {
        self.fourier_multiply(y, |k, m| {
            if m > 0.0 {
                k.conj() / (m * m + lambda)
            } else {
                Complex64::default()
            }
        })
    }
    fn null_filter(&self, u: &[f64], lambda: f64) -> Vec<f64> {
        self.fourier_multiply(u, |_, m| {
            Complex64::new(
                if m > 0.0 {
                    lambda / (m * m + lambda)
                } else {
                    1.0
                },
                0.0,
            )
        })
    }
}
