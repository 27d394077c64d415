//! What the library offers, as Python data: the tasks with their options, the solvers
//! with their documented options, `validate`, checkpoints as numpy state dicts (for loading a vmlmap
//! model into PyTorch) and the DDPM noise-level grid that `vmlmap.torch` shares with the
//! native engine (docs/algorithms.md §2).

use crate::interrupt;
use numpy::{PyArray1, PyArrayMethods};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use vmlmap_bench::{run_validation, ValidateOptions};
use vmlmap_core::schedule::VpTable;
use vmlmap_models::checkpoint::Checkpoint;
use vmlmap_restore::Cancel;
use vmlmap_solvers::SOLVERS;

/// Every task: `{"name", "options": {key: description of the default}}`.
#[pyfunction]
pub fn tasks(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let list = PyList::empty(py);
    for name in vmlmap_operators::TASK_NAMES {
        let d = PyDict::new(py);
        d.set_item("name", *name)?;
        let opts = PyDict::new(py);
        for (k, doc) in vmlmap_operators::task::task_options(name) {
            opts.set_item(*k, *doc)?;
        }
        d.set_item("options", opts)?;
        list.append(d)?;
    }
    Ok(list)
}

/// Every solver, from its declaration: `{"name", "summary", "computes", "uses_prior",
/// "options": {key: {"kind", "default", "doc"}}}`.
#[pyfunction]
pub fn solvers(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let list = PyList::empty(py);
    for decl in SOLVERS {
        let d = PyDict::new(py);
        d.set_item("name", decl.name)?;
        d.set_item("summary", decl.summary)?;
        d.set_item("computes", decl.computes.describe())?;
        d.set_item("uses_prior", decl.uses_prior)?;
        let opts = PyDict::new(py);
        for o in decl.options() {
            let od = PyDict::new(py);
            od.set_item("kind", &o.kind)?;
            od.set_item("default", &o.default)?;
            od.set_item("doc", &o.doc)?;
            opts.set_item(&o.key, od)?;
        }
        d.set_item("options", opts)?;
        list.append(d)?;
    }
    Ok(list)
}

/// Runs `vmlmap validate` (every solver and operator against exact answers on analytic
/// priors); returns `{"checks", "passed", "failed", "records": [...]}`.
#[pyfunction]
#[pyo3(signature = (quick = true))]
pub fn validate(py: Python<'_>, quick: bool) -> PyResult<Bound<'_, PyDict>> {
    let opts = if quick {
        ValidateOptions::quick()
    } else {
        ValidateOptions::default()
    };
    let records = interrupt::run(py, &Cancel::new(), move || {
        run_validation(&opts, &|_, _| {})
    })?;
    let passed = records.iter().filter(|r| r.pass).count();
    let json = serde_json::to_string(&records)
        .map_err(|e| PyValueError::new_err(format!("cannot serialise the records: {e}")))?;
    let d = PyDict::new(py);
    d.set_item("checks", records.len())?;
    d.set_item("passed", passed)?;
    d.set_item("failed", records.len() - passed)?;
    d.set_item(
        "records",
        py.import("json")?.call_method1("loads", (json,))?,
    )?;
    Ok(d)
}

/// A checkpoint's tensors as `{name: float32 array}`.
fn state_dict<'py>(py: Python<'py>, ck: Checkpoint) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (name, t) in ck.tensors {
        let a = PyArray1::from_vec(py, t.data).reshape(t.shape)?;
        d.set_item(name, a)?;
    }
    Ok(d)
}

/// The embedded default prior: `(state_dict, config)`, the guided-diffusion `UNetModel`
/// arguments and its EMA weights (SHA-256 checked), to load it into PyTorch.
#[pyfunction]
pub fn default_weights(py: Python<'_>) -> PyResult<(Bound<'_, PyDict>, Bound<'_, PyAny>)> {
    use vmlmap_models::default_model::{sha256_hex, CONFIG, SHA256, WEIGHTS};
    if sha256_hex(WEIGHTS) != SHA256.trim() {
        return Err(PyValueError::new_err(
            "the embedded weights do not match their recorded SHA-256",
        ));
    }
    let ck = Checkpoint::from_safetensors_bytes(
        std::path::Path::new("<embedded fashion32.safetensors>"),
        WEIGHTS,
    )
    .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let config = py.import("json")?.call_method1("loads", (CONFIG,))?;
    Ok((state_dict(py, ck)?, config))
}

/// The tensors of a `.pt`/`.pth`/`.bin` (PyTorch zip pickle, read without executing it)
/// or `.safetensors` file, as float32 arrays.
#[pyfunction]
pub fn read_checkpoint(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Bound<'_, PyDict>> {
    let ck = Checkpoint::open(&path).map_err(|e| PyOSError::new_err(e.to_string()))?;
    state_dict(py, ck)
}

/// For noise levels `sigma` (VE), the steps `t` of the DDPM table (T = 1000, linear betas
/// 1e-4 .. 0.02) whose `sigma_t` is nearest in log space: the grid the native engine uses.
#[pyfunction]
pub fn ddpm_timesteps(sigmas: Vec<f64>) -> Vec<usize> {
    let table = VpTable::ddpm_linear();
    sigmas.iter().map(|&s| table.nearest_t(s)).collect()
}

/// `sigma` rounded to the DDPM table's grid.
#[pyfunction]
pub fn ddpm_round_sigma(sigma: f64) -> f64 {
    VpTable::ddpm_linear().round_sigma(sigma)
}

/// An image file (PNG, JPEG) as a `float32` array `(C, H, W)` in `[-1, 1]`; with `shape`,
/// resized (and converted to its channels) to it.
#[pyfunction]
#[pyo3(signature = (path, shape = None))]
pub fn read_image(
    py: Python<'_>,
    path: std::path::PathBuf,
    shape: Option<Vec<usize>>,
) -> PyResult<Bound<'_, PyAny>> {
    let file = path.to_string_lossy().into_owned();
    let want = shape.map(|s| crate::operator::shape_of(&s)).transpose()?;
    let (v, s) = vmlmap_io::read_image(&file, want, want.is_some())
        .map_err(|e| PyOSError::new_err(e.to_string()))?;
    crate::arrays::write(py, v, &[s.c, s.h, s.w], crate::arrays::Dtype::F32)
}
