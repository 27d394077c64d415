//! Gaussian-mixture prior with isotropic components, `sum_k w_k N(mu_k, s_k I)`
//! (docs/algorithms.md §6). Exact denoiser and VJP; the posterior is the mixture of the
//! component posteriors `N(m_k, C_k)` with weights `w'_k ∝ w_k N(y; H mu_k, s_k H H^T +
//! sigma_y^2 I)`; its modes are found by the fixed-point (mean-shift) iteration
//! `x <- (sum_k r_k C_k^-1)^-1 sum_k r_k C_k^-1 m_k`, which for isotropic components is one
//! Gram solve, started from each `m_k`; the MAP is the mode of highest density.

use crate::{check_problem, PriorError};
use rand::Rng as _;
use vmlmap_core::denoiser::ClosureLinearization;
use vmlmap_core::rng::{normal_vec, Rng};
use vmlmap_core::vector::{add, axpy, dot, norm, rel_err, scale, sub};
use vmlmap_core::{Denoiser, DenoiserError, Linearization, Shape};
use vmlmap_operators::LinearOperator;

/// `sum_k w_k N(mu_k, s_k I)`.
#[derive(Clone, Debug)]
pub struct GaussianMixturePrior {
    shape: Shape,
    log_weights: Vec<f64>,
    means: Vec<Vec<f64>>,
    variances: Vec<f64>,
}

fn param(name: &'static str, value: impl ToString, reason: &str) -> PriorError {
    PriorError::Parameter {
        name,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn log_sum_exp(v: &[f64]) -> f64 {
    let m = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

fn softmax(v: &[f64]) -> Vec<f64> {
    let l = log_sum_exp(v);
    v.iter().map(|x| (x - l).exp()).collect()
}

impl GaussianMixturePrior {
    /// Weights (normalised here), means and isotropic variances, one per component.
    pub fn new(
        shape: Shape,
        weights: Vec<f64>,
        means: Vec<Vec<f64>>,
        variances: Vec<f64>,
    ) -> Result<Self, PriorError> {
        if weights.is_empty() || weights.len() != means.len() || weights.len() != variances.len() {
            return Err(param(
                "components",
                format!(
                    "{} weights, {} means, {} variances",
                    weights.len(),
                    means.len(),
                    variances.len()
                ),
                "need the same positive number of each",
            ));
        }
        if let Some(w) = weights.iter().find(|w| !(**w > 0.0 && w.is_finite())) {
            return Err(param("weight", w, "must be positive and finite"));
        }
        if let Some(s) = variances.iter().find(|s| !(**s > 0.0 && s.is_finite())) {
            return Err(param("variance", s, "must be positive and finite"));
        }
        for m in &means {
            shape.check_len(m.len())?;
        }
        let total: f64 = weights.iter().sum();
        Ok(Self {
            shape,
            log_weights: weights.iter().map(|w| (w / total).ln()).collect(),
            means,
            variances,
        })
    }

    pub fn len(&self) -> usize {
        self.means.len()
    }

    pub fn is_empty(&self) -> bool {
        self.means.is_empty()
    }

    pub fn means(&self) -> &[Vec<f64>] {
        &self.means
    }

    pub fn weights(&self) -> Vec<f64> {
        self.log_weights.iter().map(|l| l.exp()).collect()
    }

    /// `log N(x; mu_k, v I)` for each component, with `v = s_k + t`.
    fn component_log_densities(&self, x: &[f64], t: f64) -> Vec<f64> {
        let n = x.len() as f64;
        (0..self.len())
            .map(|k| {
                let v = self.variances[k] + t;
                let d = sub(x, &self.means[k]);
                self.log_weights[k]
                    - dot(&d, &d) / (2.0 * v)
                    - 0.5 * n * (2.0 * std::f64::consts::PI * v).ln()
            })
            .collect()
    }

    /// `log p_sigma(x)` (exact, normalised).
    pub fn log_density(&self, x: &[f64], sigma: f64) -> f64 {
        log_sum_exp(&self.component_log_densities(x, sigma * sigma))
    }

    /// Responsibilities `r_k(x)` under `p_sigma`.
    pub fn responsibilities(&self, x: &[f64], sigma: f64) -> Vec<f64> {
        softmax(&self.component_log_densities(x, sigma * sigma))
    }

    /// An exact prior sample.
    pub fn sample(&self, rng: &mut Rng) -> Vec<f64> {
        let k = draw(rng, &self.weights());
        let z = normal_vec(rng, self.shape.numel());
        add(&self.means[k], &scale(&z, self.variances[k].sqrt()))
    }

    /// The exact posterior given `y = H x0 + sigma_y eta`.
    pub fn posterior<'a>(
        &'a self,
        op: &'a dyn LinearOperator,
        y: &[f64],
        sigma_y: f64,
    ) -> Result<MixturePosterior<'a>, PriorError> {
        check_problem(self.shape, op, y, sigma_y)?;
        let sy2 = sigma_y * sigma_y;
        let mut spectrum = op.singular_values();
        spectrum.resize(self.shape.numel(), 0.0);
        let mut means = Vec::with_capacity(self.len());
        let mut logw = Vec::with_capacity(self.len());
        for k in 0..self.len() {
            let s = self.variances[k];
            // m_k = mu_k + (H^T H + sigma_y^2/s I)^-1 H^T (y - H mu_k)
            let r = sub(y, &op.apply(&self.means[k]));
            let m = add(&self.means[k], &op.regularized_pinv(&r, sy2 / s));
            // log w'_k = log w_k + log p_k(m_k) + log p(y | m_k) - log p_k(m_k | y) (Bayes
            // at x = m_k), dropping terms common to every k.
            let dm = sub(&m, &self.means[k]);
            let res = sub(y, &op.apply(&m));
            let logdet_cinv: f64 = spectrum
                .iter()
                .map(|si| (1.0 / s + si * si / sy2).ln())
                .sum();
            logw.push(
                self.log_weights[k]
                    - dot(&dm, &dm) / (2.0 * s)
                    - 0.5 * self.shape.numel() as f64 * s.ln()
                    - dot(&res, &res) / (2.0 * sy2)
                    - 0.5 * logdet_cinv,
            );
            means.push(m);
        }
        let l = log_sum_exp(&logw);
        Ok(MixturePosterior {
            prior: self,
            op,
            y: y.to_vec(),
            sigma_y,
            means,
            log_weights: logw.iter().map(|w| w - l).collect(),
        })
    }
}

fn draw(rng: &mut Rng, weights: &[f64]) -> usize {
    let u: f64 = rng.random();
    let mut acc = 0.0;
    for (k, w) in weights.iter().enumerate() {
        acc += w;
        if u < acc {
            return k;
        }
    }
    weights.len() - 1
}

/// A posterior mode.
#[derive(Clone, Debug)]
pub struct Mode {
    pub x: Vec<f64>,
    /// Unnormalised `log p(x | y)`.
    pub log_density: f64,
    /// Relative fixed-point residual `‖T(x) - x‖ / ‖x‖` (0 at an exact mode).
    pub stationarity: f64,
    /// The components whose fixed-point search ended here.
    pub components: Vec<usize>,
    /// Posterior mass of those components, `sum w'_k`: the probability that an exact
    /// posterior sample is drawn from this mode's basin of components.
    pub weight: f64,
}

/// The exact mixture posterior.
pub struct MixturePosterior<'a> {
    prior: &'a GaussianMixturePrior,
    op: &'a dyn LinearOperator,
    y: Vec<f64>,
    sigma_y: f64,
    means: Vec<Vec<f64>>,
    log_weights: Vec<f64>,
}

