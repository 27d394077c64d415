//! Keyword options as the library's `key=value` strings: Python booleans as `true` and
//! `false`, everything else by `str()`.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict};

/// The value of one option as the library parses it.
pub fn option_value(v: &Bound<'_, PyAny>) -> PyResult<String> {
    if v.is_instance_of::<PyBool>() {
        return Ok(if v.extract::<bool>()? {
            "true"
        } else {
            "false"
        }
        .into());
    }
    Ok(v.str()?.to_string())
}

/// `key=value` strings of a keyword dictionary.
pub fn option_strings(opts: Option<&Bound<'_, PyDict>>) -> PyResult<Vec<String>> {
    let mut out = Vec::new();
    if let Some(d) = opts {
        for (k, v) in d.iter() {
            out.push(format!("{}={}", k.str()?, option_value(&v)?));
        }
    }
    Ok(out)
}
