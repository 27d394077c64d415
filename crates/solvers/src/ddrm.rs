//! DDRM (Kawar, Elad, Ermon, Song, "Denoising diffusion restoration models", NeurIPS 2022;
//! docs/algorithms.md §8): a DDIM-like sampler run in the spectral basis of `H = U S V^T`, where
//! the measurement `y_bar_j = (U^T y)_j / s_j` of each coordinate is a noisy observation of
//! `(V^T x0)_j` with noise `sigma_y / s_j`. From level `sigma` to `next`, with
//! `x0_bar = V^T D` and `x_bar = V^T x` (its eq. 7–8 in the VE form):
//! - unobserved (`s_j = 0`): `x0_bar + sqrt(1 - eta²) next (x_bar - x0_bar) / sigma + eta next z`;
//! - observed more noisily than the level (`next < sigma_y / s_j`):
//!   `x0_bar + sqrt(1 - eta²) next (y_bar - x0_bar) / (sigma_y / s_j) + eta next z`;
//! - observed less noisily (`next >= sigma_y / s_j`):
//!   `(1 - eta_b) x0_bar + eta_b y_bar + sqrt(next² - eta_b² sigma_y² / s_j²) z`.
//!
//! The run starts from `y_bar + sqrt(sigma_max² - sigma_y²/s_j²) z` on the observed
//! coordinates and `sigma_max z` elsewhere, and returns `D` at the last level. No VJP.
//!
//! Defaults (the paper and official code): 20 steps on the DDPM table, eta = 0.85,
//! eta_b = 1; singular values below `sv_threshold = 0.03` are treated as zero (the official
//! code does so for deblurring; masks and block averaging have none that small). Needs the
//! operator's SVD: FFT motion blur is refused (typed error).

use crate::common::{ddpm_levels, unit};
use crate::driver::{Iterates, Level, ReverseProcess, Run};
use crate::{Computes, Declaration, Problem, SolverError};
use vmlmap_core::rng::normal_vec;
use vmlmap_core::Denoiser;

/// How the registry knows it.
pub static DECLARATION: Declaration = Declaration::of::<Ddrm>(
    "ddrm",
    "denoising diffusion restoration models (Kawar et al. 2022): DDIM in the operator's SVD basis",
    Computes::Sample,
    true,
);

/// Settings of DDRM.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Ddrm {
    /// Steps on the DDPM table.
    pub steps: usize,
    /// Stochasticity of the unobserved and noisily observed coordinates, in [0, 1].
    pub eta: f64,
    /// Weight of the measurement on the coordinates observed less noisily than the level,
    /// in [0, 1].
    pub eta_b: f64,
    /// Singular values below this share of the largest count as zero (the official code's
    /// deblurring threshold).
    pub sv_threshold: f64,
}

impl Default for Ddrm {
    fn default() -> Self {
        Self {
            steps: 20,
            eta: 0.85,
            eta_b: 1.0,
            sv_threshold: 0.03,
        }
    }
}

impl Ddrm {
    pub fn check(self) -> Result<Self, SolverError> {
        crate::common::ddpm_sigmas(self.steps)?;
        unit("eta", self.eta)?;
        unit("eta_b", self.eta_b)?;
        if !(self.sv_threshold >= 0.0 && self.sv_threshold.is_finite()) {
            return Err(crate::common::invalid(
                "sv_threshold",
                self.sv_threshold,
                "must be non-negative and finite",
            ));
        }
        Ok(self)
    }
}

/// One problem in DDRM's coordinates: singular values (zero below the threshold) and the
/// spectral measurement `y_bar`.
struct Spectral {
    s: Vec<f64>,
    y_bar: Vec<f64>,
    sigma_y: f64,
}

/// The operator's SVD, which DDRM needs.
fn svd<'a>(p: &Problem<'a>) -> Result<&'a dyn vmlmap_operators::SvdBasis, SolverError> {
    p.op.svd().ok_or_else(|| SolverError::NeedsSvd {
        solver: "ddrm",
        operator: p.op.describe(),
    })
}

impl Ddrm {
    fn spectral(&self, p: &Problem) -> Result<Spectral, SolverError> {
        let svd = svd(p)?;
        let top = svd.spectrum().iter().cloned().fold(0.0, f64::max);
        let cut = self.sv_threshold.max(vmlmap_operators::RANK_TOL) * top.max(1e-300);
        let s: Vec<f64> = svd
            .spectrum()
            .iter()
            .map(|&v| if v > cut { v } else { 0.0 })
            .collect();
        let uy = svd.to_spectral(&svd.u_t(&p.y));
        let y_bar = uy
            .iter()
            .zip(&s)
            .map(|(u, &s)| if s > 0.0 { u / s } else { 0.0 })
            .collect();
        Ok(Spectral {
            s,
            y_bar,
            sigma_y: p.sigma_y,
        })
    }

