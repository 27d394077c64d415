//! `vmlmap.Model`: a network loaded by the library (the embedded prior, a checkpoint, a
//! preset) on the native CPU engine, with `denoise` and `vjp` on numpy batches.

use crate::arrays::{self, dims_str, Array};
use crate::errors::{denoiser_to_py, IntoPy};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::Arc;
use vmlmap_core::{Denoiser, DenoiserError, Linearization, Shape};
use vmlmap_models::registry::ModelInfo;
use vmlmap_restore::Prior;

/// A shared denoiser as an owned one (a `Model` used as the prior of a restore).
pub struct Shared(pub Arc<dyn Denoiser>);

impl Denoiser for Shared {
    fn shape(&self) -> Shape {
        self.0.shape()
    }
    fn name(&self) -> String {
        self.0.name()
    }
    fn round_sigma(&self, sigma: f64) -> f64 {
        self.0.round_sigma(sigma)
    }
    fn denoise(&self, x: &[f64], sigma: f64) -> Result<Vec<f64>, DenoiserError> {
        self.0.denoise(x, sigma)
    }
    fn linearize<'a>(
        &'a self,
        x: &[f64],
        sigma: f64,
    ) -> Result<Box<dyn Linearization + 'a>, DenoiserError> {
        self.0.linearize(x, sigma)
    }
    fn denoise_batch(&self, xs: &[f64], sigmas: &[f64]) -> Result<Vec<f64>, DenoiserError> {
        self.0.denoise_batch(xs, sigmas)
    }
    fn linearize_batch<'a>(
        &'a self,
        xs: &[f64],
        sigmas: &[f64],
    ) -> Result<Box<dyn Linearization + 'a>, DenoiserError> {
        self.0.linearize_batch(xs, sigmas)
    }
}

/// A diffusion prior loaded by vmlmap: `D(x, sigma)` and its vector-Jacobian product on
/// the native CPU engine. Load with `vmlmap.load_model`.
#[pyclass(module = "vmlmap", name = "Model", frozen)]
pub struct Model {
    pub denoiser: Arc<dyn Denoiser>,
    pub info: ModelInfo,
    pub spec: String,
}

/// Images `(C, H, W)` or `(B, C, H, W)` of `shape`, and their per-image noise levels.
fn batch_of(
    x: &Array,
    sigma: &Bound<'_, PyAny>,
    shape: Shape,
) -> PyResult<(usize, bool, Vec<f64>)> {
    let image = [shape.c, shape.h, shape.w];
    let (b, single) = match x.dims.as_slice() {
        d if d == image => (1, true),
        [b, rest @ ..] if rest == image => (*b, false),
        d => {
            return Err(PyValueError::new_err(format!(
                "x has shape {}; this model takes (C, H, W) = {} or (B, C, H, W) batches of it",
                dims_str(d),
                dims_str(&image)
            )))
        }
    };
    let sigmas: Vec<f64> = if let Ok(s) = sigma.extract::<f64>() {
        vec![s; b]
    } else {
        let a = arrays::read(sigma, "sigma")?;
        if a.data.len() != b {
            return Err(PyValueError::new_err(format!(
                "sigma has {} values for a batch of {b} images",
                a.data.len()
            )));
        }
        a.data
    };
    if let Some(s) = sigmas.iter().find(|s| !(**s > 0.0 && s.is_finite())) {
        return Err(PyValueError::new_err(format!(
            "invalid sigma {s}: must be positive and finite"
        )));
    }
    Ok((b, single, sigmas))
}

#[pymethods]
impl Model {
    /// `D(x, sigma)`: `x` of shape `(C, H, W)` or `(B, C, H, W)` in the VE convention
    /// (`x = x0 + sigma * eps`, images in [-1, 1]); `sigma` a float or one per image.
    /// Returns an array of `x`'s shape and dtype.
    fn denoise<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        sigma: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let a = arrays::read(x, "x")?;
        let (_, _, sigmas) = batch_of(&a, sigma, self.denoiser.shape())?;
        let den = self.denoiser.clone();
        let data = a.data;
        let d = py
            .detach(move || den.denoise_batch(&data, &sigmas))
            .map_err(denoiser_to_py)?;
        arrays::write(py, d, &a.dims, a.dtype)
    }

    /// `(D(x, sigma), J(x)^T v)`: one forward and one backward pass; `v` of `x`'s shape.
    fn vjp<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        sigma: &Bound<'py, PyAny>,
        v: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let a = arrays::read(x, "x")?;
        let cot = arrays::read(v, "v")?;
        if cot.dims != a.dims {
            return Err(PyValueError::new_err(format!(
                "v has shape {}, x {}: they must match",
                dims_str(&cot.dims),
                dims_str(&a.dims)
            )));
        }
        let (_, _, sigmas) = batch_of(&a, sigma, self.denoiser.shape())?;
        let den = self.denoiser.clone();
        let data = a.data;
        let (d, g) = py
            .detach(move || -> Result<_, DenoiserError> {
                let lin = den.linearize_batch(&data, &sigmas)?;
                let d = lin.output().to_vec();
                Ok((d, lin.vjp(&cot.data)?))
            })
            .map_err(denoiser_to_py)?;
        Ok((
            arrays::write(py, d, &a.dims, a.dtype)?,
            arrays::write(py, g, &a.dims, a.dtype)?,
        ))
    }

    /// The noise level of the network's discrete grid nearest to `sigma`.
    fn round_sigma(&self, sigma: f64) -> f64 {
        self.denoiser.round_sigma(sigma)
    }

    /// `(C, H, W)` of the images it denoises.
    #[getter]
    fn shape(&self) -> (usize, usize, usize) {
        let s = self.denoiser.shape();
        (s.c, s.h, s.w)
    }

    #[getter]
    fn name(&self) -> String {
        self.denoiser.name()
    }

    /// What was loaded: source, architecture, format, parameter count, image shape.
    #[getter]
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("source", &self.info.source)?;
        d.set_item("architecture", &self.info.architecture)?;
        d.set_item("preset", &self.info.preset)?;
        d.set_item("format", &self.info.format)?;
        d.set_item("parameters", self.info.parameters)?;
        d.set_item("image", self.info.image.to_vec())?;
        d.set_item("learn_sigma", self.info.learn_sigma)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let s = self.denoiser.shape();
        format!(
            "vmlmap.Model({:?}, shape=({}, {}, {}), {} parameters)",
            self.spec, s.c, s.h, s.w, self.info.parameters
        )
    }
}

/// Loads a model by name or path (`"default"`, the embedded Fashion-MNIST prior; a
/// guided-diffusion `.pt`/`.safetensors` checkpoint with its `NAME.json` beside it; a
/// diffusers folder; a preset) on the CPU. `size` sets the image size of a fully
/// convolutional guided-diffusion network.
#[pyfunction]
#[pyo3(signature = (path_or_name = "default", size = None))]
pub fn load_model(py: Python<'_>, path_or_name: &str, size: Option<usize>) -> PyResult<Model> {
    let spec = path_or_name.to_string();
    let prior = py
        .detach(|| {
            let engine = vmlmap_models::registry::Engine::from_env()?;
            Prior::load(&spec, &burn::tensor::Device::flex(), engine, size)
        })
        .py_err()?;
    let info = prior
        .info
        .clone()
        .ok_or_else(|| PyValueError::new_err("no model information"))?;
    Ok(Model {
        denoiser: Arc::from(prior.denoiser),
        info,
        spec,
    })
}