impl MixturePosterior<'_> {
    /// Component posterior means `m_k`.
    pub fn component_means(&self) -> &[Vec<f64>] {
        &self.means
    }

    /// Posterior component weights `w'_k`.
    pub fn weights(&self) -> Vec<f64> {
        self.log_weights.iter().map(|l| l.exp()).collect()
    }

    /// Unnormalised `log p(x | y) = log p(x) + log p(y | x) + const`.
    pub fn log_density(&self, x: &[f64]) -> f64 {
        let r = sub(&self.y, &self.op.apply(x));
        self.prior.log_density(x, 0.0) - dot(&r, &r) / (2.0 * self.sigma_y * self.sigma_y)
    }

    /// One fixed-point step `T(x) = (H^T H + lambda I)^-1 (sigma_y^2 sum_k r_k mu_k / s_k +
    /// H^T y)`, `lambda = sigma_y^2 sum_k r_k / s_k`, with `r_k` the prior responsibilities
    /// at `x` (the likelihood factor is common to all components).
    pub fn mode_step(&self, x: &[f64]) -> Vec<f64> {
        let sy2 = self.sigma_y * self.sigma_y;
        let r = self.prior.responsibilities(x, 0.0);
        let mut prec = 0.0;
        let mut v = vec![0.0; x.len()];
        for (k, rk) in r.iter().enumerate() {
            let s = self.prior.variances[k];
            prec += rk / s;
            axpy(&mut v, rk / s, &self.prior.means[k]);
        }
        let lambda = sy2 * prec;
        // (H^T H + lambda)^-1 (lambda * v/prec + H^T y), split into its stable halves.
        let vbar = scale(&v, 1.0 / prec);
        add(
            &self.op.null_filter(&vbar, lambda),
            &self.op.regularized_pinv(&self.y, lambda),
        )
    }

    /// `‖T(x) - x‖ / ‖x‖`.
    pub fn stationarity(&self, x: &[f64]) -> f64 {
        rel_err(&self.mode_step(x), x)
    }

    /// All modes reached from the component means, distinct, highest density first.
    pub fn modes(&self) -> Vec<Mode> {
        let mut modes: Vec<Mode> = Vec::new();
        let weights = self.weights();
        for (k, m) in self.means.iter().enumerate() {
            let mut x = m.clone();
            for _ in 0..100_000 {
                let next = self.mode_step(&x);
                let step = norm(&sub(&next, &x));
                x = next;
                if step <= 1e-15 * norm(&x).max(1e-300) {
                    break;
                }
            }
            if let Some(md) = modes.iter_mut().find(|md| rel_err(&x, &md.x) <= 1e-6) {
                md.components.push(k);
                md.weight += weights[k];
            } else {
                modes.push(Mode {
                    log_density: self.log_density(&x),
                    stationarity: self.stationarity(&x),
                    x,
                    components: vec![k],
                    weight: weights[k],
                });
            }
        }
        modes.sort_by(|a, b| b.log_density.total_cmp(&a.log_density));
        modes
    }

    /// The MAP: the highest mode.
    pub fn map(&self) -> Mode {
        self.modes().swap_remove(0)
    }

    /// An exact posterior sample: a component by `w'`, then Matheron's rule in it.
    pub fn sample(&self, rng: &mut Rng) -> Vec<f64> {
        let k = draw(rng, &self.weights());
        let s = self.prior.variances[k];
        let z = normal_vec(rng, self.prior.shape.numel());
        let x = add(&self.prior.means[k], &scale(&z, s.sqrt()));
        let r = crate::perturbed_residual(self.op, &self.y, &x, self.sigma_y, rng);
        add(
            &x,
            &self
                .op
                .regularized_pinv(&r, self.sigma_y * self.sigma_y / s),
        )
    }
}

