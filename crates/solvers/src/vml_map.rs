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

use crate::adam::Adam;
use crate::common::{fresh_noise_std, invalid, unit};
use crate::{Observer, Problem, Solution, Solver, SolverError};
use vmlmap_core::rng::{normal_vec, seeded};
use vmlmap_core::schedule::karras;
use vmlmap_core::vector::{add, all_finite, axpy, norm, scale, sub};
use vmlmap_core::Denoiser;

/// The inner optimiser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Optimizer {
    /// `x -= lr_i d` (default).
    Sgd,
    /// Adam on `d`, restarted at each level, step `lr_i sigma` (module doc).
    Adam,
}

impl std::str::FromStr for Optimizer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sgd" => Ok(Self::Sgd),
            "adam" => Ok(Self::Adam),
            _ => Err(format!("{s:?} is not one of sgd, adam")),
        }
    }
}

/// How the VML_S gradient is conditioned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preconditioning {
    /// `J^T P g` (default; needs the operator's Gram solve).
    Gram,
    /// `J^T (sigma_y² g)`, un-preconditioned.
    Plain,
}

/// Where the reverse process starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// `sigma_max eps` (the paper).
    Noise,
    /// `H^+ y + sigma_max eps`.
    Pinv,
    /// `(H^T H + lambda I)^-1 H^T y + sigma_max eps`, `lambda = sigma_y² / 0.25`.
    Tikhonov,
}

impl std::str::FromStr for Start {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "noise" => Ok(Self::Noise),
            "pinv" => Ok(Self::Pinv),
            "tikhonov" => Ok(Self::Tikhonov),
            _ => Err(format!("{s:?} is not one of noise, pinv, tikhonov")),
        }
    }
}

/// VML-MAP settings (unchecked; see [`VmlMapConfig::check`]).
#[derive(Clone, Debug)]
pub struct VmlMapConfig {
    /// Reverse steps `N`.
    pub steps: usize,
    /// Inner steps `K` per noise level.
    pub inner: usize,
    /// Step size of the inner SGD.
    pub lr: f64,
    /// DDIM stochasticity in `[0, 1]`.
    pub eta: f64,
    pub sigma_max: f64,
    pub sigma_min: f64,
    /// Karras schedule exponent.
    pub rho: f64,
    pub preconditioning: Preconditioning,
    /// Return `D + (H^T H + lambda I)^-1 H^T (y - H D)` instead of `D` (see the module doc).
    pub final_data_step: bool,
    /// Where the reverse process starts (module doc).
    pub start: Start,
    /// Inner steps of an image end once `rms(step) <= inner_tol * sigma` (`None`: all `K`).
    pub inner_tol: Option<f64>,
    /// Inner steps only at levels with `sigma <= guide_below`; above, a plain DDIM step
    /// (one network evaluation). `None`: at every level (the paper).
    pub guide_below: Option<f64>,
    /// Step size at the last level; the step size falls (or rises) geometrically from `lr`
    /// to it over the levels. `None`: `lr` at every level.
    pub lr_end: Option<f64>,
    /// SGD (default) or Adam inner steps.
    pub optimizer: Optimizer,
}

/// The defaults for neural priors (issue 11's sweep, `docs/results/vml-sweep/`): start
/// from the Tikhonov estimate plus noise at sigma_max = 1 and take N = 10 levels down to
/// 0.002 with K = 5 inner steps each, 110 network passes per image (the paper's setting,
/// [`VmlMapConfig::paper`], takes 1,100). On the 20 shipped images it is the cheapest
/// setting of the sweep that loses nothing against the paper's setting: ahead of it in
/// mean PSNR in every case (+0.03 to +0.84 dB).
impl Default for VmlMapConfig {
    fn default() -> Self {
        Self {
            steps: 10,
            sigma_max: 1.0,
            start: Start::Tikhonov,
            ..Self::paper()
        }
    }
}

