//! The trivial baseline: the pseudo-inverse `H^+ y` (no prior, no network evaluation).

use crate::{Computes, Declaration, Observer, Problem, Solution, Solver, SolverError};
use vmlmap_core::Denoiser;

/// How the registry knows it.
pub static DECLARATION: Declaration = Declaration::of::<PseudoInverse>(
    "pinv",
    "the pseudo-inverse H^+ y: the least-norm fit of the data, no prior",
    Computes::DataFit,
    false,
);

/// `x = H^+ y` (no settings).
#[derive(
    Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct PseudoInverse {}

impl crate::Settings for PseudoInverse {
    fn into_solver(self) -> Result<Box<dyn Solver>, SolverError> {
        Ok(Box::new(self))
    }
}

impl Solver for PseudoInverse {
    fn declaration(&self) -> &'static Declaration {
        &DECLARATION
    }

    fn solve(
        &self,
        problem: &Problem,
        denoiser: &dyn Denoiser,
        _seed: u64,
        observer: &mut dyn Observer,
    ) -> Result<Solution, SolverError> {
        problem.check_denoiser(denoiser)?;
        let x = problem.op.pinv(&problem.y);
        if observer.on_step(0, 1, 0.0).is_break() {
            return Err(SolverError::Cancelled { step: 0 });
        }
        Ok(Solution { x, nfe: 0, vjp: 0 })
    }
}
