//! Analytic priors whose denoiser, Jacobian, posterior, posterior samples and MAP are known
//! in closed form (docs/algorithms.md §6): the exact answers VML-MAP (arXiv 2512.10524) and the
//! baselines are tested against.
//!
//! - [`gaussian::GaussianPrior`]: `x0 ~ N(mu, S0)` with isotropic, diagonal or
//!   low-rank-plus-diagonal covariance.
//! - [`mixture::GaussianMixturePrior`]: `sum_k w_k N(mu_k, s_k I)`, isotropic components, so
//!   every posterior quantity reduces to the operator's closed-form Gram solve.

pub mod gaussian;
pub mod mixture;

pub use gaussian::{Covariance, GaussianPosterior, GaussianPrior};
pub use mixture::{GaussianMixturePrior, MixturePosterior};

use vmlmap_core::{Shape, ShapeError};

/// An invalid prior or posterior request.
#[derive(Debug, thiserror::Error)]
pub enum PriorError {
    #[error(transparent)]
    Shape(#[from] ShapeError),
    #[error("invalid prior parameter {name} = {value}: {reason}")]
    Parameter {
        name: &'static str,
        value: String,
        reason: String,
    },
    #[error("operator acts on {operator} images, prior on {prior}")]
    OperatorShape { operator: Shape, prior: Shape },
    #[error("measurement has {found} values, the operator gives {expected}")]
    MeasurementLength { expected: usize, found: usize },
    #[error("invalid sigma_y = {0}: must be positive and finite (use 1e-9 for noise-free)")]
    SigmaY(f64),
    #[error("the exact posterior of a non-isotropic Gaussian uses dense matrices and supports at most {max} values; this image has {n}")]
    TooLargeForDense { n: usize, max: usize },
}

pub(crate) fn check_problem(
    shape: Shape,
    op: &dyn vmlmap_operators::LinearOperator,
    y: &[f64],
    sigma_y: f64,
) -> Result<(), PriorError> {
    if op.input_shape() != shape {
        return Err(PriorError::OperatorShape {
            operator: op.input_shape(),
            prior: shape,
        });
    }
    if y.len() != op.output_len() {
        return Err(PriorError::MeasurementLength {
            expected: op.output_len(),
            found: y.len(),
        });
    }
    if !(sigma_y > 0.0 && sigma_y.is_finite()) {
        return Err(PriorError::SigmaY(sigma_y));
    }
    Ok(())
}

/// `y - H x - sigma_y eta` with fresh noise `eta`: the residual Matheron's rule corrects a
/// prior sample `x` by (exact posterior samples of Gaussian and mixture priors).
pub(crate) fn perturbed_residual(
    op: &dyn vmlmap_operators::LinearOperator,
    y: &[f64],
    x: &[f64],
    sigma_y: f64,
    rng: &mut vmlmap_core::rng::Rng,
) -> Vec<f64> {
    let eta = vmlmap_core::rng::normal_vec(rng, y.len());
    let hx = op.apply(x);
    y.iter()
        .zip(&hx)
        .zip(&eta)
        .map(|((y, h), e)| y - h - sigma_y * e)
        .collect()
}
