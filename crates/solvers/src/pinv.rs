//! The trivial baseline: the pseudo-inverse `H^+ y` (no prior, no network evaluation).

use crate::{Observer, Problem, Solution, Solver, SolverError};
use vmlmap_core::Denoiser;

/// `x = H^+ y`.
#[derive(Clone, Copy, Debug)]
pub struct PseudoInverse;

impl Solver for PseudoInverse {
    fn name(&self) -> &'static str {
        "pinv"
    }
    fn computes(&self) -> crate::Computes {
        crate::Computes::DataFit
    }

    fn uses_prior(&self) -> bool {
        false
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
        observer.on_step(0, 1, 0.0);
        Ok(Solution { x, nfe: 0, vjp: 0 })
    }
}
