//! Restoring measurements: a solver by name with its options ([`SolverSpec`]), batches of
//! measurements of one image size solved together ([`restore_batch`], one network
//! evaluation per step for the whole batch), and cancellation ([`Cancel`]) that stops a
//! run at its next network evaluation.

use crate::{Measurement, RestoreError};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;
use vmlmap_core::{Denoiser, DenoiserError, Linearization, Shape};
use vmlmap_solvers::{build_solver, Observer, Solver, SolverOptions};

/// A solver by name with its options (`None` keeps the solver's default).
#[derive(Clone, Debug)]
pub struct SolverSpec {
    pub name: String,
    pub options: SolverOptions,
}

impl SolverSpec {
    pub fn new(name: impl Into<String>, options: SolverOptions) -> Self {
        Self {
            name: name.into(),
            options,
        }
    }

    /// The validated solver: an unknown name, key or value is an error naming it.
    pub fn build(&self) -> Result<Box<dyn Solver>, RestoreError> {
        Ok(build_solver(&self.name, &self.options)?)
    }
}

/// One restored image with what it cost.
#[derive(Clone, Debug)]
pub struct Restoration {
    pub x: Vec<f64>,
    /// Network evaluations per image.
    pub nfe: usize,
    /// Vector-Jacobian products per image.
    pub vjp: usize,
    /// Wall-clock seconds of the batch divided by its images.
    pub seconds: f64,
    /// Images solved together with this one.
    pub batch: usize,
    /// `‖H x - y‖ / ‖y‖`.
    pub residual: f64,
}

/// A flag that stops a run: set it (from a signal handler, another thread) and the run
/// ends with [`RestoreError::Interrupted`] at its next network evaluation.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    fn check(&self) -> Result<(), DenoiserError> {
        if self.is_cancelled() {
            return Err(DenoiserError::Backend("interrupted".into()));
        }
        Ok(())
    }
}

/// A denoiser that refuses to run once its [`Cancel`] is set.
struct Cancellable<'a> {
    inner: &'a dyn Denoiser,
    cancel: &'a Cancel,
}

impl Denoiser for Cancellable<'_> {
    fn shape(&self) -> Shape {
        self.inner.shape()
    }
    fn name(&self) -> String {
        self.inner.name()
    }
    fn round_sigma(&self, sigma: f64) -> f64 {
        self.inner.round_sigma(sigma)
    }
    fn denoise(&self, x: &[f64], sigma: f64) -> Result<Vec<f64>, DenoiserError> {
        self.cancel.check()?;
        self.inner.denoise(x, sigma)
    }
    fn linearize<'b>(
        &'b self,
        x: &[f64],
        sigma: f64,
    ) -> Result<Box<dyn Linearization + 'b>, DenoiserError> {
        self.cancel.check()?;
        self.inner.linearize(x, sigma)
    }
    fn denoise_batch(&self, xs: &[f64], sigmas: &[f64]) -> Result<Vec<f64>, DenoiserError> {
        self.cancel.check()?;
        self.inner.denoise_batch(xs, sigmas)
    }
    fn linearize_batch<'b>(
        &'b self,
        xs: &[f64],
        sigmas: &[f64],
    ) -> Result<Box<dyn Linearization + 'b>, DenoiserError> {
        self.cancel.check()?;
        self.inner.linearize_batch(xs, sigmas)
    }
}

/// An observer that also stops the run between levels once its [`Cancel`] is set.
struct Watched<'a> {
    inner: &'a mut dyn Observer,
    cancel: &'a Cancel,
}

impl Observer for Watched<'_> {
    fn on_step(&mut self, step: usize, total: usize, sigma: f64) -> ControlFlow<()> {
        let flow = self.inner.on_step(step, total, sigma);
        if self.cancel.is_cancelled() {
            return ControlFlow::Break(());
        }
        flow
    }
}

/// Restores the measurements together, each with `seed` (so that a batch gives what
/// single runs give), one network evaluation per step for all of them. They must be of
/// one image shape, the prior's.
pub fn restore_batch(
    measurements: &[&Measurement],
    solver: &dyn Solver,
    prior: &dyn Denoiser,
    seed: u64,
    cancel: &Cancel,
    observer: &mut dyn Observer,
) -> Result<Vec<Restoration>, RestoreError> {
    let Some(first) = measurements.first() else {
        return Ok(Vec::new());
    };
    if let Some(m) = measurements.iter().find(|m| m.shape != first.shape) {
        return Err(RestoreError::Invalid(format!(
            "{} is of a {} image, {} of a {} image: one batch restores images of one size",
            m.name, m.shape, first.name, first.shape
        )));
    }
    if prior.shape() != first.shape {
        return Err(RestoreError::Invalid(format!(
            "the prior {} works on {} images, the measurements are of {} images",
            prior.name(),
            prior.shape(),
            first.shape
        )));
    }
    let problems = measurements
        .iter()
        .map(|m| m.problem())
        .collect::<Result<Vec<_>, _>>()?;
    let seeds = vec![seed; problems.len()];
    let guarded = Cancellable {
        inner: prior,
        cancel,
    };
    let t = Instant::now();
    let mut watched = Watched {
        inner: observer,
        cancel,
    };
    let solutions = solver
        .solve_batch(&problems, &guarded, &seeds, &mut watched)
        .map_err(|e| {
            if cancel.is_cancelled() {
                RestoreError::Interrupted
            } else {
                e.into()
            }
        })?;
    let seconds = t.elapsed().as_secs_f64() / problems.len() as f64;
    Ok(solutions
        .into_iter()
        .zip(&problems)
        .map(|(s, p)| Restoration {
            residual: p.residual(&s.x),
            x: s.x,
            nfe: s.nfe,
            vjp: s.vjp,
            seconds,
            batch: problems.len(),
        })
        .collect())
}

/// [`restore_batch`] over all the measurements, `batch` at a time.
pub fn restore(
    measurements: &[Measurement],
    solver: &dyn Solver,
    prior: &dyn Denoiser,
    seed: u64,
    batch: usize,
    cancel: &Cancel,
    observer: &mut dyn Observer,
) -> Result<Vec<Restoration>, RestoreError> {
    if batch == 0 {
        return Err(RestoreError::Invalid("batch must be at least 1".into()));
    }
    let mut out = Vec::with_capacity(measurements.len());
    for chunk in measurements.chunks(batch) {
        let refs: Vec<&Measurement> = chunk.iter().collect();
        out.extend(restore_batch(&refs, solver, prior, seed, cancel, observer)?);
    }
    Ok(out)
}
