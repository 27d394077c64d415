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

use crate::common::{ddpm_levels, flat, solutions, split, unit};
use crate::{check_batch, Observer, Problem, Solution, Solver, SolverError};
use vmlmap_core::rng::{normal_vec, seeded};
use vmlmap_core::Denoiser;

/// Settings of DDRM.
#[derive(Clone, Debug)]
pub struct Ddrm {
    pub steps: usize,
    pub eta: f64,
    pub eta_b: f64,
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
struct Spectral<'a> {
    svd: &'a dyn vmlmap_operators::SvdBasis,
    s: Vec<f64>,
    y_bar: Vec<f64>,
    sigma_y: f64,
}

impl Ddrm {
    fn spectral<'a>(&self, p: &'a Problem) -> Result<Spectral<'a>, SolverError> {
        let svd = p.op.svd().ok_or_else(|| SolverError::NeedsSvd {
            solver: "ddrm",
            operator: p.op.describe(),
        })?;
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
            svd,
            s,
            y_bar,
            sigma_y: p.sigma_y,
        })
    }
}

impl Solver for Ddrm {
    fn name(&self) -> &'static str {
        "ddrm"
    }
    fn computes(&self) -> crate::Computes {
        crate::Computes::Sample
    }

    fn solve_batch(
        &self,
        problems: &[Problem],
        denoiser: &dyn Denoiser,
        seeds: &[u64],
        observer: &mut dyn Observer,
    ) -> Result<Vec<Solution>, SolverError> {
        check_batch(problems, denoiser, seeds)?;
        let n = denoiser.shape().numel();
        let sigmas = ddpm_levels(self.steps, denoiser)?;
        let specs = problems
            .iter()
            .map(|p| self.spectral(p))
            .collect::<Result<Vec<_>, _>>()?;
        let mut rngs: Vec<_> = seeds.iter().map(|&s| seeded(s)).collect();
        let top = sigmas[0];
        let mut xs: Vec<Vec<f64>> = specs
            .iter()
            .zip(rngs.iter_mut())
            .map(|(sp, rng)| {
                let z = normal_vec(rng, n);
                let c: Vec<f64> = (0..n)
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
                sp.svd.v(&c)
            })
            .collect();
        let mut last = Vec::new();
        for (i, &sigma) in sigmas.iter().enumerate() {
            let next = sigmas.get(i + 1).copied().unwrap_or(0.0);
            let d = split(
                &denoiser.denoise_batch(&flat(&xs), &vec![sigma; problems.len()])?,
                n,
            );
            if next == 0.0 {
                last = d;
                observer.on_step(i, sigmas.len(), sigma);
                break;
            }
            for (b, sp) in specs.iter().enumerate() {
                let x0 = sp.svd.v_t(&d[b]);
                let xb = sp.svd.v_t(&xs[b]);
                let z = normal_vec(&mut rngs[b], n);
                let keep = (1.0 - self.eta * self.eta).sqrt();
                let c: Vec<f64> = (0..n)
                    .map(|j| {
                        let s = sp.s[j];
                        if s == 0.0 {
                            return x0[j]
                                + keep * next * (xb[j] - x0[j]) / sigma
                                + self.eta * next * z[j];
                        }
                        let noise = sp.sigma_y / s;
                        if next < noise {
                            x0[j]
                                + keep * next * (sp.y_bar[j] - x0[j]) / noise
                                + self.eta * next * z[j]
                        } else {
                            let var = (next * next - (self.eta_b * noise).powi(2)).max(0.0);
                            (1.0 - self.eta_b) * x0[j]
                                + self.eta_b * sp.y_bar[j]
                                + var.sqrt() * z[j]
                        }
                    })
                    .collect();
                xs[b] = sp.svd.v(&c);
            }
            crate::common::check_finite(&xs, i, sigma)?;
            observer.on_step(i, sigmas.len(), sigma);
        }
        Ok(solutions(last, sigmas.len(), 0))
    }
}
