//! Gaussian prior `x0 ~ N(mu, S0)` (docs/algorithms.md §6): `D(x, sigma) = mu + S0 (S0 +
//! sigma^2 I)^-1 (x - mu)`, `J = S0 (S0 + sigma^2 I)^-1` (symmetric), the posterior
//! `N(m, C)` with `m` the MAP, and exact posterior samples (Matheron's rule:
//! `x = x~ + K (y - H x~ - sigma_y eps)` with `x~` a prior sample and `K = S0 H^T (H S0 H^T
//! + sigma_y^2 I)^-1`).
//!
//! The posterior is computed in numerically stable forms that stay exact noise-free
//! (`sigma_y = 1e-9`): for isotropic `S0 = s I`, `K r = (H^T H + sigma_y^2/s I)^-1 H^T r`,
//! the operator's regularised pseudo-inverse; otherwise, whitening `x = mu + L z` (`S0 =
//! L L^T`) and the SVD of `B = H L` give `K = L V diag(b / (b^2 + sigma_y^2)) U^T` (dense,
//! small images).

use crate::{check_problem, PriorError};
use nalgebra::{DMatrix, DVector};
use vmlmap_core::denoiser::ClosureLinearization;
use vmlmap_core::rng::{normal_vec, Rng};
use vmlmap_core::vector::{add, scale, sub};
use vmlmap_core::{Denoiser, DenoiserError, Linearization, Shape};
use vmlmap_operators::{to_dense, LinearOperator};

/// Largest `n` for which dense posterior algebra is used.
pub const DENSE_POSTERIOR_MAX_N: usize = 4096;

/// The prior covariance `S0`.
#[derive(Clone, Debug)]
pub enum Covariance {
    /// `s I`.
    Isotropic(f64),
    /// `diag(d)`.
    Diagonal(Vec<f64>),
    /// `diag(d) + W W^T`, `W` of size `n x r`.
    LowRankDiag {
        diag: Vec<f64>,
        factor: DMatrix<f64>,
    },
    /// A dense symmetric positive-definite matrix (small images only).
    Dense(DMatrix<f64>),
}

/// A Gaussian prior over images of one shape.
#[derive(Clone, Debug)]
pub struct GaussianPrior {
    shape: Shape,
    mean: Vec<f64>,
    cov: Covariance,
}