impl Denoiser for GaussianMixturePrior {
    fn shape(&self) -> Shape {
        self.shape
    }

    fn name(&self) -> String {
        format!("gmm{}", self.len())
    }

    fn denoise(&self, x: &[f64], sigma: f64) -> Result<Vec<f64>, DenoiserError> {
        self.check_input(x, sigma)?;
        let r = self.responsibilities(x, sigma);
        let s2 = sigma * sigma;
        let mut d = vec![0.0; x.len()];
        for (k, rk) in r.iter().enumerate() {
            let a = self.variances[k] / (self.variances[k] + s2);
            // r_k (mu_k + a (x - mu_k)) = r_k ((1 - a) mu_k + a x)
            axpy(&mut d, rk * (1.0 - a), &self.means[k]);
            axpy(&mut d, rk * a, x);
        }
        Ok(d)
    }

    /// `J = sum_k r_k a_k I + sum_k r_k m_k (q_k - q̄)^T`, with `m_k` the component
    /// denoisers, `q_k = -(x - mu_k)/(s_k + sigma^2)` and `q̄ = sum_k r_k q_k`.
    fn linearize<'a>(
        &'a self,
        x: &[f64],
        sigma: f64,
    ) -> Result<Box<dyn Linearization + 'a>, DenoiserError> {
        let d = self.denoise(x, sigma)?;
        let x = x.to_vec();
        Ok(Box::new(ClosureLinearization::new(
            d,
            move |v: &[f64]| {
                let s2 = sigma * sigma;
                let r = self.responsibilities(&x, sigma);
                let mut out = vec![0.0; x.len()];
                let mut qbar = vec![0.0; x.len()];
                let mut qs = Vec::with_capacity(self.len());
                for (k, rk) in r.iter().enumerate() {
                    let vk = self.variances[k] + s2;
                    let q = scale(&sub(&x, &self.means[k]), -1.0 / vk);
                    axpy(&mut qbar, *rk, &q);
                    qs.push(q);
                }
                for (k, rk) in r.iter().enumerate() {
                    let a = self.variances[k] / (self.variances[k] + s2);
                    axpy(&mut out, rk * a, v);
                    let mk: Vec<f64> = self.means[k]
                        .iter()
                        .zip(&x)
                        .map(|(mu, xi)| mu + a * (xi - mu))
                        .collect();
                    let c = rk * dot(&mk, v);
                    axpy(&mut out, c, &qs[k]);
                    axpy(&mut out, -c, &qbar);
                }
                Ok(out)
            },
        )))
    }
}
