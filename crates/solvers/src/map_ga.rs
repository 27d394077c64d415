//! MAP-GA (Gutha, Vinuesa, Azizpour, "Inverse problems with diffusion models: a MAP
//! estimation perspective", WACV 2025, arXiv 2407.20784; docs/algorithms.md §8), the
//! earlier MAP method of VML-MAP's authors, in its denoiser form "MAP-GA (D)": the
//! consistency model of the paper's Algorithm 2 is replaced by the denoiser `D`, which the
//! paper also evaluates (its Tables 1, 2 and 4).
//!
//! Algorithm 2 (`map-ga`), with `x̂ = D(z, sigma_t)` and `sigma_eps` the smallest level:
//! per noise level, `inner` gradient-ascent steps on `log p(x̂ | y)` through the denoiser,
//! `z <- z + lambda J(z)^T (g_lik + g_prior)`, where
//! - `g_lik = H^T ((sigma_y²/sigma_eps²) I + H H^T)^-1 (y - H x̂) / sigma_eps²`, the gradient
//!   of `log N(y; H x̂, sigma_y² I + sigma_eps² H H^T)`; here computed as
//!   `(H^T H + (sigma_y²/sigma_eps²) I)^-1 H^T (y - H x̂) / sigma_eps²` (the same matrix);
//! - `g_prior = (D(x̂, sigma_eps) - x̂) / sigma_eps²` (Tweedie's score at `sigma_eps`; one more
//!   network evaluation, no VJP), or 0 with `prior = false` ("MAP-GA (D, NP)");
//! - `lambda = lr (sigma_y² + sigma_eps²)`, the paper's step (`lr = 1`);
//!
//! then `x̂ = D(z, sigma_t)` and the re-noising `z = x̂ + sqrt(sigma_next² - sigma_eps²) eps`.
//! The output is the last `x̂`.
//!
//! Algorithm 3 (`map-ga-pgdm`, for noisy measurements): MAP-GA without the prior term while
//! `sigma_t > sigma_y`, re-noising to `sigma_next² - sigma_y²`, then ΠGDM below: `x̂ =
//! D(z, sigma_t)`, `mu = x̂ + J^T (H^T H + sigma_y²/r² I)^-1 H^T (y - H x̂)` (this project's
//! ΠGDM guidance, `r² = sigma²/(1 + sigma²)`) and `z = mu + sqrt(sigma_next² - sigma_eps²)
//! eps`. Noise-free (`sigma_y <= 1e-6`) it is `map-ga` without the prior term.
//!
//! Project choices: the step is scaled down where the paper's would diverge (`‖H‖² > 1`
//! with noise: compressed sensing; [`stable_factor`]); the levels are one Karras schedule (rho 7) from `sigma_max` to
//! `sigma_min`, rounded to the network's grid, `sigma_eps` its last level (the paper's
//! networks are EDM models with `sigma(t) = t`; a DDPM grid's smallest level is about
//! 0.01); the switch of Algorithm 3 is per image, at the first level of that schedule at
//! or below its `sigma_y` (the paper runs a separate 20-step ΠGDM schedule from `sigma_y`,
//! which a batch of measurements with different noise levels cannot share). Defaults:
//! 100 levels × 10 steps (the middle of the paper's budget-1000 ablation,
//! `(num steps, num iter)` from (20, 50) to (1000, 1)), `lr = 1`, no prior term.

use crate::common::{invalid, positive};
use crate::ddnm::NOISE_FREE;
use crate::driver::{Level, ReverseProcess, Run};
use crate::{Computes, Declaration, Problem, SolverError};
use vmlmap_core::rng::normal_vec;
use vmlmap_core::schedule::karras;
use vmlmap_core::vector::{axpy, sub};
use vmlmap_core::Denoiser;

/// How the registry knows MAP-GA.
pub static DECLARATION: Declaration = Declaration::of::<MapGa>(
    "map-ga",
    "MAP-GA (Gutha et al. 2025, denoiser form): gradient ascent on log p(D(z) | y) per level, then re-noising",
    Computes::Mode,
    true,
);

