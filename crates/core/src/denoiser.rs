//! The denoiser abstraction shared by every prior: `D(x, sigma) ~= E[x0 | x_sigma = x]` and
//! its vector-Jacobian product `J(x)^T v` (docs/algorithms.md §1–2).
//!
//! VML-MAP (arXiv 2512.10524, §3 of docs/algorithms.md) needs `D` first, then builds the
//! cotangent `g` from `D`, then one VJP: [`Denoiser::linearize`] returns a
//! [`Linearization`] holding `D` whose `vjp` is the backward pass of that same forward.
//! Analytic priors implement it in closed form; neural networks through burn autodiff.
//!
//! Batches: [`Denoiser::denoise_batch`] and [`Denoiser::linearize_batch`] evaluate several
//! images, each at its own noise level, stored back to back in one slice. A network does
//! this in one call (one batched forward, one batched backward); the default
//! implementations loop over the images, which is what closed-form priors need. A batch's
//! linearization is one [`Linearization`] over the concatenated images: its VJP takes the
//! concatenated cotangents. The images of a batch are independent: image `b`'s output
//! depends on image `b`'s input only.

use crate::Shape;

/// A failure inside a denoiser (a network that could not run, a bad input length).
#[derive(Debug, thiserror::Error)]
pub enum DenoiserError {
    #[error("denoiser expects {expected} values ({shape}), got {found}")]
    InputLength {
        shape: Shape,
        expected: usize,
        found: usize,
    },
    #[error("invalid noise level sigma = {0}: must be positive and finite")]
    Sigma(f64),
    #[error("batch of {images} noise levels given for {found} values ({per_image} per image)")]
    BatchLength {
        images: usize,
        per_image: usize,
        found: usize,
    },
    #[error("cotangent has {found} values, the denoiser output {expected}")]
    CotangentLength { expected: usize, found: usize },
    #[error("denoiser failed: {0}")]
    Backend(String),
    #[error("no prior was loaded for {0}: this solver must not evaluate one")]
    NoPrior(Shape),
}

/// The stand-in for a prior where a solver uses none (`pinv`, `tikhonov`): it has the
/// images' shape, and any evaluation is an error. It lets those solvers run without
/// loading (or requiring) a model.
#[derive(Clone, Copy, Debug)]
pub struct NoPrior(pub Shape);

impl Denoiser for NoPrior {
    fn shape(&self) -> Shape {
        self.0
    }
    fn name(&self) -> String {
        "none".into()
    }
    fn denoise(&self, _x: &[f64], _sigma: f64) -> Result<Vec<f64>, DenoiserError> {
        Err(DenoiserError::NoPrior(self.0))
    }
    fn linearize<'a>(
        &'a self,
        _x: &[f64],
        _sigma: f64,
    ) -> Result<Box<dyn Linearization + 'a>, DenoiserError> {
        Err(DenoiserError::NoPrior(self.0))
    }
}

/// The result of one forward pass kept for one backward pass.
pub trait Linearization {
    /// `D(x, sigma)`.
    fn output(&self) -> &[f64];
    /// `J(x)^T v` for the `x` and `sigma` of the forward.
    fn vjp(self: Box<Self>, v: &[f64]) -> Result<Vec<f64>, DenoiserError>;
}

/// A (possibly learned) MMSE denoiser in the variance-exploding parametrisation.
pub trait Denoiser: Send + Sync {
    /// Shape of the images it denoises.
    fn shape(&self) -> Shape;

    /// A short name for reports.
    fn name(&self) -> String;

    /// `D(x, sigma)`.
    fn denoise(&self, x: &[f64], sigma: f64) -> Result<Vec<f64>, DenoiserError>;