fn param(name: &'static str, value: impl ToString, reason: &str) -> PriorError {
    PriorError::Parameter {
        name,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

impl GaussianPrior {
    /// A validated prior: the mean has `shape.numel()` values, variances are positive.
    pub fn new(shape: Shape, mean: Vec<f64>, cov: Covariance) -> Result<Self, PriorError> {
        let n = shape.numel();
        shape.check_len(mean.len())?;
        match &cov {
            Covariance::Isotropic(s) => {
                if !(*s > 0.0 && s.is_finite()) {
                    return Err(param("variance", s, "must be positive and finite"));
                }
            }
            Covariance::Diagonal(d) | Covariance::LowRankDiag { diag: d, .. } => {
                shape.check_len(d.len())?;
                if let Some(v) = d.iter().find(|v| !(**v > 0.0 && v.is_finite())) {
                    return Err(param("diagonal variance", v, "must be positive and finite"));
                }
            }
            Covariance::Dense(m) => {
                if m.nrows() != n || m.ncols() != n {
                    return Err(param(
                        "dense covariance",
                        format!("{}x{}", m.nrows(), m.ncols()),
                        &format!("expected {n}x{n}"),
                    ));
                }
                if n > DENSE_POSTERIOR_MAX_N {
                    return Err(PriorError::TooLargeForDense {
                        n,
                        max: DENSE_POSTERIOR_MAX_N,
                    });
                }
                if (m - m.transpose()).norm() > 1e-12 * m.norm() || m.clone().cholesky().is_none() {
                    return Err(param(
                        "dense covariance",
                        "matrix",
                        "must be symmetric positive definite",
                    ));
                }
            }
        }
        if let Covariance::LowRankDiag { factor, .. } = &cov {
            if factor.nrows() != n {
                return Err(param(
                    "low-rank factor rows",
                    factor.nrows(),
                    &format!("expected {n}"),
                ));
            }
        }
        Ok(Self { shape, mean, cov })
    }

    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    pub fn covariance(&self) -> &Covariance {
        &self.cov
    }

    /// `S0 v`.
    pub fn cov_apply(&self, v: &[f64]) -> Vec<f64> {
        match &self.cov {
            Covariance::Isotropic(s) => scale(v, *s),
            Covariance::Diagonal(d) => v.iter().zip(d).map(|(a, b)| a * b).collect(),
            Covariance::LowRankDiag { diag, factor } => {
                let wt = factor.tr_mul(&DVector::from_column_slice(v));
                let wwt = factor * wt;
                v.iter()
                    .zip(diag)
                    .zip(wwt.iter())
                    .map(|((a, d), l)| a * d + l)
                    .collect()
            }
            Covariance::Dense(m) => (m * DVector::from_column_slice(v)).as_slice().to_vec(),
        }
    }

    /// `(S0 + t I)^-1 v`, `t >= 0` (Woodbury for the low-rank part).
    pub fn resolvent(&self, v: &[f64], t: f64) -> Vec<f64> {
        match &self.cov {
            Covariance::Isotropic(s) => scale(v, 1.0 / (s + t)),
            Covariance::Diagonal(d) => v.iter().zip(d).map(|(a, b)| a / (b + t)).collect(),
            Covariance::LowRankDiag { diag, factor } => {
                // (A + W W^T)^-1 = A^-1 - A^-1 W (I + W^T A^-1 W)^-1 W^T A^-1, A = diag + t.
                let ainv: Vec<f64> = diag.iter().map(|d| 1.0 / (d + t)).collect();
                let av = DVector::from_iterator(v.len(), v.iter().zip(&ainv).map(|(a, b)| a * b));
                let mut aw = factor.clone();
                for (i, mut row) in aw.row_iter_mut().enumerate() {
                    row *= ainv[i];
                }
                let r = factor.ncols();
                let small = DMatrix::identity(r, r) + factor.tr_mul(&aw);
                let rhs = factor.tr_mul(&av);
                let sol = small
                    .cholesky()
                    .expect("I + W^T A^-1 W is positive definite")
                    .solve(&rhs);
                let corr = aw * sol;
                av.iter().zip(corr.iter()).map(|(a, c)| a - c).collect()
            }
            Covariance::Dense(m) => {
                let n = m.nrows();
                let a = m + DMatrix::identity(n, n) * t;
                let ch = a.cholesky().expect("S0 + t I is positive definite");
                ch.solve(&DVector::from_column_slice(v)).as_slice().to_vec()
            }
        }
    }

    /// A dense square root `L` with `L L^T = S0`.
    fn dense_sqrt(&self) -> DMatrix<f64> {
        let n = self.shape.numel();
        match &self.cov {
            Covariance::Isotropic(s) => DMatrix::identity(n, n) * s.sqrt(),
            Covariance::Diagonal(d) => {
                DMatrix::from_diagonal(&DVector::from_iterator(n, d.iter().map(|v| v.sqrt())))
            }
            Covariance::LowRankDiag { diag, factor } => {
                let s = DMatrix::from_diagonal(&DVector::from_column_slice(diag))
                    + factor * factor.transpose();
                s.cholesky().expect("diag + W W^T is positive definite").l()
            }
            Covariance::Dense(m) => m
                .clone()
                .cholesky()
                .expect("validated positive definite")
                .l(),
        }
    }

    /// The dense covariance `S0`.
    pub fn dense_covariance(&self) -> DMatrix<f64> {
        let l = self.dense_sqrt();
        &l * l.transpose()
    }

    /// An exact prior sample.
    pub fn sample(&self, rng: &mut Rng) -> Vec<f64> {
        let n = self.shape.numel();
        let z = normal_vec(rng, n);
        let dev: Vec<f64> = match &self.cov {
            Covariance::Isotropic(s) => scale(&z, s.sqrt()),
            Covariance::Diagonal(d) => z.iter().zip(d).map(|(a, b)| a * b.sqrt()).collect(),
            Covariance::LowRankDiag { diag, factor } => {
                let z2 = DVector::from_column_slice(&normal_vec(rng, factor.ncols()));
                let wz = factor * z2;
                z.iter()
                    .zip(diag)
                    .zip(wz.iter())
                    .map(|((a, d), l)| a * d.sqrt() + l)
                    .collect()
            }
            Covariance::Dense(_) => (self.dense_sqrt() * DVector::from_column_slice(&z))
                .as_slice()
                .to_vec(),
        };
        add(&self.mean, &dev)
    }

    /// The exact posterior given `y = H x0 + sigma_y eta`.
    pub fn posterior<'a>(
        &'a self,
        op: &'a dyn LinearOperator,
        y: &[f64],
        sigma_y: f64,
    ) -> Result<GaussianPosterior<'a>, PriorError> {
        check_problem(self.shape, op, y, sigma_y)?;
        let gain = match &self.cov {
            Covariance::Isotropic(s) => Gain::Isotropic {
                lambda: sigma_y * sigma_y / s,
            },
            _ => Gain::Dense(DenseGain::new(self, op, sigma_y)?),
        };
        Ok(self.posterior_with(op, y, sigma_y, gain))
    }

    /// The exact posterior by the dense whitened route, whatever the covariance (a
    /// cross-check of the closed-form isotropic route).
    pub fn posterior_dense<'a>(
        &'a self,
        op: &'a dyn LinearOperator,
        y: &[f64],
        sigma_y: f64,
    ) -> Result<GaussianPosterior<'a>, PriorError> {
        check_problem(self.shape, op, y, sigma_y)?;
        let gain = Gain::Dense(DenseGain::new(self, op, sigma_y)?);
        Ok(self.posterior_with(op, y, sigma_y, gain))
    }

    /// The posterior with its mean `mu + K (y - H mu)` for a given gain `K`.
    fn posterior_with<'a>(
        &'a self,
        op: &'a dyn LinearOperator,
        y: &[f64],
        sigma_y: f64,
        gain: Gain,
    ) -> GaussianPosterior<'a> {
        let mut post = GaussianPosterior {
            prior: self,
            op,
            y: y.to_vec(),
            sigma_y,
            gain,
            mean: Vec::new(),
        };
        let r = sub(y, &op.apply(&self.mean));
        post.mean = add(&self.mean, &post.gain_apply(&r));
        post
    }
}