/// How the registry knows MAP-GA-PGDM.
pub static PGDM_DECLARATION: Declaration = Declaration::of::<MapGaPgdm>(
    "map-ga-pgdm",
    "MAP-GA down to sigma_y, then ΠGDM below it (Gutha et al. 2025, Algorithm 3, denoiser form)",
    Computes::Mode,
    true,
);

/// Settings of MAP-GA.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MapGa {
    /// Noise levels (Karras, sigma_max down to sigma_min).
    pub steps: usize,
    /// Gradient-ascent steps per level.
    pub inner: usize,
    /// Multiplies the paper's step sigma_y² + sigma_eps².
    pub lr: f64,
    /// The first noise level.
    pub sigma_max: f64,
    /// The last noise level (sigma_eps, after rounding to the network's grid).
    pub sigma_min: f64,
    /// Add the prior's gradient (D(x̂, sigma_eps) − x̂)/sigma_eps² (one more network
    /// evaluation per step: "MAP-GA (D)"); by default left out ("MAP-GA (D, NP)", the
    /// better of the two in the paper's Tables 1 and 2), a likelihood ascent.
    pub prior: bool,
    /// Set by the solver's name: switch to ΠGDM below sigma_y (map-ga-pgdm).
    #[serde(skip)]
    pub pgdm: bool,
}

impl Default for MapGa {
    fn default() -> Self {
        Self {
            steps: 100,
            inner: 10,
            lr: 1.0,
            sigma_max: 80.0,
            sigma_min: 0.002,
            prior: false,
            pgdm: false,
        }
    }
}

/// The settings of `map-ga-pgdm`: MAP-GA's (without the prior term by default, as the
/// paper's Algorithm 3).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct MapGaPgdm(pub MapGa);

impl Default for MapGaPgdm {
    fn default() -> Self {
        Self(MapGa {
            pgdm: true,
            ..MapGa::default()
        })
    }
}

impl MapGa {
    pub fn check(self) -> Result<Self, SolverError> {
        for (field, v) in [("steps", self.steps), ("inner", self.inner)] {
            if v == 0 {
                return Err(invalid(field, 0, "need at least 1"));
            }
            crate::common::at_most(field, v)?;
        }
        positive("lr", self.lr)?;
        positive("sigma_min", self.sigma_min)?;
        if !(self.sigma_max > self.sigma_min && self.sigma_max.is_finite()) {
            return Err(invalid(
                "sigma_max",
                self.sigma_max,
                &format!("must exceed sigma_min = {}", self.sigma_min),
            ));
        }
        Ok(self)
    }

    /// `sigma_eps`: the last level on the network's grid.
    fn sigma_eps(&self, denoiser: &dyn Denoiser) -> f64 {
        denoiser.round_sigma(self.sigma_min)
    }

    /// Whether image `p` takes a MAP-GA step at `sigma` (else, in map-ga-pgdm, ΠGDM's).
    fn ascends(&self, p: &Problem, sigma: f64) -> bool {
        !self.pgdm || p.sigma_y <= NOISE_FREE || sigma > p.sigma_y
    }

    /// The level the re-noising of MAP-GA subtracts: sigma_y in map-ga-pgdm (its MAP-GA
    /// phase ends at sigma_y), sigma_eps otherwise.
    fn floor(&self, p: &Problem, eps: f64) -> f64 {
        if self.pgdm && p.sigma_y > NOISE_FREE {
            p.sigma_y.max(eps)
        } else {
            eps
        }
    }

