//! Solvers for `y = H x0 + sigma_y eta` with a diffusion prior given by its denoiser:
//! VML-MAP (Gutha, Vinuesa, Azizpour, "Mode-seeking for inverse problems with diffusion
//! models", arXiv 2512.10524; docs/algorithms.md §3–5), and the baselines it is compared with
//! on the same denoiser and operators (docs/algorithms.md §8): DPS, ΠGDM, DDRM, DDNM, DiffPIR,
//! RED-diff, the classical Tikhonov estimate and the trivial `pinv`.
//!
//! A [`Solver`] takes a validated [`Problem`], a [`Denoiser`] and a seed, reports progress
//! to an [`Observer`] and returns a [`Solution`] with its NFE and VJP counts. A solver is
//! declared in its own file ([`Declaration`]: name, what it computes, its serde settings)
//! and listed in [`registry::SOLVERS`]; a diffusion solver writes only its per-level
//! update ([`driver::ReverseProcess`]), and the [`driver`] runs the reverse loop for it.
//!
//! Batches: [`Solver::solve_batch`] runs several problems on images of one shape (several
//! images, or one image with several seeds) together, so that a solver sharing the noise
//! schedule across them evaluates the network once per step for all of them. Result `b`
//! is what [`Solver::solve`] gives for problem `b` and seed `b`, up to the round-off of a
//! batched network evaluation; NFE and VJP are counted per image, as for a single run.

mod adam;
pub mod common;
pub mod daps;
pub mod ddnm;
pub mod ddrm;
pub mod diffpir;
pub mod dps;
pub mod driver;
pub mod map_ga;
pub mod pigdm;
pub mod pinv;
pub mod red_diff;
pub mod registry;
pub mod sampler;
pub mod settings;
pub mod tikhonov;
pub mod vml_map;

pub use registry::{build_solver, solver_names, Declaration, Settings, SolverOptions, SOLVERS};

use std::ops::ControlFlow;
use vmlmap_core::{Denoiser, DenoiserError};
use vmlmap_operators::LinearOperator;

/// A solver failure or an invalid configuration.
#[derive(Debug, thiserror::Error)]
pub enum SolverError {
    #[error("invalid solver setting {field} = {value}: {reason}")]
    InvalidConfig {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("unknown solver {0:?}; known solvers: {list}", list = registry::solver_names().join(", "))]
    UnknownSolver(String),
    #[error("measurement has {found} values, the operator {operator} gives {expected}")]
    MeasurementLength {
        operator: String,
        expected: usize,
        found: usize,
    },
    #[error("invalid sigma_y = {0}: must be positive and finite (use 1e-9 for noise-free)")]
    SigmaY(f64),
    #[error("denoiser works on {denoiser} images, operator on {operator}")]
    ShapeMismatch {
        denoiser: vmlmap_core::Shape,
        operator: vmlmap_core::Shape,
    },
    #[error("iterate became non-finite at step {step} (sigma = {sigma}); lower the step size")]
    Diverged { step: usize, sigma: f64 },
    #[error("solver {solver}: {message}")]
    Options {
        solver: &'static str,
        message: String,
    },
    #[error("the run was cancelled at step {step}")]
    Cancelled { step: usize },
    #[error("{solver} needs the explicit SVD of the operator here, and {operator} has none")]
    NeedsSvd {
        solver: &'static str,
        operator: String,
    },
    #[error("solver option {0:?} is not of the form key=value")]
    MalformedOption(String),
    #[error("a batch of {problems} problems needs as many seeds, got {seeds}")]
    BatchSeeds { problems: usize, seeds: usize },
    #[error(transparent)]
    Denoiser(#[from] DenoiserError),
}

/// A linear inverse problem: operator, measurement and noise level (`[-1, 1]` units).
#[derive(Clone)]
pub struct Problem<'a> {
    pub op: &'a dyn LinearOperator,
    pub y: Vec<f64>,
    pub sigma_y: f64,
}

impl<'a> Problem<'a> {
    /// A validated problem.
    pub fn new(op: &'a dyn LinearOperator, y: Vec<f64>, sigma_y: f64) -> Result<Self, SolverError> {
        if y.len() != op.output_len() {
            return Err(SolverError::MeasurementLength {
                operator: op.describe(),
                expected: op.output_len(),
                found: y.len(),
            });
        }
        if !(sigma_y > 0.0 && sigma_y.is_finite()) {
            return Err(SolverError::SigmaY(sigma_y));
        }
        Ok(Self { op, y, sigma_y })
    }