    /// The start `V c`: `c_j = y_bar_j + sqrt(top² - (sigma_y/s_j)²) z_j` where the
    /// coordinate is observed less noisily than `top`, `top z_j` elsewhere.
    fn start_one(
        sp: &Spectral,
        svd: &dyn vmlmap_operators::SvdBasis,
        top: f64,
        z: &[f64],
    ) -> Vec<f64> {
        let c: Vec<f64> = (0..z.len())
            .map(|j| {
                let s = sp.s[j];
                let noise = if s > 0.0 {
                    sp.sigma_y / s
                } else {
                    f64::INFINITY
                };
                if noise < top {
                    sp.y_bar[j] + (top * top - noise * noise).sqrt() * z[j]
                } else {
                    top * z[j]
                }
            })
            .collect();
        svd.v(&c)
    }

    /// One image's move from `sigma` to `next` (its eq. 7–8, module doc).
    #[allow(clippy::too_many_arguments)]
    fn move_one(
        &self,
        sp: &Spectral,
        svd: &dyn vmlmap_operators::SvdBasis,
        x: &[f64],
        d: &[f64],
        sigma: f64,
        next: f64,
        z: &[f64],
    ) -> Vec<f64> {
        let x0 = svd.v_t(d);
        let xb = svd.v_t(x);
        let keep = (1.0 - self.eta * self.eta).sqrt();
        let c: Vec<f64> = (0..z.len())
            .map(|j| {
                let s = sp.s[j];
                if s == 0.0 {
                    return x0[j] + keep * next * (xb[j] - x0[j]) / sigma + self.eta * next * z[j];
                }
                let noise = sp.sigma_y / s;
                if next < noise {
                    x0[j] + keep * next * (sp.y_bar[j] - x0[j]) / noise + self.eta * next * z[j]
                } else {
                    let var = (next * next - (self.eta_b * noise).powi(2)).max(0.0);
                    (1.0 - self.eta_b) * x0[j] + self.eta_b * sp.y_bar[j] + var.sqrt() * z[j]
                }
            })
            .collect();
        svd.v(&c)
    }
}

impl crate::Settings for Ddrm {
    fn into_solver(self) -> Result<Box<dyn crate::Solver>, SolverError> {
        Ok(Box::new(self.check()?))
    }
}

/// DDRM's state: the iterates, the problems in spectral form, and the last estimate.
pub struct DdrmState {
    xs: Vec<Vec<f64>>,
    specs: Vec<Spectral>,
    last: Vec<Vec<f64>>,
}

impl Iterates for DdrmState {
    fn iterates(&self) -> &[Vec<f64>] {
        &self.xs
    }
    fn finish(self) -> Vec<Vec<f64>> {
        self.last
    }
}

impl ReverseProcess for Ddrm {
    type State = DdrmState;

    fn declaration(&self) -> &'static Declaration {
        &DECLARATION
    }

    fn levels(&self, denoiser: &dyn Denoiser) -> Result<Vec<f64>, SolverError> {
        ddpm_levels(self.steps, denoiser)
    }

    fn start(&self, run: &mut Run, top: f64) -> Result<Self::State, SolverError> {
        let specs = run
            .problems
            .iter()
            .map(|p| self.spectral(p))
            .collect::<Result<Vec<_>, _>>()?;
        let mut xs = Vec::with_capacity(specs.len());
        for ((p, sp), rng) in run.problems.iter().zip(&specs).zip(run.rngs.iter_mut()) {
            let z = normal_vec(rng, run.n);
            xs.push(Self::start_one(sp, svd(p)?, top, &z));
        }
        Ok(DdrmState {
            xs,
            specs,
            last: Vec::new(),
        })
    }

    fn step(&self, run: &mut Run, l: Level, st: &mut Self::State) -> Result<(), SolverError> {
        let d = run.net.denoise(&st.xs, l.sigma)?;
        if l.next == 0.0 {
            st.last = d;
            return Ok(());
        }
        for (b, p) in run.problems.iter().enumerate() {
            let z = normal_vec(&mut run.rngs[b], run.n);
            st.xs[b] = self.move_one(&st.specs[b], svd(p)?, &st.xs[b], &d[b], l.sigma, l.next, &z);
        }
        Ok(())
    }
}