    /// The inner gradient-ascent steps of the images marked `ascend`.
    fn ascend(
        &self,
        run: &mut Run,
        l: Level,
        xs: &mut [Vec<f64>],
        ascend: &[bool],
    ) -> Result<(), SolverError> {
        if !ascend.iter().any(|&a| a) {
            return Ok(());
        }
        let eps = self.sigma_eps(run.net.denoiser());
        let e2 = eps * eps;
        for _ in 0..self.inner {
            let lin = run.net.linearize_counting(xs, l.sigma, Some(ascend))?;
            let prior = if self.prior {
                Some(run.net.denoise_counting(&lin.outputs, eps, Some(ascend))?)
            } else {
                None
            };
            let w: Vec<Vec<f64>> = run
                .problems
                .iter()
                .enumerate()
                .map(|(b, p)| {
                    let xh = &lin.outputs[b];
                    if !ascend[b] {
                        return vec![0.0; xh.len()];
                    }
                    let kappa = p.sigma_y * p.sigma_y / e2;
                    let step = self.lr * (p.sigma_y * p.sigma_y + e2) * stable_factor(p, kappa);
                    let resid = sub(&p.y, &p.op.apply(xh));
                    let mut g = p.op.regularized_pinv(&resid, kappa);
                    if let Some(d) = &prior {
                        axpy(&mut g, 1.0, &sub(&d[b], xh));
                    }
                    g.iter_mut().for_each(|v| *v *= step / e2);
                    g
                })
                .collect();
            let dir = lin.vjp(&w)?;
            for (b, d) in dir.iter().enumerate() {
                if ascend[b] {
                    axpy(&mut xs[b], 1.0, d);
                }
            }
        }
        Ok(())
    }
}

/// Project choice: the paper's step makes the likelihood ascent contract each spectral
/// coordinate by `1 - (1 + kappa) s² / (s² + kappa)`, `kappa = sigma_y²/sigma_eps²`, which
/// leaves (-1, 1), and diverges, where `s² > 1` and `kappa` is large (compressed sensing,
/// `‖H‖² ≈ 6`, with noise). The step is scaled down to keep that factor above -0.9 at
/// `s = ‖H‖`; it never binds where `‖H‖ <= 1` (masks, averaging, blurs: the paper's tasks).
fn stable_factor(p: &Problem, kappa: f64) -> f64 {
    let s2 = p.op.norm().powi(2);
    (1.9 * (s2 + kappa) / ((1.0 + kappa) * s2)).min(1.0)
}

impl crate::Settings for MapGa {
    fn into_solver(self) -> Result<Box<dyn crate::Solver>, SolverError> {
        Ok(Box::new(self.check()?))
    }
}

impl crate::Settings for MapGaPgdm {
    fn into_solver(self) -> Result<Box<dyn crate::Solver>, SolverError> {
        Ok(Box::new(
            MapGa {
                pgdm: true,
                ..self.0
            }
            .check()?,
        ))
    }
}

impl ReverseProcess for MapGa {
    type State = Vec<Vec<f64>>;