impl VmlMapConfig {
    /// The paper's algorithm (docs/algorithms.md §5) with the project's step size: N = 100
    /// levels, K = 5 inner steps at every level, lr 1.5, deterministic DDIM, pure-noise
    /// start. `vmlmap validate` runs these settings on the exact priors, where they reach
    /// the MAP as N grows; the default for neural priors is cheaper ([`Default`]).
    pub fn paper() -> Self {
        Self {
            steps: 100,
            inner: 5,
            lr: 1.5,
            eta: 0.0,
            sigma_max: 80.0,
            sigma_min: 0.002,
            rho: 7.0,
            preconditioning: Preconditioning::Gram,
            final_data_step: true,
            start: Start::Noise,
            inner_tol: None,
            guide_below: None,
            lr_end: None,
            optimizer: Optimizer::Sgd,
        }
    }

    /// The validated solver, or a typed error naming the first invalid setting.
    pub fn check(self) -> Result<VmlMap, SolverError> {
        if self.steps == 0 {
            return Err(invalid("steps", self.steps, "need at least 1 reverse step"));
        }
        if self.inner == 0 {
            return Err(invalid("inner", self.inner, "need at least 1 inner step"));
        }
        crate::common::at_most("steps", self.steps)?;
        crate::common::at_most("inner", self.inner)?;
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(invalid(
                "lr",
                self.lr,
                "step size must be positive and finite",
            ));
        }
        unit("eta", self.eta)?;
        if !(self.sigma_min > 0.0 && self.sigma_min.is_finite()) {
            return Err(invalid(
                "sigma_min",
                self.sigma_min,
                "must be positive and finite",
            ));
        }
        if !(self.sigma_max > self.sigma_min && self.sigma_max.is_finite()) {
            return Err(invalid(
                "sigma_max",
                self.sigma_max,
                &format!("must exceed sigma_min = {}", self.sigma_min),
            ));
        }
        if !(self.rho > 0.0 && self.rho.is_finite()) {
            return Err(invalid("rho", self.rho, "must be positive and finite"));
        }
        if let Some(t) = self.inner_tol {
            if !(t > 0.0 && t.is_finite()) {
                return Err(invalid("inner_tol", t, "must be positive and finite"));
            }
        }
        if let Some(l) = self.lr_end {
            if !(l > 0.0 && l.is_finite()) {
                return Err(invalid(
                    "lr_end",
                    l,
                    "step size must be positive and finite",
                ));
            }
        }
        if let Some(g) = self.guide_below {
            if g.is_nan() || g <= 0.0 {
                return Err(invalid("guide_below", g, "must be positive"));
            }
        }
        Ok(VmlMap { cfg: self })
    }
}

/// The validated VML-MAP solver.
#[derive(Clone, Debug)]
pub struct VmlMap {
    cfg: VmlMapConfig,
}

/// One evaluation of the descent direction.
pub struct VmlDirection {
    /// `D(x, sigma)`.
    pub denoised: Vec<f64>,
    /// `J^T P g` (preconditioned) or `J^T (sigma_y² g)` (plain).
    pub direction: Vec<f64>,
}

/// The VML_S descent direction at `x` and `sigma`: one forward with graph, one VJP.
pub fn vml_direction(
    problem: &Problem,
    denoiser: &dyn Denoiser,
    x: &[f64],
    sigma: f64,
    preconditioning: Preconditioning,
) -> Result<VmlDirection, SolverError> {
    let lin = denoiser.linearize(x, sigma)?;
    let d = lin.output().to_vec();
    let w = cotangent(problem, x, &d, sigma, preconditioning);
    let direction = lin.vjp(&w)?;
    Ok(VmlDirection {
        denoised: d,
        direction,
    })
}

/// The vector whose VJP is the descent direction: `P g` (preconditioned) or
/// `sigma_y² g` (plain), at `x` with denoised `d`.
fn cotangent(
    problem: &Problem,
    x: &[f64],
    d: &[f64],
    sigma: f64,
    preconditioning: Preconditioning,
) -> Vec<f64> {
    match preconditioning {
        Preconditioning::Gram => preconditioned_gradient(problem, x, d, sigma),
        Preconditioning::Plain => {
            let lambda = (problem.sigma_y / sigma).powi(2);
            let resid = sub(&problem.op.apply(d), &problem.y);
            add(&scale(&sub(x, d), lambda), &problem.op.adjoint(&resid))
        }
    }
}

