//! `vmlmap.restore`: measurements `y` (one, or a batch) restored by a solver with a prior:
//! the library's restore path (`vmlmap_restore`), run off the interpreter's thread with
//! the GIL released, stopped by Ctrl-C.

use crate::arrays::{self, dims_str};
use crate::errors::{to_py, IntoPy};
use crate::interrupt;
use crate::model::{Model, Shared};
use crate::operator::{output_dims, shape_of, split};
use crate::options::option_strings;
use crate::py_denoiser::PyDenoiser;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use vmlmap_core::{Denoiser, Shape};
use vmlmap_operators::TaskSpec;
use vmlmap_restore::{Cancel, Measurement, Prior, RestoreError, SolverSpec};
use vmlmap_solvers::{Observer, SolverOptions};

/// Where the prior comes from.
enum Choice {
    /// A name or path the library loads.
    Named(String),
    /// A named network, loaded.
    Loaded(Box<Prior>),
    /// A `vmlmap.Model`.
    Native(Arc<dyn Denoiser>),
    /// Any object with the denoiser protocol.
    Python(Py<PyAny>),
}

impl Choice {
    fn of(model: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let Some(m) = model else {
            return Ok(Self::Named("default".into()));
        };
        if m.is_instance_of::<PyString>() {
            return Ok(Self::Named(m.extract()?));
        }
        if let Ok(os) = m.extract::<std::path::PathBuf>() {
            if !m.hasattr("denoise")? {
                return Ok(Self::Named(os.to_string_lossy().into_owned()));
            }
        }
        if let Ok(native) = m.cast::<Model>() {
            return Ok(Self::Native(native.get().denoiser.clone()));
        }
        Ok(Self::Python(m.clone().unbind()))
    }

    /// The image shape the prior works on, where it says.
    fn shape(&self, py: Python<'_>) -> PyResult<Option<Shape>> {
        Ok(match self {
            Self::Named(name) => Some(Prior::model_shape(name).py_err()?),
            Self::Loaded(p) => Some(p.shape()),
            Self::Native(d) => Some(d.shape()),
            Self::Python(obj) => match obj.bind(py).getattr("shape") {
                Ok(s) => Some(shape_of(&s.extract::<Vec<usize>>().map_err(|_| {
                    PyTypeError::new_err("the denoiser's shape attribute must be (C, H, W)")
                })?)?),
                Err(_) => None,
            },
        })
    }
}

/// The network `name` on the CPU, on the engine `VMLMAP_ENGINE` names.
fn load_named(py: Python<'_>, name: &str) -> PyResult<Prior> {
    py.detach(|| {
        let engine = vmlmap_models::registry::Engine::from_env()?;
        Prior::load(name, &burn::tensor::Device::flex(), engine, None)
    })
    .py_err()
}

/// A Python callable told of every reverse step: `callback(step, total, sigma)`. An
/// exception in it stops the run and is raised again.
struct Callback {
    f: Py<PyAny>,
    error: Arc<Mutex<Option<PyErr>>>,
    cancel: Cancel,
}