    fn declaration(&self) -> &'static Declaration {
        if self.pgdm {
            &PGDM_DECLARATION
        } else {
            &DECLARATION
        }
    }

    fn levels(&self, denoiser: &dyn Denoiser) -> Result<Vec<f64>, SolverError> {
        let eps = self.sigma_eps(denoiser);
        let all = karras(self.steps + 1, self.sigma_max, self.sigma_min, 7.0)
            .map_err(|e| invalid("steps", self.steps, &e.to_string()))?;
        Ok(all[..self.steps]
            .iter()
            .map(|&s| denoiser.round_sigma(s).max(eps))
            .collect())
    }

    fn start(&self, run: &mut Run, sigma0: f64) -> Result<Self::State, SolverError> {
        Ok(run.noise_start(sigma0))
    }

    fn step(&self, run: &mut Run, l: Level, xs: &mut Self::State) -> Result<(), SolverError> {
        let ascend: Vec<bool> = run
            .problems
            .iter()
            .map(|p| self.ascends(p, l.sigma))
            .collect();
        self.ascend(run, l, xs, &ascend)?;
        let eps = self.sigma_eps(run.net.denoiser());
        let guided: Vec<bool> = ascend.iter().map(|a| !a).collect();
        // x̂ for every image; the ΠGDM images also need its VJP.
        let (xh, guidance) = if guided.iter().any(|&g| g) {
            let mut lin = run.net.linearize_counting(xs, l.sigma, None)?;
            let xh = std::mem::take(&mut lin.outputs);
            let w: Vec<Vec<f64>> = run
                .problems
                .iter()
                .zip(&xh)
                .zip(&guided)
                .map(|((p, d), &g)| {
                    if g {
                        crate::pigdm::guidance_cotangent(p, d, l.sigma)
                    } else {
                        vec![0.0; d.len()]
                    }
                })
                .collect();
            // Only the ΠGDM images are charged the VJP.
            let g = lin.vjp_counting(&w, &guided)?;
            (xh, Some(g))
        } else {
            (run.net.denoise(xs, l.sigma)?, None)
        };
        let n = run.n;
        for (b, p) in run.problems.iter().enumerate() {
            let mut x = xh[b].clone();
            let floor = if guided[b] { eps } else { self.floor(p, eps) };
            if let (Some(g), true) = (&guidance, guided[b]) {
                axpy(&mut x, 1.0, &g[b]);
            }
            let c = (l.next * l.next - floor * floor).max(0.0).sqrt();
            if c > 0.0 {
                axpy(&mut x, c, &normal_vec(&mut run.rngs[b], n));
            }
            xs[b] = x;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Silent, Solver};
    use vmlmap_core::Shape;
    use vmlmap_operators::TaskSpec;
    use vmlmap_priors::{Covariance, GaussianPrior};

    #[test]
    fn noise_free_map_ga_lands_on_the_data() {
        // A Gaussian prior and a mask: each ascent step is the pseudo-inverse correction
        // pulled through J; the output fits the observed pixels.
        let shape = Shape::new(1, 8, 8).unwrap();
        let prior = GaussianPrior::new(shape, vec![0.1; 64], Covariance::Isotropic(0.2)).unwrap();
        let op = TaskSpec::new("inpaint-box").unwrap().build(shape).unwrap();
        let x0: Vec<f64> = (0..64).map(|i| ((i % 7) as f64 - 3.0) / 5.0).collect();
        let y = op.apply(&x0);
        let p = Problem::new(op.as_ref(), y.clone(), 1e-9).unwrap();
        let s = MapGa {
            steps: 30,
            inner: 5,
            prior: true,
            ..MapGa::default()
        };
        let sol = s
            .solve_batch(std::slice::from_ref(&p), &prior, &[1], &mut Silent)
            .unwrap()
            .remove(0);
        assert!(p.residual(&sol.x) < 1e-3, "residual {}", p.residual(&sol.x));
        // 30 levels × (5 × (1 + 1 prior) + 1 final) evaluations, 5 VJPs per level.
        assert_eq!((sol.nfe, sol.vjp), (30 * 11, 30 * 5));
    }

    #[test]
    fn map_ga_pgdm_switches_to_pgdm_below_sigma_y() {
        let shape = Shape::new(1, 8, 8).unwrap();
        let prior = GaussianPrior::new(shape, vec![0.0; 64], Covariance::Isotropic(0.2)).unwrap();
        let op = TaskSpec::new("sr2").unwrap().build(shape).unwrap();
        let y = vec![0.1; op.output_len()];
        let noisy = Problem::new(op.as_ref(), y.clone(), 0.05).unwrap();
        let clean = Problem::new(op.as_ref(), y, 1e-9).unwrap();
        let s = MapGa {
            steps: 20,
            inner: 3,
            prior: false,
            pgdm: true,
            ..MapGa::default()
        };
        let levels = s.levels(&prior).unwrap();
        let below = levels.iter().filter(|&&l| l <= 0.05).count();
        assert!(below > 0 && below < 20, "{levels:?}");
        let run = |p: &Problem| {
            s.solve_batch(std::slice::from_ref(p), &prior, &[2], &mut Silent)
                .unwrap()
                .remove(0)
        };
        let (a, b) = (run(&noisy), run(&clean));
        // Below sigma_y one linearisation and one VJP per level instead of the ascent.
        assert_eq!(a.vjp, 3 * (20 - below) + below);
        assert_eq!(a.nfe, 3 * (20 - below) + 20);
        assert_eq!((b.nfe, b.vjp), (3 * 20 + 20, 3 * 20));
        assert!(a.x.iter().all(|v| v.is_finite()));
    }
}