    /// Checks that a denoiser fits the operator.
    pub fn check_denoiser(&self, d: &dyn Denoiser) -> Result<(), SolverError> {
        if d.shape() != self.op.input_shape() {
            return Err(SolverError::ShapeMismatch {
                denoiser: d.shape(),
                operator: self.op.input_shape(),
            });
        }
        Ok(())
    }

    /// `‖H x - y‖ / ‖y‖`.
    pub fn residual(&self, x: &[f64]) -> f64 {
        vmlmap_core::vector::rel_err(&self.op.apply(x), &self.y)
    }
}

/// What a solver returns.
#[derive(Clone, Debug)]
pub struct Solution {
    pub x: Vec<f64>,
    /// Network (denoiser) evaluations, forward passes with or without a graph.
    pub nfe: usize,
    /// Vector-Jacobian products (backward passes).
    pub vjp: usize,
}

/// Progress hooks.
pub trait Observer {
    /// Called after reverse step `step` (0-based) of `total`, at noise level `sigma`;
    /// `Break` stops the run ([`SolverError::Cancelled`]).
    fn on_step(&mut self, _step: usize, _total: usize, _sigma: f64) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

/// An observer that ignores everything.
pub struct Silent;
impl Observer for Silent {}

/// What a solver's derivation says it computes; every solver declares it, so that the
/// `validate` statistics and the bench's seed counts follow from the solver itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Computes {
    /// A posterior mode (MAP): VML-MAP.
    Mode,
    /// An (approximate) posterior sample: the diffusion samplers.
    Sample,
    /// The MAP of the Gaussian prior `N(0, 0.25 I)`: Tikhonov.
    GaussianMap,
    /// A regularised, MAP-like point: RED-diff.
    RegularisedPoint,
    /// The least-norm fit of the data: the pseudo-inverse.
    DataFit,
}

impl Computes {
    /// How reports say it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Mode => "posterior mode (MAP)",
            Self::Sample => "posterior sample (approximate)",
            Self::GaussianMap => "MAP of N(0, 0.25 I)",
            Self::RegularisedPoint => "regularised MAP-like point",
            Self::DataFit => "least-norm data fit",
        }
    }
}

/// A method for the inverse problem. Implement [`Solver::solve`], or [`Solver::solve_batch`]
/// for a solver that shares network evaluations across a batch (each default calls the
/// other, so at least one must be implemented).
pub trait Solver: Send + Sync + std::fmt::Debug {
    /// What its file declares about it.
    fn declaration(&self) -> &'static Declaration;

    fn name(&self) -> &'static str {
        self.declaration().name
    }

    /// What it computes.
    fn computes(&self) -> Computes {
        self.declaration().computes
    }

    /// Whether the solver evaluates the prior; those that do not (`pinv`, `tikhonov`) run
    /// with [`vmlmap_core::denoiser::NoPrior`] and need no model.
    fn uses_prior(&self) -> bool {
        self.declaration().uses_prior
    }

    /// One problem; the default is a batch of one.
    fn solve(
        &self,
        problem: &Problem,
        denoiser: &dyn Denoiser,
        seed: u64,
        observer: &mut dyn Observer,
    ) -> Result<Solution, SolverError> {
        let mut out =
            self.solve_batch(std::slice::from_ref(problem), denoiser, &[seed], observer)?;
        Ok(out.remove(0))
    }

    /// Several problems at once, problem `b` with seed `seeds[b]` (see the module doc). The
    /// default solves them one after the other.
    fn solve_batch(
        &self,
        problems: &[Problem],
        denoiser: &dyn Denoiser,
        seeds: &[u64],
        observer: &mut dyn Observer,
    ) -> Result<Vec<Solution>, SolverError> {
        check_batch(problems, denoiser, seeds)?;
        problems
            .iter()
            .zip(seeds)
            .map(|(p, &s)| self.solve(p, denoiser, s, observer))
            .collect()
    }
}

/// A batch has one seed per problem and every problem fits the denoiser.
pub fn check_batch(
    problems: &[Problem],
    denoiser: &dyn Denoiser,
    seeds: &[u64],
) -> Result<(), SolverError> {
    if problems.len() != seeds.len() || problems.is_empty() {
        return Err(SolverError::BatchSeeds {
            problems: problems.len(),
            seeds: seeds.len(),
        });
    }
    problems.iter().try_for_each(|p| p.check_denoiser(denoiser))
}
