//! The reverse-diffusion loop every diffusion solver shares (after argmin's `Executor`:
//! the solver states one iteration, the driver runs them). The driver owns what the
//! solvers used to write each for itself:
//! - the batch check and one seeded random stream per image (`seeds[b]` feeds image `b`,
//!   so a batch gives what single runs give);
//! - the noise levels, largest first, each step going from `sigma` to the next level (0
//!   after the last);
//! - the finite check of the iterates after every level ([`SolverError::Diverged`]);
//! - the observer after every level, whose `Break` ends the run
//!   ([`SolverError::Cancelled`]);
//! - the NFE and VJP counts: network calls go through [`Network`], which counts one
//!   evaluation per image per batched call and one VJP per image per backward pass.
//!
//! A solver implements [`ReverseProcess`]: its levels, its start, and its per-level
//! update. Every such type is a [`Solver`].

use crate::{check_batch, Observer, Problem, Solution, Solver, SolverError};
use std::cell::Cell;
use vmlmap_core::rng::{normal_vec, seeded, Rng};
use vmlmap_core::{Denoiser, Linearization};

/// One level of the reverse process.
#[derive(Clone, Copy, Debug)]
pub struct Level {
    /// 0-based.
    pub index: usize,
    /// Levels in the run.
    pub total: usize,
    pub sigma: f64,
    /// The next level, 0 after the last.
    pub next: f64,
}

impl Level {
    pub fn is_last(&self) -> bool {
        self.index + 1 == self.total
    }
}

/// A diffusion solver's part of the loop.
pub trait ReverseProcess: Send + Sync + std::fmt::Debug {
    /// What the solver keeps between levels.
    type State: Iterates;

    /// What its file declares about it.
    fn declaration(&self) -> &'static crate::Declaration;

    /// The noise levels, largest first.
    fn levels(&self, denoiser: &dyn Denoiser) -> Result<Vec<f64>, SolverError>;

    /// The state at the first level `sigma0`.
    fn start(&self, run: &mut Run, sigma0: f64) -> Result<Self::State, SolverError>;

    /// One level: from `level.sigma` to `level.next`.
    fn step(&self, run: &mut Run, level: Level, state: &mut Self::State)
        -> Result<(), SolverError>;
}

/// A solver's state between levels, as the driver sees it.
pub trait Iterates {
    /// The iterates checked for finiteness after each level.
    fn iterates(&self) -> &[Vec<f64>];

    /// The restorations, one per problem.
    fn finish(self) -> Vec<Vec<f64>>;
}

/// The state of a solver that keeps only its iterates `x_b`.
impl Iterates for Vec<Vec<f64>> {
    fn iterates(&self) -> &[Vec<f64>] {
        self
    }
    fn finish(self) -> Vec<Vec<f64>> {
        self
    }
}

/// What a level's update works with: the problems, each image's random stream, and the
/// counted network.
pub struct Run<'r, 'p> {
    pub problems: &'r [Problem<'p>],
    /// Image `b`'s stream, seeded with `seeds[b]`.
    pub rngs: Vec<Rng>,
    /// Values per image.
    pub n: usize,
    pub net: Network<'r>,
}

impl Run<'_, '_> {
    /// Each image's start `sigma0 * z`, `z` the first draw of its stream.
    pub fn noise_start(&mut self, sigma0: f64) -> Vec<Vec<f64>> {
        let n = self.n;
        self.rngs
            .iter_mut()
            .map(|r| normal_vec(r, n).into_iter().map(|v| v * sigma0).collect())
            .collect()
    }
}

/// The denoiser, counting what it evaluates per image.
pub struct Network<'r> {
    denoiser: &'r dyn Denoiser,
    n: usize,
    nfe: Vec<Cell<usize>>,
    vjp: Vec<Cell<usize>>,
}

impl<'r> Network<'r> {
    fn new(denoiser: &'r dyn Denoiser, batch: usize) -> Self {
        Self {
            denoiser,
            n: denoiser.shape().numel(),
            nfe: vec![Cell::new(0); batch],
            vjp: vec![Cell::new(0); batch],
        }
    }

