//! What can go wrong on the restore path, each with the source it came from.

use vmlmap_core::DenoiserError;
use vmlmap_io::IoError;
use vmlmap_models::adm::load::LoadError;
use vmlmap_models::DeviceError;
use vmlmap_operators::OperatorError;
use vmlmap_solvers::SolverError;

/// A restore-path failure: bad input (named), a file, an operator, a model or a solver.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// An input value that cannot be used, with what was wrong with it.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Shape(#[from] vmlmap_core::ShapeError),
    #[error(transparent)]
    Operator(#[from] OperatorError),
    #[error(transparent)]
    Solver(#[from] SolverError),
    #[error(transparent)]
    Model(#[from] LoadError),
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error(transparent)]
    Denoiser(#[from] DenoiserError),
    /// The run was stopped by its [`crate::Cancel`] flag (Ctrl-C).
    #[error("interrupted")]
    Interrupted,
}