/// The plain variant's step scale `1 / (‖H‖² + sigma_y²/sigma²)`.
pub fn plain_step_scale(problem: &Problem, sigma: f64) -> f64 {
    1.0 / (problem.op.norm().powi(2) + (problem.sigma_y / sigma).powi(2))
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

impl Solver for VmlMap {
    fn name(&self) -> &'static str {
        match self.cfg.preconditioning {
            Preconditioning::Gram => "vml-map",
            Preconditioning::Plain => "vml-map-plain",
        }
    }
    fn computes(&self) -> crate::Computes {
        crate::Computes::Mode
    }

    fn solve_batch(
        &self,
        problems: &[Problem],
        denoiser: &dyn Denoiser,
        seeds: &[u64],
        observer: &mut dyn Observer,
    ) -> Result<Vec<Solution>, SolverError> {
        crate::check_batch(problems, denoiser, seeds)?;
        let n = denoiser.shape().numel();
        let mut rngs: Vec<_> = seeds.iter().map(|&s| seeded(s)).collect();
        let noise: Vec<f64> = rngs.iter_mut().flat_map(|r| normal_vec(r, n)).collect();
        self.run(problems, denoiser, &noise, &mut rngs, observer)
    }
}

impl VmlMap {
    /// The run from a given standard-normal starting noise (`x = sigma_0 * noise`); `rng`
    /// feeds the DDIM noise when `eta > 0`.
    pub fn solve_from_noise(
        &self,
        problem: &Problem,
        denoiser: &dyn Denoiser,
        noise: &[f64],
        rng: &mut vmlmap_core::rng::Rng,
        observer: &mut dyn Observer,
    ) -> Result<Solution, SolverError> {
        crate::check_batch(std::slice::from_ref(problem), denoiser, &[0])?;
        let mut rngs = vec![rng.clone()];
        let mut out = self.run(
            std::slice::from_ref(problem),
            denoiser,
            noise,
            &mut rngs,
            observer,
        )?;
        *rng = rngs.remove(0);
        Ok(out.remove(0))
    }