    /// The denoiser itself (for its grid: `round_sigma`).
    pub fn denoiser(&self) -> &'r dyn Denoiser {
        self.denoiser
    }

    fn count(counts: &[Cell<usize>], which: Option<&[bool]>) {
        for (b, c) in counts.iter().enumerate() {
            if which.is_none_or(|w| w[b]) {
                c.set(c.get() + 1);
            }
        }
    }

    /// `D(x_b, sigma)` for every image (one batched evaluation).
    pub fn denoise(&self, xs: &[Vec<f64>], sigma: f64) -> Result<Vec<Vec<f64>>, SolverError> {
        self.denoise_counting(xs, sigma, None)
    }

    /// As [`Network::denoise`], counting the evaluation only for the images marked.
    pub fn denoise_counting(
        &self,
        xs: &[Vec<f64>],
        sigma: f64,
        counted: Option<&[bool]>,
    ) -> Result<Vec<Vec<f64>>, SolverError> {
        let d = self
            .denoiser
            .denoise_batch(&xs.concat(), &vec![sigma; xs.len()])?;
        Self::count(&self.nfe, counted);
        Ok(d.chunks(self.n).map(<[f64]>::to_vec).collect())
    }

    /// The network linearised at every image; its VJP is counted when taken.
    pub fn linearize(&self, xs: &[Vec<f64>], sigma: f64) -> Result<Linear<'_>, SolverError> {
        self.linearize_counting(xs, sigma, None)
    }

    /// As [`Network::linearize`], counting the evaluation and the VJP only for the images
    /// marked (the others ride along in the batch and are not charged: VML-MAP's
    /// `inner_tol` stops an image's inner steps on its own).
    pub fn linearize_counting(
        &self,
        xs: &[Vec<f64>],
        sigma: f64,
        counted: Option<&[bool]>,
    ) -> Result<Linear<'_>, SolverError> {
        let lin = self
            .denoiser
            .linearize_batch(&xs.concat(), &vec![sigma; xs.len()])?;
        Self::count(&self.nfe, counted);
        let outputs = lin.output().chunks(self.n).map(<[f64]>::to_vec).collect();
        Ok(Linear {
            lin,
            outputs,
            vjp: &self.vjp,
            counted: counted.map(<[bool]>::to_vec),
            n: self.n,
        })
    }

    /// Per-image counts so far.
    fn counts(&self) -> Vec<(usize, usize)> {
        self.nfe
            .iter()
            .zip(&self.vjp)
            .map(|(a, b)| (a.get(), b.get()))
            .collect()
    }
}

/// A batched linearisation: the outputs `D(x_b)`, and one VJP.
pub struct Linear<'a> {
    lin: Box<dyn Linearization + 'a>,
    /// `D(x_b, sigma)` per image (a caller may take them; the VJP does not need them).
    pub outputs: Vec<Vec<f64>>,
    vjp: &'a [Cell<usize>],
    counted: Option<Vec<bool>>,
    /// Values per image.
    n: usize,
}

impl Linear<'_> {
    /// `J_b^T w_b` for every image, charged only to the images marked (whatever the
    /// linearisation was counted for).
    pub fn vjp_counting(
        mut self,
        w: &[Vec<f64>],
        charged: &[bool],
    ) -> Result<Vec<Vec<f64>>, SolverError> {
        self.counted = Some(charged.to_vec());
        self.vjp(w)
    }

    /// `J_b^T w_b` for every image.
    pub fn vjp(self, w: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, SolverError> {
        let n = self.n;
        let g = self.lin.vjp(&w.concat())?;
        Network::count(self.vjp, self.counted.as_deref());
        Ok(g.chunks(n.max(1)).map(<[f64]>::to_vec).collect())
    }
}

/// Runs a reverse process on a batch, image `b` with the stream seeded by `seeds[b]`.
pub fn drive<P: ReverseProcess>(
    process: &P,
    problems: &[Problem],
    denoiser: &dyn Denoiser,
    seeds: &[u64],
    observer: &mut dyn Observer,
) -> Result<Vec<Solution>, SolverError> {
    check_batch(problems, denoiser, seeds)?;
    let rngs = seeds.iter().map(|&s| seeded(s)).collect();
    drive_from(process, problems, denoiser, rngs, observer)
}

/// [`drive`] with the images' streams given.
pub fn drive_from<P: ReverseProcess>(
    process: &P,
    problems: &[Problem],
    denoiser: &dyn Denoiser,
    rngs: Vec<Rng>,
    observer: &mut dyn Observer,
) -> Result<Vec<Solution>, SolverError> {
    let levels = process.levels(denoiser)?;
    let mut run = Run {
        problems,
        rngs,
        n: denoiser.shape().numel(),
        net: Network::new(denoiser, problems.len()),
    };
    let mut state = process.start(&mut run, levels[0])?;
    for (index, &sigma) in levels.iter().enumerate() {
        let level = Level {
            index,
            total: levels.len(),
            sigma,
            next: levels.get(index + 1).copied().unwrap_or(0.0),
        };
        process.step(&mut run, level, &mut state)?;
        crate::common::check_finite(state.iterates(), index, sigma)?;
        if observer.on_step(index, levels.len(), sigma).is_break() {
            return Err(SolverError::Cancelled { step: index });
        }
    }
    let counts = run.net.counts();
    Ok(state
        .finish()
        .into_iter()
        .zip(counts)
        .map(|(x, (nfe, vjp))| Solution { x, nfe, vjp })
        .collect())
}

impl<P: ReverseProcess> Solver for P {
    fn declaration(&self) -> &'static crate::Declaration {
        ReverseProcess::declaration(self)
    }

    fn solve_batch(
        &self,
        problems: &[Problem],
        denoiser: &dyn Denoiser,
        seeds: &[u64],
        observer: &mut dyn Observer,
    ) -> Result<Vec<Solution>, SolverError> {
        drive(self, problems, denoiser, seeds, observer)
    }
}
