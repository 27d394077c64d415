//! numpy arrays in and out: `float32` or `float64`, any strides, read in C order into the
//! `f64` values the library computes with; results go back in the caller's dtype.

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// The dtype an array came in, and goes back out in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F64,
}

/// An array read from Python.
#[derive(Clone, Debug)]
pub struct Array {
    pub data: Vec<f64>,
    pub dims: Vec<usize>,
    pub dtype: Dtype,
}

/// `(2, 3)` as Python writes a shape.
pub fn dims_str(dims: &[usize]) -> String {
    match dims {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            dims.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Reads a numpy `float32`/`float64` array; anything else is a `ValueError` naming `what`.
/// Non-finite values are refused.
pub fn read(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Array> {
    let out = if let Ok(a) = obj.extract::<PyReadonlyArrayDyn<'_, f64>>() {
        Array {
            data: a.as_array().iter().copied().collect(),
            dims: a.shape().to_vec(),
            dtype: Dtype::F64,
        }
    } else if let Ok(a) = obj.extract::<PyReadonlyArrayDyn<'_, f32>>() {
        Array {
            data: a.as_array().iter().map(|&v| v as f64).collect(),
            dims: a.shape().to_vec(),
            dtype: Dtype::F32,
        }
    } else {
        let kind = match obj.getattr("dtype") {
            Ok(d) => format!("an array of dtype {}", d.str()?),
            Err(_) => format!("a {}", obj.get_type().name()?),
        };
        return Err(PyValueError::new_err(format!(
            "{what} must be a numpy float32 or float64 array, got {kind}"
        )));
    };
    if let Some(i) = out.data.iter().position(|v| !v.is_finite()) {
        return Err(PyValueError::new_err(format!(
            "{what} holds a non-finite value ({}) at flat index {i}",
            out.data[i]
        )));
    }
    Ok(out)
}

/// A new numpy array of `dims` holding `data`, in `dtype`.
pub fn write<'py>(
    py: Python<'py>,
    data: Vec<f64>,
    dims: &[usize],
    dtype: Dtype,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(match dtype {
        Dtype::F64 => PyArray1::from_vec(py, data)
            .reshape(dims.to_vec())?
            .into_any(),
        Dtype::F32 => {
            let v: Vec<f32> = data.iter().map(|&x| x as f32).collect();
            PyArray1::from_vec(py, v).reshape(dims.to_vec())?.into_any()
        }
    })
}