/// `K = S0 H^T (H S0 H^T + sigma_y^2 I)^-1` in a stable form.
enum Gain {
    Isotropic { lambda: f64 },
    Dense(DenseGain),
}

/// `K = L V diag(b/(b^2 + sigma_y^2)) U^T` from the thin SVD `H L = U diag(b) V^T`.
struct DenseGain {
    l: DMatrix<f64>,
    u: DMatrix<f64>,
    v: DMatrix<f64>,
    b: Vec<f64>,
    sigma_y2: f64,
    has_null_space: bool,
}

impl DenseGain {
    fn new(
        prior: &GaussianPrior,
        op: &dyn LinearOperator,
        sigma_y: f64,
    ) -> Result<Self, PriorError> {
        let n = prior.shape.numel();
        if n > DENSE_POSTERIOR_MAX_N {
            return Err(PriorError::TooLargeForDense {
                n,
                max: DENSE_POSTERIOR_MAX_N,
            });
        }
        let l = prior.dense_sqrt();
        let bmat = to_dense(op) * &l;
        let m = bmat.nrows();
        // Thin SVD: V has min(m, n) columns; when m < n the rest of the space is the null
        // space of B, handled by an explicit projector in `cov_apply`.
        let svd = vmlmap_operators::factor::accurate_svd(bmat);
        Ok(Self {
            l,
            u: svd.u.expect("U requested"),
            v: svd.v_t.expect("V^T requested").transpose(),
            b: svd.singular_values.as_slice().to_vec(),
            sigma_y2: sigma_y * sigma_y,
            has_null_space: m < n,
        })
    }

