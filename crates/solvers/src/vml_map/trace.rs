//! The trace terms of the full VML (Gutha, Vinuesa, Azizpour, arXiv 2512.10524,
//! Proposition 2; docs/algorithms.md §3), which the paper's practical loss VML_S drops:
//! `-Tr Cov/(2 sigma²) + Tr(H Cov Hᵀ)/(2 sigma_y²) = Tr(M J)` with `Cov = sigma² J` and
//! `M = -I/2 + sigma²/(2 sigma_y²) HᵀH`.
//!
//! Its gradient is estimated with Hutchinson probes `u` (±1 entries, `E[u uᵀ] = I`):
//! `grad Tr(M J) = E_u grad_x (vᵀ J(x) u)` with `v = M u`, and `grad_x (vᵀ J(x) u)` is the
//! derivative of the VJP `J(x)ᵀ v` along `u`, taken as the central difference
//! `(J(x + eps u)ᵀ v - J(x - eps u)ᵀ v) / (2 eps)`: two more forwards and VJPs per probe,
//! with no second derivative of the network (burn's autodiff and the native engine give
//! first-order VJPs only; a JVP of the VJP would need forward-mode through both). The
//! difference is exact to `O(eps²)` where the network is smooth.
//!
//! Conditioning (project choice, as for VML_S's `J^T (P g)`): the preconditioned solver
//! uses `v = P M u`, `P = (HᵀH/sigma_y² + I/sigma²)⁻¹`, which in the operator's spectral
//! basis is `sigma² (sigma² s² - sigma_y²) / (2 (sigma² s² + sigma_y²))`, bounded by
//! `sigma²/2` whatever `sigma_y`: `P M u = (sigma²/2) (w_h (u - N u) - w_c N u)` with `N` the
//! null-space filter `lambda (HᵀH + lambda I)⁻¹`, `lambda = sigma_y²/sigma²`, and `w_c`,
//! `w_h` the weights on the two terms. The plain solver uses `sigma_y² M u`, as it scales
//! `g`.

use super::Preconditioning;
use crate::driver::Network;
use crate::{Problem, SolverError};
use vmlmap_core::rng::{normal_vec, Rng};
use vmlmap_core::Denoiser;

/// The two trace terms' weights and the probes.
#[derive(Clone, Copy, Debug)]
pub struct TraceTerms {
    pub probes: usize,
    /// The central difference's step.
    pub eps: f64,
    /// Weight on `-Tr J / 2`.
    pub cov: f64,
    /// Weight on `sigma² Tr(H J Hᵀ) / (2 sigma_y²)`.
    pub h: f64,
    pub preconditioning: Preconditioning,
}

impl TraceTerms {
    /// The cotangent `v` of probe `u`: `P M u` (preconditioned) or `sigma_y² M u` (plain).
    pub fn cotangent(&self, problem: &Problem, u: &[f64], sigma: f64) -> Vec<f64> {
        let (op, sy2, s2) = (problem.op, problem.sigma_y.powi(2), sigma * sigma);
        match self.preconditioning {
            Preconditioning::Gram => {
                let nu = op.null_filter(u, sy2 / s2);
                u.iter()
                    .zip(&nu)
                    .map(|(u, nu)| 0.5 * s2 * (self.h * (u - nu) - self.cov * nu))
                    .collect()
            }
            Preconditioning::Plain => {
                let hth = op.adjoint(&op.apply(u));
                u.iter()
                    .zip(&hth)
                    .map(|(u, h)| -0.5 * self.cov * sy2 * u + 0.5 * self.h * s2 * h)
                    .collect()
            }
        }
    }
}

/// A ±1 probe (the signs of standard normal draws).
pub fn rademacher(rng: &mut Rng, n: usize) -> Vec<f64> {
    normal_vec(rng, n)
        .into_iter()
        .map(|z| if z >= 0.0 { 1.0 } else { -1.0 })
        .collect()
}

/// `(J(x + eps u)ᵀ v - J(x - eps u)ᵀ v) / (2 eps)` for one image: the gradient of `vᵀ J(x) u`.
pub fn probe_gradient(
    denoiser: &dyn Denoiser,
    x: &[f64],
    sigma: f64,
    u: &[f64],
    v: &[f64],
    eps: f64,
) -> Result<Vec<f64>, SolverError> {
    let shifted = |s: f64| -> Vec<f64> { x.iter().zip(u).map(|(x, u)| x + s * u).collect() };
    let plus = denoiser.vjp(&shifted(eps), sigma, v)?;
    let minus = denoiser.vjp(&shifted(-eps), sigma, v)?;
    Ok(plus
        .iter()
        .zip(&minus)
        .map(|(p, m)| (p - m) / (2.0 * eps))
        .collect())
}

/// The Hutchinson estimate of `grad_x Tr(A J(x))` for one image from `probes` probes,
/// `A` given by its action (symmetric).
pub fn trace_gradient(
    denoiser: &dyn Denoiser,
    x: &[f64],
    sigma: f64,
    a: &dyn Fn(&[f64]) -> Vec<f64>,
    probes: usize,
    eps: f64,
    rng: &mut Rng,
) -> Result<Vec<f64>, SolverError> {
    let mut sum = vec![0.0; x.len()];
    for _ in 0..probes {
        let u = rademacher(rng, x.len());
        let g = probe_gradient(denoiser, x, sigma, &u, &a(&u), eps)?;
        sum.iter_mut().zip(g).for_each(|(s, g)| *s += g);
    }
    sum.iter_mut().for_each(|s| *s /= probes.max(1) as f64);
    Ok(sum)
}

/// The trace terms' direction for every image marked `active` (zero for the others), with
/// the batch in each network evaluation; each image draws its probes from its own stream.
pub fn trace_direction(
    terms: &TraceTerms,
    net: &Network,
    problems: &[Problem],
    xs: &[Vec<f64>],
    sigma: f64,
    active: &[bool],
    rngs: &mut [Rng],
) -> Result<Vec<Vec<f64>>, SolverError> {
    let n = xs.first().map_or(0, Vec::len);
    let mut sum = vec![vec![0.0; n]; xs.len()];
    for _ in 0..terms.probes {
        let us: Vec<Vec<f64>> = rngs
            .iter_mut()
            .zip(active)
            .map(|(r, &a)| if a { rademacher(r, n) } else { vec![0.0; n] })
            .collect();
        let vs: Vec<Vec<f64>> = problems
            .iter()
            .zip(&us)
            .map(|(p, u)| terms.cotangent(p, u, sigma))
            .collect();
        let shifted = |s: f64| -> Vec<Vec<f64>> {
            xs.iter()
                .zip(&us)
                .map(|(x, u)| x.iter().zip(u).map(|(x, u)| x + s * u).collect())
                .collect()
        };
        let plus = net
            .linearize_counting(&shifted(terms.eps), sigma, Some(active))?
            .vjp(&vs)?;
        let minus = net
            .linearize_counting(&shifted(-terms.eps), sigma, Some(active))?
            .vjp(&vs)?;
        for ((s, p), m) in sum.iter_mut().zip(&plus).zip(&minus) {
            for ((s, p), m) in s.iter_mut().zip(p).zip(m) {
                *s += (p - m) / (2.0 * terms.eps);
            }
        }
    }
    let k = terms.probes.max(1) as f64;
    sum.iter_mut()
        .for_each(|s| s.iter_mut().for_each(|v| *v /= k));
    Ok(sum)
}
