//! `vmlmap.Operator`: a task's measurement operator `H` (docs/algorithms.md §7) on numpy
//! arrays, one item or a batch: `apply` (`H x`), `adjoint` (`H^T y`), `pinv` (`H^+ y`)
//! and `gram_solve` (`(H^T H + lambda I)^-1 v`).

use crate::arrays::{self, dims_str, Array};
use crate::errors::IntoPy;
use crate::options::option_strings;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::collections::BTreeMap;
use vmlmap_core::Shape;
use vmlmap_operators::{LinearOperator, TaskSpec};

/// The measurement operator of a task on images of one shape.
#[pyclass(module = "vmlmap", name = "Operator", frozen)]
pub struct Operator {
    pub op: Box<dyn LinearOperator>,
    pub task: TaskSpec,
    pub shape: Shape,
}

/// `(C, H, W)` from a Python tuple or list.
pub fn shape_of(dims: &[usize]) -> PyResult<Shape> {
    match dims {
        [c, h, w] => Shape::new(*c, *h, *w).py_err(),
        d => Err(PyValueError::new_err(format!(
            "shape must be (C, H, W), got {}",
            dims_str(d)
        ))),
    }
}

impl Operator {
    /// Dimensions of one input (image) item.
    fn input_dims(&self) -> Vec<usize> {
        vec![self.shape.c, self.shape.h, self.shape.w]
    }

    /// Dimensions of one output (measurement) item.
    pub fn output_dims(&self) -> Vec<usize> {
        output_dims(self.op.as_ref())
    }

    /// Applies `f` to each item of `x` (one item of `item` dims, or a batch of them).
    fn map(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        name: &str,
        item: &[usize],
        out_item: &[usize],
        f: impl Fn(&dyn LinearOperator, &[f64]) -> Vec<f64> + Send + Sync,
    ) -> PyResult<Py<PyAny>> {
        let a: Array = arrays::read(x, name)?;
        let (batch, single) = split(&a.dims, item, name, &self.task.name)?;
        let n = item.iter().product::<usize>();
        let op = self.op.as_ref();
        let out: Vec<f64> = py.detach(|| {
            a.data
                .chunks(n)
                .take(batch)
                .flat_map(|c| f(op, c))
                .collect()
        });
        let mut dims = if single { vec![] } else { vec![batch] };
        dims.extend_from_slice(out_item);
        Ok(arrays::write(py, out, &dims, a.dtype)?.unbind())
    }
}

/// The dimensions of one measurement of `op`: `(C, H, W)` where it is an image, `(m,)`
/// otherwise.
pub fn output_dims(op: &dyn LinearOperator) -> Vec<usize> {
    match op.output_shape() {
        Some(s) => vec![s.c, s.h, s.w],
        None => vec![op.output_len()],
    }
}

/// `(items, single)` for an array of one item of `item` dims or a batch of them.
pub fn split(dims: &[usize], item: &[usize], name: &str, task: &str) -> PyResult<(usize, bool)> {
    if dims == item {
        return Ok((1, true));
    }
    if let [b, rest @ ..] = dims {
        if rest == item {
            return Ok((*b, false));
        }
    }
    Err(PyValueError::new_err(format!(
        "{name} has shape {}; {task} here takes {} or a batch (B, ...) of it",
        dims_str(dims),
        dims_str(item)
    )))
}

#[pymethods]
impl Operator {
    /// The operator of `task` (see `vmlmap.tasks()`) on images of `shape` `(C, H, W)`,
    /// with the task's options as keywords (e.g. `Operator("sr4", (1, 32, 32))`,
    /// `Operator("inpaint-random", (3, 64, 64), fraction=0.5, seed=1)`).
    #[new]
    #[pyo3(signature = (task, shape, **opts))]
    fn new(task: &str, shape: Vec<usize>, opts: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let shape = shape_of(&shape)?;
        let spec = TaskSpec::parse(task, &option_strings(opts)?)
            .and_then(|s| s.resolved(shape))
            .py_err()?;
        let op = spec.build(shape).py_err()?;
        Ok(Self {
            op,
            task: spec,
            shape,
        })
    }

    /// `H x` for an image `(C, H, W)` or a batch `(B, C, H, W)`.
    fn apply(&self, py: Python<'_>, x: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let (i, o) = (self.input_dims(), self.output_dims());
        self.map(py, x, "x", &i, &o, |op, v| op.apply(v))
    }

    /// `H^T y` for a measurement (or a batch of them).
    fn adjoint(&self, py: Python<'_>, y: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let (i, o) = (self.input_dims(), self.output_dims());
        self.map(py, y, "y", &o, &i, |op, v| op.adjoint(v))
    }

    /// `H^+ y`, the minimum-norm least-squares solution.
    fn pinv(&self, py: Python<'_>, y: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let (i, o) = (self.input_dims(), self.output_dims());
        self.map(py, y, "y", &o, &i, |op, v| op.pinv(v))
    }

    /// `(H^T H + lam I)^-1 v` for an image-shaped `v` (`lam = 0`: the pseudo-inverse of
    /// `H^T H`, null-space components dropped).
    #[pyo3(signature = (v, lam = 0.0))]
    fn gram_solve(&self, py: Python<'_>, v: &Bound<'_, PyAny>, lam: f64) -> PyResult<Py<PyAny>> {
        if !(lam >= 0.0 && lam.is_finite()) {
            return Err(PyValueError::new_err(format!(
                "lam = {lam}: must be non-negative and finite"
            )));
        }
        let i = self.input_dims();
        self.map(py, v, "v", &i, &i, move |op, v| op.gram_solve(v, lam))
    }

    /// The singular values of `H`.
    fn singular_values(&self) -> Vec<f64> {
        self.op.singular_values()
    }

    /// `(C, H, W)` of the images.
    #[getter]
    fn input_shape(&self) -> Vec<usize> {
        self.input_dims()
    }

    /// The shape of one measurement: `(C, H, W)` where it is an image, `(m,)` otherwise.
    #[getter]
    fn output_shape(&self) -> Vec<usize> {
        self.output_dims()
    }

    /// The task name.
    #[getter]
    fn task(&self) -> String {
        self.task.name.clone()
    }

    /// The task's options, every one written out.
    #[getter]
    fn options(&self) -> BTreeMap<String, String> {
        self.task.options.clone()
    }

    fn __repr__(&self) -> String {
        format!("vmlmap.Operator({})", self.op.describe())
    }
}
