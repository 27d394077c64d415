//! The restore path of vmlmap as one library, called by the CLI (`vmlmap degrade`,
//! `vmlmap restore`, `demo`), the bench and the Python package alike:
//!
//! - a [`Measurement`]: `y = H x0 + sigma_y eta` with its task, operator, noise level and
//!   image shape (docs/algorithms.md §1, §7), made by [`Measurement::degrade`] (the one noise
//!   rule), read from the files `vmlmap degrade` writes, or from a raw measurement file;
//! - a [`SolverSpec`]: a solver name with its options, built and validated into a
//!   [`vmlmap_solvers::Solver`] (VML-MAP of Gutha, Vinuesa, Azizpour, arXiv 2512.10524, or
//!   a baseline);
//! - a [`Prior`]: the denoiser by name (`default`, a checkpoint, a preset), loaded once at
//!   the measurements' image size, or none for solvers that use no prior;
//! - [`restore`]: measurements solved in batches that share each network evaluation, each
//!   [`Restoration`] with its NFE, VJP, seconds and measurement residual.

mod error;
mod files;
mod measurement;
mod prior;
mod run;

pub use error::RestoreError;
pub use measurement::Measurement;
pub use prior::{auto_batch, Prior};
pub use run::{restore, restore_batch, Cancel, Restoration, SolverSpec};
pub use vmlmap_operators::measure;
