//! The classical baseline: the Tikhonov / Wiener estimate `(H^T H + lambda I)^-1 H^T y`, the
//! MAP of a zero-mean Gaussian prior `N(0, s I)` with `lambda = sigma_y² / s` (Tikhonov
//! 1963; docs/algorithms.md §6 gives the posterior it is the mode of). It shows what a
//! diffusion prior adds over a classical regulariser. No network evaluation.
//!
//! Default (project choice): `s = 0.25`, the variance of an image spread over `[-1, 1]`
//! (a uniform distribution on `[-1, 1]` has 1/3, natural images about 0.2–0.3), so
//! `lambda = 4 sigma_y²`; `--solver-opt lambda=` sets it directly.

use crate::common::positive;
use crate::{Computes, Declaration, Observer, Problem, Solution, Solver, SolverError};
use vmlmap_core::Denoiser;

/// Prior variance behind the default `lambda = sigma_y² / PRIOR_VARIANCE`.
pub const PRIOR_VARIANCE: f64 = 0.25;

/// How the registry knows it.
pub static DECLARATION: Declaration = Declaration::of::<Tikhonov>(
    "tikhonov",
    "the Tikhonov / Wiener estimate (H^T H + lambda I)^-1 H^T y, no network",
    Computes::GaussianMap,
    false,
);

/// `x = (H^T H + lambda I)^-1 H^T y`.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Tikhonov {
    /// The regularisation weight; by default sigma_y² / 0.25, the MAP of N(0, 0.25 I).
    pub lambda: Option<f64>,
}

impl crate::Settings for Tikhonov {
    fn into_solver(self) -> Result<Box<dyn Solver>, SolverError> {
        Ok(Box::new(Self::new(self.lambda)?))
    }
}

impl Tikhonov {
    pub fn new(lambda: Option<f64>) -> Result<Self, SolverError> {
        if let Some(l) = lambda {
            positive("lambda", l)?;
        }
        Ok(Self { lambda })
    }

    /// The regularisation weight used for a problem.
    pub fn lambda_for(&self, problem: &Problem) -> f64 {
        self.lambda
            .unwrap_or(problem.sigma_y * problem.sigma_y / PRIOR_VARIANCE)
    }
}

impl Solver for Tikhonov {
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
        let x = problem
            .op
            .regularized_pinv(&problem.y, self.lambda_for(problem));
        if observer.on_step(0, 1, 0.0).is_break() {
            return Err(SolverError::Cancelled { step: 0 });
        }
        Ok(Solution { x, nfe: 0, vjp: 0 })
    }
}
