//! VML-MAP (Gutha, Vinuesa, Azizpour, arXiv 2512.10524; docs/algorithms.md §3–5): at each noise
//! level of a reverse diffusion schedule, minimise the variational mode-seeking loss
//! `VML_S(x) = -log p_sigma(x) - ‖D - x‖²/(2 sigma²) + ‖y - H D‖²/(2 sigma_y²)` by `K` steps
//! along its gradient `J^T g`, `g = (x - D)/sigma² + H^T (H D - y)/sigma_y²` (one VJP), then
//! move to the next noise level with a DDIM step.
//!
//! Preconditioning (§4, project choice: precondition the vector before the VJP): with
//! `lambda = sigma_y²/sigma²`,
//! `P g = (H^T H/sigma_y² + I/sigma²)^-1 g = lambda (H^T H + lambda I)^-1 (x - D)
//!        + (H^T H + lambda I)^-1 H^T (H D - y)`,
//! computed as the operator's null-space filter plus its regularised pseudo-inverse, which
//! stay exact as `sigma_y -> 0`. The plain variant steps along `J^T (sigma_y² g)` scaled by
//! `1 / (‖H‖² + lambda)`, the reciprocal of the Lipschitz bound of the rescaled gradient
//! when `0 <= J <= I`.
//!
//! Project choices: pure-noise start `x = sigma_0 eps`; SGD inner steps; `eta = 0`
//! (deterministic DDIM) by default, `eta > 0` re-injects fresh noise; a final data step
//! (on by default): the output is not `D = D(x, sigma_min)` itself but `D - P g`, the
//! preconditioned VML_S step taken on `D` as if the Jacobian were the identity. At the
//! VML_S fixed point (`g = 0`) it changes nothing; short of it, it completes the fit along
//! the directions the data determine, which the inner steps approach only at the rate the
//! network's Jacobian allows. No extra network evaluation.
//!
//! Options beyond the paper (for cheaper runs; issue 11 measures what they pay): `start`
//! begins at `x_init + sigma_max eps` with `x_init` the pseudo-inverse `H^+ y` or the
//! Tikhonov estimate instead of pure noise (with a `sigma_max` well below 80, so that the
//! start keeps what the measurement says); `inner_tol` ends the inner steps of an image at
//! a noise level once its step is small, `rms(step) <= inner_tol * sigma` (each image
//! stops on its own and counts only the passes it made, so results do not depend on the
//! batch); `guide_below` takes inner steps only at levels with `sigma <= guide_below`
//! (above, plain DDIM: at high sigma the network's Jacobian is sigma times its
//! epsilon-prediction error, and a full step there can throw x off the data; see
//! `examples/vml_trace.rs` of vmlmap-bench); `lr_end` makes the step size a geometric
//! schedule over the levels, `lr` at the first and `lr_end` at the last
//! (`lr_i = lr (lr_end/lr)^(i/(N-1))`); `optimizer=adam` replaces the SGD inner steps by
//! Adam (Kingma and Ba 2015; beta1 = 0.9, beta2 = 0.999, eps = 1e-8) on the same
//! direction, its moments restarted at each noise level (the loss changes with sigma) and
//! its step `lr_i * sigma` (Adam's step is about `lr` per pixel whatever the gradient's
//! scale, so it is given in units of the noise level). Adam normalises each pixel on its
//! own and so gives up the Gram preconditioning's joint scaling; issue 11 measures whether
//! that pays.

mod config;
mod direction;
pub mod trace;

pub use config::{FullConfig, Optimizer, PlainConfig, Preconditioning, Start, VmlMapConfig};
pub use direction::{
    final_data_step, minimise_at_sigma, plain_lipschitz, plain_step_scale, vml_direction,
    InnerOptimiser, VmlDirection,
};

use crate::adam::Adam;
use crate::common::Ddim;
use crate::driver::{Level, ReverseProcess, Run};
use crate::{Computes, Declaration, Observer, Problem, Solution, SolverError};
use direction::cotangent;
use vmlmap_core::schedule::karras;
use vmlmap_core::vector::{axpy, norm, scale, sub};
use vmlmap_core::Denoiser;

/// How the registry knows VML-MAP.
pub static DECLARATION: Declaration = Declaration::of::<VmlMapConfig>(
    "vml-map",
    "VML-MAP (Gutha et al. 2025): minimise the variational mode-seeking loss at each level, Gram-preconditioned",
    Computes::Mode,
    true,
);

/// How the registry knows VML-MAP on the full VML, trace terms included.
pub static FULL_DECLARATION: Declaration = Declaration::of::<FullConfig>(
    "vml-map-full",
    "VML-MAP on the full VML of Proposition 2: the trace terms too, by Hutchinson probes and central differences of VJPs",
    Computes::Mode,
    true,
);