impl Observer for Callback {
    fn on_step(&mut self, step: usize, total: usize, sigma: f64) -> ControlFlow<()> {
        let r = Python::attach(|py| self.f.bind(py).call1((step, total, sigma)).map(|_| ()));
        if let Err(e) = r {
            if let Ok(mut slot) = self.error.lock() {
                slot.get_or_insert(e);
            }
            self.cancel.cancel();
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

/// `meta[key]` when `meta` has it.
fn from_meta<'py, T: FromPyObjectOwned<'py>>(
    meta: Option<&Bound<'py, PyDict>>,
    key: &str,
) -> PyResult<Option<T>> {
    match meta.map(|m| m.get_item(key)).transpose()?.flatten() {
        Some(v) if !v.is_none() => {
            Ok(Some(v.extract().map_err(|_| {
                PyValueError::new_err(format!("meta[{key:?}] has the wrong type"))
            })?))
        }
        _ => Ok(None),
    }
}

/// An argument or its `meta` entry; both given and different is an error.
fn agree<T: PartialEq + std::fmt::Debug>(
    arg: Option<T>,
    meta: Option<T>,
    name: &str,
) -> PyResult<Option<T>> {
    match (arg, meta) {
        (Some(a), Some(m)) if a != m => Err(PyValueError::new_err(format!(
            "{name}={a:?} contradicts meta[{name:?}]={m:?}"
        ))),
        (a, m) => Ok(a.or(m)),
    }
}

/// Restores measurements `y` of `task`. See the Python docstring in `vmlmap/__init__.py`.
#[pyfunction]
#[pyo3(signature = (y, task = None, *, solver = "vml-map", model = None, sigma_y = None, seed = 0, steps = None, shape = None, task_opts = None, meta = None, batch = None, callback = None, **solver_opts))]
#[allow(clippy::too_many_arguments)]
pub fn restore<'py>(
    py: Python<'py>,
    y: &Bound<'py, PyAny>,
    task: Option<String>,
    solver: &str,
    model: Option<&Bound<'py, PyAny>>,
    sigma_y: Option<f64>,
    seed: u64,
    steps: Option<usize>,
    shape: Option<Vec<usize>>,
    task_opts: Option<&Bound<'py, PyDict>>,
    meta: Option<&Bound<'py, PyDict>>,
    batch: Option<usize>,
    callback: Option<Py<PyAny>>,
    solver_opts: Option<&Bound<'py, PyDict>>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyDict>)> {
    let a = arrays::read(y, "y")?;
    let task = agree(task, from_meta(meta, "task")?, "task")?.ok_or_else(|| {
        PyValueError::new_err("restore needs task= (see vmlmap.tasks()) or meta= from degrade")
    })?;
    let sigma_y = agree(sigma_y, from_meta(meta, "sigma_y")?, "sigma_y")?.unwrap_or(1e-9);
    let meta_shape: Option<Vec<usize>> = from_meta(meta, "image_shape")?;
    let task_opts = match task_opts {
        Some(d) => option_strings(Some(d))?,
        None => match meta.map(|m| m.get_item("options")).transpose()?.flatten() {
            Some(o) => option_strings(Some(o.cast::<PyDict>()?))?,
            None => Vec::new(),
        },
    };
    if batch == Some(0) {
        return Err(PyValueError::new_err("batch must be at least 1"));
    }
    let spec = SolverSpec::new(
        solver,
        SolverOptions {
            steps,
            extra: option_strings(solver_opts)?,
            ..Default::default()
        },
    );
    let built = spec.build().py_err()?;
    // A named network that the solver uses is read once, here: its shape is the default.
    let choice = match Choice::of(model)? {
        Choice::Named(name) if built.uses_prior() => {
            Choice::Loaded(Box::new(load_named(py, &name)?))
        }
        other => other,
    };
    let shape = match agree(shape, meta_shape, "shape")? {
        Some(s) => shape_of(&s)?,
        None => choice.shape(py)?.ok_or_else(|| {
            PyValueError::new_err(
                "the image shape is unknown: give shape=(C, H, W) (the denoiser has no shape attribute)",
            )
        })?,
    };
    let task_spec = TaskSpec::parse(&task, &task_opts)
        .and_then(|t| t.resolved(shape))
        .py_err()?;
    let op = task_spec.build(shape).py_err()?;
    let image = vec![shape.c, shape.h, shape.w];
    let (measurements, single) = measurements(&a, &task_spec, op.as_ref(), shape, sigma_y)?;
    let items = measurements.len();
    let (prior, python_prior) = prior_of(py, built.uses_prior(), choice, shape)?;
    let batch = batch.unwrap_or_else(|| prior.default_batch()).min(items);
    let settings = format!("{built:?}");
    let solver_name = built.name();
    let model_name = prior.model.clone();
    let cancel = Cancel::new();
    let callback_error = Arc::new(Mutex::new(None));
    let mut observer: Box<dyn Observer + Send> = match callback {
        Some(f) => Box::new(Callback {
            f,
            error: callback_error.clone(),
            cancel: cancel.clone(),
        }),
        None => Box::new(vmlmap_solvers::Silent),
    };
    let theirs = cancel.clone();
    let work = move || {
        vmlmap_restore::restore(
            &measurements,
            built.as_ref(),
            prior.denoiser.as_ref(),
            seed,
            batch,
            &theirs,
            observer.as_mut(),
        )
    };
    // A Python prior runs on this (the caller's) thread: PyTorch called from another
    // thread was 40% slower per pass here (its OpenMP team competes with the idle, spinning
    // one of the main thread), and Ctrl-C is seen at its next call (it checks signals).
    let result = if python_prior.is_some() {
        py.detach(work)
    } else {
        interrupt::run(py, &cancel, work)?
    };
    if let Some(e) = python_prior.as_ref().and_then(|d| d.take_error()) {
        return Err(e);
    }
    if let Some(e) = callback_error.lock().ok().and_then(|mut e| e.take()) {
        return Err(e);
    }
    let restored = result.map_err(|e: RestoreError| to_py(e))?;
    let info = PyDict::new(py);
    info.set_item("solver", solver_name)?;
    info.set_item("settings", settings)?;
    info.set_item("model", model_name)?;
    info.set_item("task", &task_spec.name)?;
    info.set_item("options", task_spec.options.clone())?;
    info.set_item("sigma_y", sigma_y)?;
    info.set_item("seed", seed)?;
    info.set_item("batch", batch)?;
    record_runs(&info, &restored, single)?;
    let x: Vec<f64> = restored.into_iter().flat_map(|r| r.x).collect();
    let mut dims = if single { vec![] } else { vec![items] };
    dims.extend_from_slice(&image);
    Ok((arrays::write(py, x, &dims, a.dtype)?, info))
}

/// The measurements `y` holds: one (`single`) or a batch `(B, ...)`; for a mask, `y` may
/// also be the full image(s), whose observed values are taken.
fn measurements(
    a: &arrays::Array,
    task_spec: &TaskSpec,
    op: &dyn vmlmap_operators::LinearOperator,
    shape: Shape,
    sigma_y: f64,
) -> PyResult<(Vec<Measurement>, bool)> {
    let out_item = output_dims(op);
    let image = vec![shape.c, shape.h, shape.w];
    let mask = task_spec.name.starts_with("inpaint");
    let wrong_y = || {
        PyValueError::new_err(format!(
            "y has shape {}; a {} measurement of {} images is {}{} or a batch (B, ...) of it",
            dims_str(&a.dims),
            task_spec.name,
            dims_str(&image),
            dims_str(&out_item),
            if mask {
                format!(
                    " (its observed values), the full image {}",
                    dims_str(&image)
                )
            } else {
                String::new()
            }
        ))
    };
    // y is one measurement or a batch of them; for a mask, also the full image(s).
    let (items, single, full) = match split(&a.dims, &out_item, "y", &task_spec.name) {
        Ok((b, s)) => (b, s, false),
        Err(_) if mask => match split(&a.dims, &image, "y", &task_spec.name) {
            Ok((b, s)) => (b, s, true),
            Err(_) => return Err(wrong_y()),
        },
        Err(_) => return Err(wrong_y()),
    };
    let per = if full { shape.numel() } else { op.output_len() };
    let mut out = Vec::with_capacity(items);
    for (b, v) in a.data.chunks(per).take(items).enumerate() {
        let yv = if full { op.apply(v) } else { v.to_vec() };
        out.push(Measurement::new(format!("y[{b}]"), task_spec, shape, yv, sigma_y).py_err()?);
    }
    Ok((out, single))
}

/// The prior the solver runs with (none for a solver that uses none), and the Python
/// denoiser behind it when it is one (its errors are raised again after the run).
fn prior_of(
    py: Python<'_>,
    uses_prior: bool,
    choice: Choice,
    shape: Shape,
) -> PyResult<(Prior, Option<Arc<PyDenoiser>>)> {
    let mut python_prior: Option<Arc<PyDenoiser>> = None;
    let prior = if !uses_prior {
        Prior::none(shape)
    } else {
        match choice {
            Choice::Loaded(p) => py.detach(|| p.fit(shape)).py_err()?,
            Choice::Named(name) => {
                let p = load_named(py, &name)?;
                py.detach(|| p.fit(shape)).py_err()?
            }
            Choice::Native(d) => Prior::from_denoiser(Box::new(Shared(d)))
                .fit(shape)
                .py_err()?,
            Choice::Python(obj) => {
                let den = Arc::new(PyDenoiser::new(obj.bind(py), shape)?);
                python_prior = Some(den.clone());
                Prior::from_denoiser(Box::new(Shared(den)))
            }
        }
    };
    Ok((prior, python_prior))
}

/// NFE, VJP, seconds and residuals into `info` (lists for a batch).
fn record_runs(
    info: &Bound<'_, PyDict>,
    restored: &[vmlmap_restore::Restoration],
    single: bool,
) -> PyResult<()> {
    info.set_item("nfe", restored.first().map(|r| r.nfe).unwrap_or(0))?;
    info.set_item("vjp", restored.first().map(|r| r.vjp).unwrap_or(0))?;
    let seconds: Vec<f64> = restored.iter().map(|r| r.seconds).collect();
    let residual: Vec<f64> = restored.iter().map(|r| r.residual).collect();
    if single {
        info.set_item("seconds", seconds[0])?;
        info.set_item("residual", residual[0])?;
    } else {
        info.set_item("seconds", seconds.iter().sum::<f64>())?;
        info.set_item("seconds_per_image", seconds)?;
        info.set_item("residual", residual)?;
    }
    Ok(())
}