    /// The batched run: image `b` of `noise` (the problems' images back to back) starts
    /// problem `b`, whose DDIM noise comes from `rngs[b]`. Every network evaluation covers
    /// the whole batch.
    fn run(
        &self,
        problems: &[Problem],
        denoiser: &dyn Denoiser,
        noise: &[f64],
        rngs: &mut [vmlmap_core::rng::Rng],
        observer: &mut dyn Observer,
    ) -> Result<Vec<Solution>, SolverError> {
        let n = denoiser.shape().numel();
        let sigmas = self.sigmas(denoiser);
        let mut x = scale(noise, sigmas[0]);
        if self.cfg.start != Start::Noise {
            for (p, xb) in problems.iter().zip(x.chunks_mut(n)) {
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
        // Passes per image (with inner_tol, images stop their inner steps on their own).
        let mut nfe = vec![0; problems.len()];
        let mut vjp = vec![0; problems.len()];
        for (i, &sigma) in sigmas.iter().enumerate() {
            let level = vec![sigma; problems.len()];
            let mut active = vec![true; problems.len()];
            let inner = match self.cfg.guide_below {
                Some(g) if sigma > g => 0,
                _ => self.cfg.inner,
            };
            let mut adam: Vec<Adam> = match self.cfg.optimizer {
                Optimizer::Adam if inner > 0 => (0..problems.len())
                    .map(|_| Adam::new(n, 0.9, 0.999))
                    .collect(),
                _ => Vec::new(),
            };
            for _ in 0..inner {
                if !active.iter().any(|&a| a) {
                    break;
                }
                let lin = denoiser.linearize_batch(&x, &level)?;
                let w: Vec<f64> = problems
                    .iter()
                    .zip(x.chunks(n).zip(lin.output().chunks(n)))
                    .flat_map(|(p, (xb, db))| cotangent(p, xb, db, sigma, self.cfg.preconditioning))
                    .collect();
                let dir = lin.vjp(&w)?;
                for (b, (p, (xb, db))) in problems
                    .iter()
                    .zip(x.chunks_mut(n).zip(dir.chunks(n)))
                    .enumerate()
                {
                    if !active[b] {
                        continue;
                    }
                    nfe[b] += 1;
                    vjp[b] += 1;
                    let lr = self.step_size(p, i, sigmas.len(), sigma);
                    let tol = self.cfg.inner_tol;
                    // The step's RMS, only where the stopping rule needs it.
                    let rms = match adam.get_mut(b) {
                        Some(state) => {
                            let before = tol.map(|_| xb.to_vec());
                            state.step(xb, db, lr * sigma);
                            before.map(|x0| norm(&sub(xb, &x0)) / (n as f64).sqrt())
                        }
                        None => {
                            axpy(xb, -lr, db);
                            tol.map(|_| {
                                lr * (db.iter().map(|v| v * v).sum::<f64>() / n as f64).sqrt()
                            })
                        }
                    };
                    if let (Some(tol), Some(rms)) = (tol, rms) {
                        active[b] = rms > tol * sigma;
                    }
                }
            }
            if !all_finite(&x) {
                return Err(SolverError::Diverged { step: i, sigma });
            }
            let d = denoiser.denoise_batch(&x, &level)?;
            for c in nfe.iter_mut() {
                *c += 1;
            }
            let next = sigmas.get(i + 1).copied().unwrap_or(0.0);
            let last = next == 0.0 && self.cfg.final_data_step;
            x = problems
                .iter()
                .zip(x.chunks(n).zip(d.chunks(n)))
                .zip(rngs.iter_mut())
                .flat_map(|((p, (xb, db)), rng)| {
                    if last {
                        final_data_step(p, xb, db, sigma)
                    } else {
                        ddim_step(xb, db, sigma, next, self.cfg.eta, rng)
                    }
                })
                .collect();
            observer.on_step(i, sigmas.len(), sigma);
        }
        Ok(x.chunks(n)
            .zip(nfe.into_iter().zip(vjp))
            .map(|(xb, (nfe, vjp))| Solution {
                x: xb.to_vec(),
                nfe,
                vjp,
            })
            .collect())
    }
}

/// The output with the final data step: `D - P g` (one preconditioned VML_S step taken on
/// `D` directly, as if `J = I`), i.e. `D - null_filter(x - D) - (H^T H + lambda I)^-1 H^T
/// (H D - y)`; zero change where the inner steps reached `g = 0`.
pub fn final_data_step(problem: &Problem, x: &[f64], d: &[f64], sigma: f64) -> Vec<f64> {
    sub(d, &preconditioned_gradient(problem, x, d, sigma))
}

/// `P g` at `x` with denoised `d`: the null-space filter of `x - D` plus the regularised
/// pseudo-inverse of `H D - y` (module doc), exact as `sigma_y -> 0`.
fn preconditioned_gradient(problem: &Problem, x: &[f64], d: &[f64], sigma: f64) -> Vec<f64> {
    let op = problem.op;
    let lambda = (problem.sigma_y / sigma).powi(2);
    let resid = sub(&op.apply(d), &problem.y);
    add(
        &op.null_filter(&sub(x, d), lambda),
        &op.regularized_pinv(&resid, lambda),
    )
}

/// `x' = D + sqrt(next² - c²) (x - D)/sigma + c z`, `c = eta * next * sqrt(1 - next²/sigma²)`
/// (DDIM in the variance-exploding form; `eta = 0` is deterministic, `next = 0` gives `D`).
pub fn ddim_step(
    x: &[f64],
    d: &[f64],
    sigma: f64,
    next: f64,
    eta: f64,
    rng: &mut vmlmap_core::rng::Rng,
) -> Vec<f64> {
    let c = fresh_noise_std(sigma, next, eta);
    let keep = (next * next - c * c).max(0.0).sqrt() / sigma;
    let mut out: Vec<f64> = d.iter().zip(x).map(|(d, x)| d + keep * (x - d)).collect();
    if c > 0.0 {
        let z = normal_vec(rng, x.len());
        axpy(&mut out, c, &z);
    }
    out
}

/// The inner optimiser run to convergence at one noise level.
#[derive(Clone, Copy, Debug)]
pub struct InnerOptimiser {
    pub preconditioning: Preconditioning,
    /// Step size along the direction.
    pub lr: f64,
    /// Iteration cap.
    pub cap: usize,
}

/// Minimises VML_S at one fixed `sigma` from `x0` until `converged(D(x))` or the cap.
/// Returns the final `x`, `D(x)` and the number of iterations (`cap` when it did not
/// converge).
pub fn minimise_at_sigma(
    problem: &Problem,
    denoiser: &dyn Denoiser,
    x0: &[f64],
    sigma: f64,
    opt: InnerOptimiser,
    mut converged: impl FnMut(&[f64]) -> bool,
) -> Result<(Vec<f64>, Vec<f64>, usize), SolverError> {
    let mut x = x0.to_vec();
    for it in 1..=opt.cap {
        let dir = vml_direction(problem, denoiser, &x, sigma, opt.preconditioning)?;
        axpy(&mut x, -opt.lr, &dir.direction);
        if !all_finite(&x) {
            return Err(SolverError::Diverged { step: it, sigma });
        }
        let d = denoiser.denoise(&x, sigma)?;
        if converged(&d) {
            return Ok((x, d, it));
        }
    }
    let d = denoiser.denoise(&x, sigma)?;
    Ok((x, d, opt.cap))
}

/// The largest eigenvalue of the Hessian of the rescaled loss `sigma_y² VML_S` at `x`, by
/// power iteration on differences of the plain direction (exact for quadratic losses).
pub fn plain_lipschitz(
    problem: &Problem,
    denoiser: &dyn Denoiser,
    x: &[f64],
    sigma: f64,
    iters: usize,
) -> Result<f64, SolverError> {
    let g0 = vml_direction(problem, denoiser, x, sigma, Preconditioning::Plain)?.direction;
    let mut v = normal_vec(&mut seeded(12345), x.len());
    let mut lambda = 0.0;
    for _ in 0..iters {
        let nv = vmlmap_core::vector::norm(&v);
        let v_unit = scale(&v, 1.0 / nv);
        let g1 = vml_direction(
            problem,
            denoiser,
            &add(x, &v_unit),
            sigma,
            Preconditioning::Plain,
        )?
        .direction;
        let hv = sub(&g1, &g0);
        lambda = vmlmap_core::vector::norm(&hv);
        v = hv;
    }
    Ok(lambda)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmlmap_core::Shape;
    use vmlmap_operators::TaskSpec;

    #[test]
    fn final_data_step_is_the_preconditioned_step_and_a_no_op_at_the_fixed_point() {
        // A mask: H^T H = diag(m), so P = diag(1 / (m/sigma_y² + 1/sigma²)) coordinate-wise.
        let shape = Shape::new(1, 6, 6).unwrap();
        let op = TaskSpec::new("inpaint-box").unwrap().build(shape).unwrap();
        let n = shape.numel();
        let m = op.adjoint(&op.apply(&vec![1.0; n]));
        let mut rng = seeded(3);
        let x = normal_vec(&mut rng, n);
        let d = normal_vec(&mut rng, n);
        let y = normal_vec(&mut rng, op.output_len());
        let (sigma, sigma_y) = (0.3, 0.05);
        let problem = Problem::new(op.as_ref(), y.clone(), sigma_y).unwrap();
        let got = final_data_step(&problem, &x, &d, sigma);
        let hty = op.adjoint(&y);
        for i in 0..n {
            let g = (x[i] - d[i]) / sigma.powi(2) + m[i] * (d[i] - hty[i]) / sigma_y.powi(2);
            let p = 1.0 / (m[i] / sigma_y.powi(2) + 1.0 / sigma.powi(2));
            assert!((got[i] - (d[i] - p * g)).abs() < 1e-12, "pixel {i}");
        }
        // At g = 0 (x = D - sigma² H^T (H D - y) / sigma_y²) the output is D itself.
        let resid = sub(&op.apply(&d), &y);
        let x0 = sub(&d, &scale(&op.adjoint(&resid), (sigma / sigma_y).powi(2)));
        let same = final_data_step(&problem, &x0, &d, sigma);
        assert!(same.iter().zip(&d).all(|(a, b)| (a - b).abs() < 1e-12));
    }
}