/// How the registry knows VML-MAP without the preconditioner.
pub static PLAIN_DECLARATION: Declaration = Declaration::of::<PlainConfig>(
    "vml-map-plain",
    "VML-MAP with plain (un-preconditioned) gradient steps, the paper's Algorithm 1",
    Computes::Mode,
    true,
);

/// The validated VML-MAP solver.
#[derive(Clone, Debug)]
pub struct VmlMap {
    cfg: VmlMapConfig,
}

impl VmlMap {
    pub fn config(&self) -> &VmlMapConfig {
        &self.cfg
    }

    /// The noise levels of the run, rounded to the denoiser's grid.
    pub fn sigmas(&self, denoiser: &dyn Denoiser) -> Vec<f64> {
        let c = &self.cfg;
        karras(c.steps, c.sigma_max, c.sigma_min, c.rho)
            .expect("validated configuration")
            .into_iter()
            .map(|s| denoiser.round_sigma(s))
            .collect()
    }

    /// The step size at level `i` of `levels` before any per-problem scaling: `lr`, or the
    /// geometric schedule from `lr` to `lr_end`.
    pub fn level_lr(&self, i: usize, levels: usize) -> f64 {
        match self.cfg.lr_end {
            Some(end) if levels > 1 => {
                self.cfg.lr * (end / self.cfg.lr).powf(i as f64 / (levels - 1) as f64)
            }
            Some(end) => end,
            None => self.cfg.lr,
        }
    }

    /// The inner step size at level `i` of `levels`, at `sigma`.
    fn step_size(&self, problem: &Problem, i: usize, levels: usize, sigma: f64) -> f64 {
        let lr = self.level_lr(i, levels);
        match self.cfg.preconditioning {
            Preconditioning::Gram => lr,
            Preconditioning::Plain => lr * plain_step_scale(problem, sigma),
        }
    }
}

/// VML-MAP's state: the iterates and, for the trace terms, each image's probe stream.
pub struct VmlState {
    xs: Vec<Vec<f64>>,
    probe_rngs: Vec<vmlmap_core::rng::Rng>,
}

impl crate::driver::Iterates for VmlState {
    fn iterates(&self) -> &[Vec<f64>] {
        &self.xs
    }
    fn finish(self) -> Vec<Vec<f64>> {
        self.xs
    }
}

/// The probe streams: each image's own stream on another ChaCha stream id, so that the
/// probes change none of the draws the rest of the run makes.
fn probe_streams(run: &Run) -> Vec<vmlmap_core::rng::Rng> {
    run.rngs
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.set_stream(0x7472_6163_6573);
            r
        })
        .collect()
}

impl ReverseProcess for VmlMap {
    type State = VmlState;

    fn declaration(&self) -> &'static Declaration {
        match (self.cfg.preconditioning, self.cfg.full) {
            (_, true) => &FULL_DECLARATION,
            (Preconditioning::Gram, false) => &DECLARATION,
            (Preconditioning::Plain, false) => &PLAIN_DECLARATION,
        }
    }

    fn levels(&self, denoiser: &dyn Denoiser) -> Result<Vec<f64>, SolverError> {
        Ok(self.sigmas(denoiser))
    }

    fn start(&self, run: &mut Run, sigma0: f64) -> Result<Self::State, SolverError> {
        let probe_rngs = probe_streams(run);
        let xs = run.noise_start(sigma0);
        Ok(VmlState {
            xs: self.shift_start(run.problems, xs),
            probe_rngs,
        })
    }

    fn step(&self, run: &mut Run, l: Level, st: &mut Self::State) -> Result<(), SolverError> {
        self.inner_steps(run, l, &mut st.xs, &mut st.probe_rngs)?;
        let xs = &mut st.xs;
        let d = run.net.denoise(xs, l.sigma)?;
        let ddim = Ddim::new(l.sigma, l.next, self.cfg.eta);
        let last = l.next == 0.0 && self.cfg.final_data_step;
        for (b, p) in run.problems.iter().enumerate() {
            xs[b] = if last {
                final_data_step(p, &xs[b], &d[b], l.sigma)
            } else {
                ddim.step(&xs[b], &d[b], &mut run.rngs[b])
            };
        }
        Ok(())
    }
}

impl VmlMap {
    /// The start `sigma_0 eps`, shifted by the configured initial estimate.
    fn shift_start(&self, problems: &[Problem], mut xs: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
        if self.cfg.start != Start::Noise {
            for (p, xb) in problems.iter().zip(xs.iter_mut()) {
                let init = match self.cfg.start {
                    Start::Pinv => p.op.pinv(&p.y),
                    _ => p.op.regularized_pinv(
                        &p.y,
                        p.sigma_y * p.sigma_y / crate::tikhonov::PRIOR_VARIANCE,
                    ),
                };
                for (v, i) in xb.iter_mut().zip(init) {
                    *v += i;
                }
            }
        }
        xs
    }

