//! Any Python object as the prior. The protocol, on batches of numpy arrays `(B, C, H, W)`
//! with one noise level per image (`sigma`, a `float64` array of `B` values, in the VE
//! convention `x = x0 + sigma * eps` of docs/algorithms.md §1):
//!
//! - `denoise(x, sigma) -> D`, `D(x, sigma) ~= E[x0 | x]`;
//! - `vjp(x, sigma, v) -> (D, J^T v)`; or, better, `linearize(x, sigma) -> (D, f)` with
//!   `f(v) -> J^T v` the backward pass of that same forward (one forward instead of two);
//! - optionally `round_sigma(sigma: float) -> float` (the noise levels a discrete-time
//!   network was trained on) and `dtype` (`"float64"` to be called with `float64` arrays;
//!   `float32` otherwise).
//!
//! Each call first checks for signals (on the main thread: Ctrl-C becomes
//! `KeyboardInterrupt` at the next network evaluation). A Python exception inside the
//! object is kept and raised again, as it was, by the call that ran the solver; an output of the wrong shape or with a non-finite value is a
//! `ValueError` naming the method and what it returned.

use crate::arrays::{self, dims_str, Dtype};
use numpy::PyArray1;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use std::sync::Mutex;
use vmlmap_core::denoiser::ClosureLinearization;
use vmlmap_core::{Denoiser, DenoiserError, Linearization, Shape};

/// A Python denoiser behind the [`Denoiser`] trait.
pub struct PyDenoiser {
    obj: Py<PyAny>,
    shape: Shape,
    name: String,
    linearize: bool,
    round: bool,
    dtype: Dtype,
    /// The first Python exception raised inside, to raise again after the solve.
    error: Mutex<Option<PyErr>>,
}

impl PyDenoiser {
    /// Checks the protocol (`denoise`, and `linearize` or `vjp`) on `obj`, for images of
    /// `shape`.
    pub fn new(obj: &Bound<'_, PyAny>, shape: Shape) -> PyResult<Self> {
        let has = |m: &str| obj.hasattr(m).unwrap_or(false);
        if !has("denoise") || !(has("linearize") || has("vjp")) {
            return Err(PyTypeError::new_err(format!(
                "model={} is not a denoiser: expected a model name or path, a vmlmap.Model, or an object with denoise(x, sigma) and vjp(x, sigma, v) (or linearize(x, sigma)) methods",
                obj.repr()?
            )));
        }
        let dtype = match obj.getattr("dtype") {
            Ok(d) if d.str()?.to_string().contains("float64") => Dtype::F64,
            _ => Dtype::F32,
        };
        let name = match obj.getattr("name") {
            Ok(n) if n.is_instance_of::<pyo3::types::PyString>() => n.extract::<String>()?,
            _ => obj.get_type().name()?.to_string(),
        };
        Ok(Self {
            obj: obj.clone().unbind(),
            shape,
            name,
            linearize: has("linearize"),
            round: has("round_sigma"),
            dtype,
            error: Mutex::new(None),
        })
    }

    /// The exception raised inside, if any (taken: asked once).
    pub fn take_error(&self) -> Option<PyErr> {
        self.error.lock().ok().and_then(|mut e| e.take())
    }

    /// Keeps the first exception; the solver sees a backend error with its message.
    fn fail(&self, err: PyErr) -> DenoiserError {
        let msg = Python::attach(|py| {
            let kind = err
                .get_type(py)
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default();
            format!("the Python denoiser raised {kind}: {}", err.value(py))
        });
        if let Ok(mut slot) = self.error.lock() {
            if slot.is_none() {
                *slot = Some(err);
            }
        }
        DenoiserError::Backend(msg)
    }

    /// After a failure the solver is stopped at its next call.
    fn check_not_failed(&self) -> Result<(), DenoiserError> {
        if self.error.lock().map(|e| e.is_some()).unwrap_or(false) {
            return Err(DenoiserError::Backend("the Python denoiser failed".into()));
        }
        Ok(())
    }

    fn batch_dims(&self, images: usize) -> Vec<usize> {
        vec![images, self.shape.c, self.shape.h, self.shape.w]
    }

