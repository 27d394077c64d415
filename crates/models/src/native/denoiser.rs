//! A native guided-diffusion UNet as a [`Denoiser`], with the same VP preconditioning as
//! [`crate::eps_denoiser`] (docs/algorithms.md §2): `x_vp = x / sqrt(1 + σ²)`, `t` the step whose
//! `σ_t` is nearest, `D = x − σ ε(x_vp, t)[:C]`; and `Jᵀv = v + (∂ε/∂x_vp)ᵀ(−σ v) / sqrt(1 + σ²)`.

use super::act::Act;
use super::unet::{NativeAdm, Tape};
use vmlmap_core::schedule::VpTable;
use vmlmap_core::{Denoiser, DenoiserError, Linearization, Shape};

/// An ε-prediction UNet on the native kernels as `D(x, σ)`.
pub struct NativeEpsDenoiser {
    net: NativeAdm,
    table: VpTable,
    shape: Shape,
    name: String,
}

impl NativeEpsDenoiser {
    pub fn new(net: NativeAdm, shape: Shape, name: impl Into<String>) -> Self {
        Self {
            net,
            table: VpTable::ddpm_linear(),
            shape,
            name: name.into(),
        }
    }

    /// `x_vp` as an activation, and the steps.
    fn prepare(&self, xs: &[f64], sigmas: &[f64]) -> (Act, Vec<f64>) {
        let n = self.shape.numel();
        let scaled: Vec<f64> = xs
            .chunks(n)
            .zip(sigmas)
            .flat_map(|(x, s)| {
                let inv = 1.0 / (1.0 + s * s).sqrt();
                x.iter().map(move |v| v * inv)
            })
            .collect();
        let s = self.shape;
        let act = Act::from_nchw(&scaled, sigmas.len(), s.c, s.h, s.w);
        let ts = sigmas
            .iter()
            .map(|&sg| self.table.nearest_t(sg) as f64)
            .collect();
        (act, ts)
    }

    /// `x − σ ε`.
    fn combine(&self, xs: &[f64], sigmas: &[f64], eps: &Act) -> Vec<f64> {
        let n = self.shape.numel();
        let eps = eps.to_nchw(self.shape.c);
        xs.chunks(n)
            .zip(eps.chunks(n))
            .zip(sigmas)
            .flat_map(|((x, e), s)| x.iter().zip(e).map(move |(x, e)| x - s * e))
            .collect()
    }
}

struct NativeLinearization<'a> {
    den: &'a NativeEpsDenoiser,
    tape: Tape,
    sigmas: Vec<f64>,
    out_c: usize,
    value: Vec<f64>,
}

impl Linearization for NativeLinearization<'_> {
    fn output(&self) -> &[f64] {
        &self.value
    }

    fn vjp(self: Box<Self>, v: &[f64]) -> Result<Vec<f64>, DenoiserError> {
        vmlmap_core::denoiser::check_cotangent(self.value.len(), v.len())?;
        let s = self.den.shape;
        let n = s.numel();
        let b = self.sigmas.len();
        // g_eps = −σ v in the first C channels (the learned-sigma half gets no gradient).
        let g = Act::from_nchw_scaled(v, b, s.c, s.h, s.w, self.out_c, |i| -self.sigmas[i]);
        let gx = self.den.net.backward(self.tape, &g).to_nchw(s.c);
        Ok(v.chunks(n)
            .zip(gx.chunks(n))
            .zip(&self.sigmas)
            .flat_map(|((v, g), sg)| {
                let inv = 1.0 / (1.0 + sg * sg).sqrt();
                v.iter().zip(g).map(move |(v, g)| v + g * inv)
            })
            .collect())
    }
}

impl Denoiser for NativeEpsDenoiser {
    fn shape(&self) -> Shape {
        self.shape
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn round_sigma(&self, sigma: f64) -> f64 {
        self.table.round_sigma(sigma)
    }

    fn denoise(&self, x: &[f64], sigma: f64) -> Result<Vec<f64>, DenoiserError> {
        self.check_input(x, sigma)?;
        self.denoise_batch(x, &[sigma])
    }

    fn linearize<'a>(
        &'a self,
        x: &[f64],
        sigma: f64,
    ) -> Result<Box<dyn Linearization + 'a>, DenoiserError> {
        self.check_input(x, sigma)?;
        self.linearize_batch(x, &[sigma])
    }

    fn denoise_batch(&self, xs: &[f64], sigmas: &[f64]) -> Result<Vec<f64>, DenoiserError> {
        self.check_batch(xs, sigmas)?;
        let (x, ts) = self.prepare(xs, sigmas);
        let (eps, _) = self.net.forward(x, &ts, false);
        Ok(self.combine(xs, sigmas, &eps))
    }

    fn linearize_batch<'a>(
        &'a self,
        xs: &[f64],
        sigmas: &[f64],
    ) -> Result<Box<dyn Linearization + 'a>, DenoiserError> {
        self.check_batch(xs, sigmas)?;
        let (x, ts) = self.prepare(xs, sigmas);
        let (eps, tape) = self.net.forward(x, &ts, true);
        let tape = tape.ok_or_else(|| DenoiserError::Backend("the forward kept no tape".into()))?;
        Ok(Box::new(NativeLinearization {
            den: self,
            tape,
            sigmas: sigmas.to_vec(),
            out_c: eps.c,
            value: self.combine(xs, sigmas, &eps),
        }))
    }
}