    /// The inner steps of one level along the VML_S direction (all the batch in each
    /// network evaluation; with `inner_tol`, an image that has stopped rides along and is
    /// not charged).
    fn inner_steps(
        &self,
        run: &mut Run,
        l: Level,
        xs: &mut [Vec<f64>],
        probe_rngs: &mut [vmlmap_core::rng::Rng],
    ) -> Result<(), SolverError> {
        let (n, sigma) = (run.n, l.sigma);
        let inner = match self.cfg.guide_below {
            Some(g) if sigma > g => 0,
            _ => self.cfg.inner,
        };
        let mut active = vec![true; xs.len()];
        let mut adam: Vec<Adam> = match self.cfg.optimizer {
            Optimizer::Adam if inner > 0 => {
                (0..xs.len()).map(|_| Adam::new(n, 0.9, 0.999)).collect()
            }
            _ => Vec::new(),
        };
        let tol = self.cfg.inner_tol;
        for _ in 0..inner {
            if !active.iter().any(|&a| a) {
                break;
            }
            let lin = run.net.linearize_counting(xs, sigma, Some(&active))?;
            let w: Vec<Vec<f64>> = run
                .problems
                .iter()
                .zip(xs.iter().zip(&lin.outputs))
                .map(|(p, (xb, db))| cotangent(p, xb, db, sigma, self.cfg.preconditioning))
                .collect();
            let mut dir = lin.vjp(&w)?;
            if self.cfg.probes > 0 {
                let terms = trace::TraceTerms {
                    probes: self.cfg.probes,
                    eps: self.cfg.trace_eps,
                    cov: self.cfg.trace_cov,
                    h: self.cfg.trace_h,
                    preconditioning: self.cfg.preconditioning,
                };
                let extra = trace::trace_direction(
                    &terms,
                    &run.net,
                    run.problems,
                    xs,
                    sigma,
                    &active,
                    probe_rngs,
                )?;
                for (d, e) in dir.iter_mut().zip(&extra) {
                    axpy(d, 1.0, e);
                }
            }
            for (b, (p, db)) in run.problems.iter().zip(&dir).enumerate() {
                if !active[b] {
                    continue;
                }
                let xb = &mut xs[b];
                let lr = self.step_size(p, l.index, l.total, sigma);
                // The step's RMS, only where the stopping rule needs it.
                let rms = match adam.get_mut(b) {
                    Some(state) => {
                        let before = tol.map(|_| xb.to_vec());
                        state.step(xb, db, lr * sigma);
                        before.map(|x0| norm(&sub(xb, &x0)) / (n as f64).sqrt())
                    }
                    None => {
                        axpy(xb, -lr, db);
                        tol.map(|_| lr * (db.iter().map(|v| v * v).sum::<f64>() / n as f64).sqrt())
                    }
                };
                if let (Some(tol), Some(rms)) = (tol, rms) {
                    active[b] = rms > tol * sigma;
                }
            }
        }
        Ok(())
    }

    /// One problem's run from a given standard-normal starting noise (`x = sigma_0 *
    /// noise`); the DDIM noise (when `eta > 0`) comes from the stream seeded by `seed`.
    pub fn solve_from_noise(
        &self,
        problem: &Problem,
        denoiser: &dyn Denoiser,
        noise: &[f64],
        seed: u64,
        observer: &mut dyn Observer,
    ) -> Result<Solution, SolverError> {
        crate::check_batch(std::slice::from_ref(problem), denoiser, &[seed])?;
        let given = FromNoise { vml: self, noise };
        let mut out = crate::driver::drive(
            &given,
            std::slice::from_ref(problem),
            denoiser,
            &[seed],
            observer,
        )?;
        Ok(out.remove(0))
    }
}

/// VML-MAP started from given noise instead of its stream's first draw.
#[derive(Debug)]
struct FromNoise<'a> {
    vml: &'a VmlMap,
    noise: &'a [f64],
}

impl ReverseProcess for FromNoise<'_> {
    type State = VmlState;

    fn declaration(&self) -> &'static Declaration {
        ReverseProcess::declaration(self.vml)
    }
    fn levels(&self, denoiser: &dyn Denoiser) -> Result<Vec<f64>, SolverError> {
        self.vml.levels(denoiser)
    }
    fn start(&self, run: &mut Run, sigma0: f64) -> Result<Self::State, SolverError> {
        Ok(VmlState {
            probe_rngs: probe_streams(run),
            xs: self
                .vml
                .shift_start(run.problems, vec![scale(self.noise, sigma0)]),
        })
    }
    fn step(&self, run: &mut Run, l: Level, xs: &mut Self::State) -> Result<(), SolverError> {
        self.vml.step(run, l, xs)
    }
}