    /// `xs` as a `(B, C, H, W)` array and `sigmas` as a `(B,)` array.
    fn inputs<'py>(
        &self,
        py: Python<'py>,
        xs: &[f64],
        sigmas: &[f64],
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let x = arrays::write(py, xs.to_vec(), &self.batch_dims(sigmas.len()), self.dtype)?;
        let s = PyArray1::from_vec(py, sigmas.to_vec()).into_any();
        Ok((x, s))
    }

    /// An output of `method`: a float array of the batch's shape, every value finite.
    fn output(&self, obj: &Bound<'_, PyAny>, images: usize, method: &str) -> PyResult<Vec<f64>> {
        let want = self.batch_dims(images);
        let what = format!("the value {method} returned");
        let a = arrays::read(obj, &what)?;
        if a.dims != want {
            return Err(PyValueError::new_err(format!(
                "{method} returned an array of shape {}, expected {} (the input's shape)",
                dims_str(&a.dims),
                dims_str(&want)
            )));
        }
        Ok(a.data)
    }

    /// A `(D, something)` pair returned by `method`.
    fn pair<'py>(
        obj: &Bound<'py, PyAny>,
        method: &str,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        obj.extract::<(Bound<'py, PyAny>, Bound<'py, PyAny>)>()
            .map_err(|_| {
                PyValueError::new_err(format!(
                    "{method} must return a pair (D, ...), got {}",
                    obj.get_type()
                        .name()
                        .map(|n| n.to_string())
                        .unwrap_or_default()
                ))
            })
    }

    fn call_denoise(&self, xs: &[f64], sigmas: &[f64]) -> PyResult<Vec<f64>> {
        Python::attach(|py| {
            py.check_signals()?;
            let (x, s) = self.inputs(py, xs, sigmas)?;
            let d = self.obj.bind(py).call_method1("denoise", (x, s))?;
            self.output(&d, sigmas.len(), "denoise")
        })
    }

    /// `(D, f)` of `linearize`, or `D` of `denoise` (the VJP then calls `vjp`).
    fn call_linearize(
        &self,
        xs: &[f64],
        sigmas: &[f64],
    ) -> PyResult<(Vec<f64>, Option<Py<PyAny>>)> {
        if !self.linearize {
            return Ok((self.call_denoise(xs, sigmas)?, None));
        }
        Python::attach(|py| {
            py.check_signals()?;
            let (x, s) = self.inputs(py, xs, sigmas)?;
            let out = self.obj.bind(py).call_method1("linearize", (x, s))?;
            let (d, f) = Self::pair(&out, "linearize")?;
            Ok((
                self.output(&d, sigmas.len(), "linearize")?,
                Some(f.unbind()),
            ))
        })
    }

    fn call_vjp(
        &self,
        f: Option<Py<PyAny>>,
        xs: &[f64],
        sigmas: &[f64],
        v: &[f64],
    ) -> PyResult<Vec<f64>> {
        Python::attach(|py| {
            let images = sigmas.len();
            let cot = arrays::write(py, v.to_vec(), &self.batch_dims(images), self.dtype)?;
            match f {
                Some(f) => {
                    let g = f.bind(py).call1((cot,))?;
                    // The closure, and with it the graph it holds, goes now.
                    drop(f);
                    self.output(&g, images, "the vjp function of linearize")
                }
                None => {
                    let (x, s) = self.inputs(py, xs, sigmas)?;
                    let out = self.obj.bind(py).call_method1("vjp", (x, s, cot))?;
                    let (_, g) = Self::pair(&out, "vjp")?;
                    self.output(&g, images, "vjp")
                }
            }
        })
    }
}

impl Denoiser for PyDenoiser {
    fn shape(&self) -> Shape {
        self.shape
    }
    fn name(&self) -> String {
        self.name.clone()
    }
    fn round_sigma(&self, sigma: f64) -> f64 {
        if !self.round {
            return sigma;
        }
        let r = Python::attach(|py| -> PyResult<f64> {
            let v = self.obj.bind(py).call_method1("round_sigma", (sigma,))?;
            let r: f64 = v.extract()?;
            if !(r > 0.0 && r.is_finite()) {
                return Err(PyValueError::new_err(format!(
                    "round_sigma({sigma}) returned {r}: must be positive and finite"
                )));
            }
            Ok(r)
        });
        match r {
            Ok(r) => r,
            Err(e) => {
                // Kept and raised after the solve; the solver goes on with sigma itself
                // and stops at the next evaluation.
                self.fail(e);
                sigma
            }
        }
    }
    fn denoise(&self, x: &[f64], sigma: f64) -> Result<Vec<f64>, DenoiserError> {
        self.denoise_batch(x, &[sigma])
    }
    fn linearize<'a>(
        &'a self,
        x: &[f64],
        sigma: f64,
    ) -> Result<Box<dyn Linearization + 'a>, DenoiserError> {
        self.linearize_batch(x, &[sigma])
    }
    fn denoise_batch(&self, xs: &[f64], sigmas: &[f64]) -> Result<Vec<f64>, DenoiserError> {
        self.check_batch(xs, sigmas)?;
        self.check_not_failed()?;
        self.call_denoise(xs, sigmas).map_err(|e| self.fail(e))
    }
    fn linearize_batch<'a>(
        &'a self,
        xs: &[f64],
        sigmas: &[f64],
    ) -> Result<Box<dyn Linearization + 'a>, DenoiserError> {
        self.check_batch(xs, sigmas)?;
        self.check_not_failed()?;
        let (d, f) = self.call_linearize(xs, sigmas).map_err(|e| self.fail(e))?;
        let xs = xs.to_vec();
        let sigmas = sigmas.to_vec();
        Ok(Box::new(ClosureLinearization::new(
            d,
            move |v: &[f64]| self.call_vjp(f, &xs, &sigmas, v).map_err(|e| self.fail(e)),
        )))
    }
}
