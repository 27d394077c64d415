//! Library errors as Python exceptions: bad input is a `ValueError` with the library's
//! message, a file an `OSError`, an interrupted run `KeyboardInterrupt`, a failed
//! computation a `RuntimeError`.

use pyo3::exceptions::{PyKeyboardInterrupt, PyOSError, PyRuntimeError, PyValueError};
use pyo3::PyErr;
use vmlmap_core::DenoiserError;
use vmlmap_restore::RestoreError;
use vmlmap_solvers::SolverError;

/// The Python exception of a library error.
pub fn to_py(e: RestoreError) -> PyErr {
    let msg = e.to_string();
    match e {
        RestoreError::Interrupted => PyKeyboardInterrupt::new_err(msg),
        RestoreError::Io(_) => PyOSError::new_err(msg),
        RestoreError::Denoiser(_)
        | RestoreError::Solver(SolverError::Diverged { .. })
        | RestoreError::Solver(SolverError::Denoiser(_)) => PyRuntimeError::new_err(msg),
        _ => PyValueError::new_err(msg),
    }
}

/// Converts with [`to_py`] anything the library returns.
pub trait IntoPy<T> {
    fn py_err(self) -> Result<T, PyErr>;
}

impl<T, E: Into<RestoreError>> IntoPy<T> for Result<T, E> {
    fn py_err(self) -> Result<T, PyErr> {
        self.map_err(|e| to_py(e.into()))
    }
}

/// A denoiser failure as a `RuntimeError` (bad lengths and sigmas as `ValueError`).
pub fn denoiser_to_py(e: DenoiserError) -> PyErr {
    match e {
        DenoiserError::Backend(_) => PyRuntimeError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}