    /// `K r = L V diag(b/(b^2 + sigma_y^2)) U^T r`.
    fn apply(&self, r: &[f64]) -> Vec<f64> {
        let mut c = self.u.tr_mul(&DVector::from_column_slice(r));
        for (ci, b) in c.iter_mut().zip(&self.b) {
            *ci *= b / (b * b + self.sigma_y2);
        }
        (&self.l * (&self.v * c)).as_slice().to_vec()
    }

    /// `C v = L [(I - V V^T) + V diag(sigma_y^2/(b^2+sigma_y^2)) V^T] L^T v`; the projector
    /// term exists only when `B` has a null space (computing it as `I - V V^T` when `V` is
    /// square would leave rounding noise far above the `sigma_y^2`-sized true values).
    fn cov_apply(&self, v: &[f64]) -> Vec<f64> {
        let lt = self.l.tr_mul(&DVector::from_column_slice(v));
        let c = self.v.tr_mul(&lt);
        let mut scaled = c.clone();
        for (ci, b) in scaled.iter_mut().zip(&self.b) {
            *ci *= self.sigma_y2 / (b * b + self.sigma_y2);
        }
        let mut inner = &self.v * scaled;
        if self.has_null_space {
            inner += &lt - &self.v * c;
        }
        (&self.l * inner).as_slice().to_vec()
    }
}

/// The exact Gaussian posterior `N(m, C)`; `m` is the MAP.
pub struct GaussianPosterior<'a> {
    prior: &'a GaussianPrior,
    op: &'a dyn LinearOperator,
    y: Vec<f64>,
    sigma_y: f64,
    gain: Gain,
    mean: Vec<f64>,
}

impl GaussianPosterior<'_> {
    /// `K r`.
    fn gain_apply(&self, r: &[f64]) -> Vec<f64> {
        match &self.gain {
            Gain::Isotropic { lambda } => self.op.regularized_pinv(r, *lambda),
            Gain::Dense(d) => d.apply(r),
        }
    }

    /// The posterior mean, which is the MAP.
    pub fn map(&self) -> &[f64] {
        &self.mean
    }

    /// `C v`.
    pub fn cov_apply(&self, v: &[f64]) -> Vec<f64> {
        match &self.gain {
            // C = sigma_y^2 (H^T H + lambda I)^-1, lambda = sigma_y^2 / s.
            Gain::Isotropic { lambda } => {
                scale(&self.op.gram_solve(v, *lambda), self.sigma_y * self.sigma_y)
            }
            Gain::Dense(d) => d.cov_apply(v),
        }
    }

    /// An exact posterior sample (Matheron's rule).
    pub fn sample(&self, rng: &mut Rng) -> Vec<f64> {
        let x = self.prior.sample(rng);
        let r = crate::perturbed_residual(self.op, &self.y, &x, self.sigma_y, rng);
        add(&x, &self.gain_apply(&r))
    }
}

impl Denoiser for GaussianPrior {
    fn shape(&self) -> Shape {
        self.shape
    }

    fn name(&self) -> String {
        match self.cov {
            Covariance::Isotropic(_) => "gaussian-isotropic".into(),
            Covariance::Diagonal(_) => "gaussian-diagonal".into(),
            Covariance::LowRankDiag { .. } => "gaussian-lowrank".into(),
            Covariance::Dense(_) => "gaussian-dense".into(),
        }
    }

    fn denoise(&self, x: &[f64], sigma: f64) -> Result<Vec<f64>, DenoiserError> {
        self.check_input(x, sigma)?;
        let s2 = sigma * sigma;
        Ok(sub(x, &scale(&self.resolvent(&sub(x, &self.mean), s2), s2)))
    }

    fn linearize<'a>(
        &'a self,
        x: &[f64],
        sigma: f64,
    ) -> Result<Box<dyn Linearization + 'a>, DenoiserError> {
        let d = self.denoise(x, sigma)?;
        Ok(Box::new(ClosureLinearization::new(
            d,
            move |v: &[f64]| {
                let s2 = sigma * sigma;
                Ok(sub(v, &scale(&self.resolvent(v, s2), s2)))
            },
        )))
    }
}
