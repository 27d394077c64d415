//! `vmlmap.degrade`: the measurement `y = H x + sigma_y eta` of clean images, by the same
//! rule as `vmlmap degrade` (`vmlmap_operators::measure`).

use crate::arrays::{self, dims_str};
use crate::errors::IntoPy;
use crate::operator::{output_dims, shape_of, split};
use crate::options::option_strings;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use vmlmap_operators::TaskSpec;
use vmlmap_restore::Measurement;

/// What a measurement needs to be restored: the task with its options written out, the
/// noise, the seed and the shapes (a dict `restore(..., meta=meta)` takes).
pub fn meta<'py>(py: Python<'py>, m: &Measurement) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("task", &m.task.name)?;
    d.set_item("options", m.task.options.clone())?;
    d.set_item("sigma_y", m.sigma_y)?;
    d.set_item("seed", m.noise_seed)?;
    d.set_item("image_shape", vec![m.shape.c, m.shape.h, m.shape.w])?;
    d.set_item("output_shape", output_dims(m.op.as_ref()))?;
    Ok(d)
}

/// The measurement of `x` (`(C, H, W)`, or a batch `(B, C, H, W)` whose image `b` gets
/// noise seed `seed + b`) for `task`.
#[pyfunction]
#[pyo3(signature = (x, task, *, sigma_y = 1e-9, seed = 0, **task_opts))]
pub fn degrade<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    task: &str,
    sigma_y: f64,
    seed: u64,
    task_opts: Option<&Bound<'py, PyDict>>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyDict>)> {
    let a = arrays::read(x, "x")?;
    if let Some(i) = a.data.iter().position(|v| v.abs() > 1.0 + 1e-6) {
        return Err(PyValueError::new_err(format!(
            "x holds {} at flat index {i}: images are in [-1, 1] (rescale a [0, 1] image as 2 x - 1)",
            a.data[i]
        )));
    }
    let shape = match a.dims.as_slice() {
        [_, _, _] => shape_of(&a.dims)?,
        [_, rest @ ..] if rest.len() == 3 => shape_of(rest)?,
        d => {
            return Err(PyValueError::new_err(format!(
                "x has shape {}: expected an image (C, H, W) or a batch (B, C, H, W)",
                dims_str(d)
            )))
        }
    };
    let item = [shape.c, shape.h, shape.w];
    let (batch, single) = split(&a.dims, &item, "x", task)?;
    let spec = TaskSpec::parse(task, &option_strings(task_opts)?).py_err()?;
    let mut ys = Vec::new();
    let mut first = None;
    for (b, img) in a.data.chunks(shape.numel()).take(batch).enumerate() {
        let m = Measurement::degrade(
            format!("x[{b}]"),
            img,
            shape,
            &spec,
            sigma_y,
            seed.wrapping_add(b as u64),
        )
        .py_err()?;
        ys.extend_from_slice(&m.y);
        first.get_or_insert(m);
    }
    let m = first.ok_or_else(|| PyValueError::new_err("x is an empty batch"))?;
    let mut dims = if single { vec![] } else { vec![batch] };
    dims.extend(output_dims(m.op.as_ref()));
    let info = meta(py, &m)?;
    info.set_item("seed", seed)?;
    Ok((arrays::write(py, ys, &dims, a.dtype)?, info))
}