    /// `D(x, sigma)` with what is needed for one `J^T v`.
    fn linearize<'a>(
        &'a self,
        x: &[f64],
        sigma: f64,
    ) -> Result<Box<dyn Linearization + 'a>, DenoiserError>;

    /// `D(x_b, sigma_b)` for each image `b` of a batch: `xs` holds `sigmas.len()` images
    /// back to back. The default evaluates them one at a time.
    fn denoise_batch(&self, xs: &[f64], sigmas: &[f64]) -> Result<Vec<f64>, DenoiserError> {
        let n = self.check_batch(xs, sigmas)?;
        let mut out = Vec::with_capacity(xs.len());
        for (x, &s) in xs.chunks(n).zip(sigmas) {
            out.extend(self.denoise(x, s)?);
        }
        Ok(out)
    }

    /// [`Denoiser::linearize`] for a batch (layout as in [`Denoiser::denoise_batch`]): the
    /// output is the concatenated `D(x_b, sigma_b)` and the VJP takes the concatenated
    /// cotangents. The default linearizes the images one at a time.
    fn linearize_batch<'a>(
        &'a self,
        xs: &[f64],
        sigmas: &[f64],
    ) -> Result<Box<dyn Linearization + 'a>, DenoiserError> {
        let n = self.check_batch(xs, sigmas)?;
        let parts = xs
            .chunks(n)
            .zip(sigmas)
            .map(|(x, &s)| self.linearize(x, s))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Box::new(StackedLinearization::new(parts)))
    }

    /// Rounds a sampler's sigma to the noise levels the denoiser was trained on. Analytic
    /// priors are continuous in sigma and return it unchanged.
    fn round_sigma(&self, sigma: f64) -> f64 {
        sigma
    }

    /// `J(x)^T v` alone (one forward and one backward).
    fn vjp(&self, x: &[f64], sigma: f64, v: &[f64]) -> Result<Vec<f64>, DenoiserError> {
        self.linearize(x, sigma)?.vjp(v)
    }

    /// Validates an input against [`Denoiser::shape`] and `sigma`.
    fn check_input(&self, x: &[f64], sigma: f64) -> Result<(), DenoiserError> {
        let shape = self.shape();
        if x.len() != shape.numel() {
            return Err(DenoiserError::InputLength {
                shape,
                expected: shape.numel(),
                found: x.len(),
            });
        }
        if !(sigma > 0.0 && sigma.is_finite()) {
            return Err(DenoiserError::Sigma(sigma));
        }
        Ok(())
    }

    /// Validates a batch (`sigmas.len()` images back to back in `xs`, every sigma positive
    /// and finite); returns the number of values per image.
    fn check_batch(&self, xs: &[f64], sigmas: &[f64]) -> Result<usize, DenoiserError> {
        let shape = self.shape();
        let n = shape.numel();
        if sigmas.is_empty() || xs.len() != n * sigmas.len() {
            return Err(DenoiserError::BatchLength {
                images: sigmas.len(),
                per_image: n,
                found: xs.len(),
            });
        }
        if let Some(&s) = sigmas.iter().find(|s| !(**s > 0.0 && s.is_finite())) {
            return Err(DenoiserError::Sigma(s));
        }
        Ok(n)
    }
}

/// The linearizations of several images as one: outputs and cotangents concatenated.
pub struct StackedLinearization<'a> {
    parts: Vec<Box<dyn Linearization + 'a>>,
    output: Vec<f64>,
}

impl<'a> StackedLinearization<'a> {
    pub fn new(parts: Vec<Box<dyn Linearization + 'a>>) -> Self {
        let output = parts
            .iter()
            .flat_map(|p| p.output().iter().copied())
            .collect();
        Self { parts, output }
    }
}

impl Linearization for StackedLinearization<'_> {
    fn output(&self) -> &[f64] {
        &self.output
    }
    fn vjp(self: Box<Self>, v: &[f64]) -> Result<Vec<f64>, DenoiserError> {
        check_cotangent(self.output.len(), v.len())?;
        let mut out = Vec::with_capacity(v.len());
        let mut start = 0;
        for p in self.parts {
            let len = p.output().len();
            out.extend(p.vjp(&v[start..start + len])?);
            start += len;
        }
        Ok(out)
    }
}

/// A one-shot `v -> J^T v`.
type VjpFn<'a> = Box<dyn FnOnce(&[f64]) -> Result<Vec<f64>, DenoiserError> + 'a>;

/// A linearization whose VJP is a closure over precomputed quantities.
pub struct ClosureLinearization<'a> {
    output: Vec<f64>,
    vjp: VjpFn<'a>,
}

impl<'a> ClosureLinearization<'a> {
    pub fn new(
        output: Vec<f64>,
        vjp: impl FnOnce(&[f64]) -> Result<Vec<f64>, DenoiserError> + 'a,
    ) -> Self {
        Self {
            output,
            vjp: Box::new(vjp),
        }
    }
}

impl Linearization for ClosureLinearization<'_> {
    fn output(&self) -> &[f64] {
        &self.output
    }
    fn vjp(self: Box<Self>, v: &[f64]) -> Result<Vec<f64>, DenoiserError> {
        check_cotangent(self.output.len(), v.len())?;
        (self.vjp)(v)
    }
}

/// A cotangent must have as many values as the denoiser's output.
pub fn check_cotangent(expected: usize, found: usize) -> Result<(), DenoiserError> {
    if expected != found {
        return Err(DenoiserError::CotangentLength { expected, found });
    }
    Ok(())
}

/// Central finite-difference check of a denoiser's VJP: returns the relative error between
/// `<J^T v, u>` and `(<v, D(x + h u)> - <v, D(x - h u)>) / 2h`.
pub fn vjp_finite_difference_error(
    d: &dyn Denoiser,
    x: &[f64],
    sigma: f64,
    v: &[f64],
    u: &[f64],
    h: f64,
) -> Result<f64, DenoiserError> {
    use crate::vector::{add, dot, scale, sub};
    let jtv = d.vjp(x, sigma, v)?;
    let analytic = dot(&jtv, u);
    let plus = d.denoise(&add(x, &scale(u, h)), sigma)?;
    let minus = d.denoise(&sub(x, &scale(u, h)), sigma)?;
    let numeric = (dot(v, &plus) - dot(v, &minus)) / (2.0 * h);
    Ok((analytic - numeric).abs() / numeric.abs().max(analytic.abs()).max(1e-300))
}
