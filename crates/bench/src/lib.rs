//! The validation and benchmark harness of vmlmap: runs the solvers on problems whose
//! answers are known exactly (docs/algorithms.md §6) and reports how close they get, with their
//! cost (`vmlmap validate`), and runs them on real images and a real prior, side by side,
//! into one report ([`harness`], `vmlmap bench`).

pub mod harness;
pub mod problems;
pub mod validate;

pub use validate::{run_validation, Record, ValidateOptions};
