//! The analytic test problems of `vmlmap validate`: Gaussian priors (isotropic and
//! correlated low-rank-plus-diagonal) and a well-separated Gaussian mixture on small
//! images, with seeded ground truths and measurements.

use nalgebra::DMatrix;
use vmlmap_core::rng::{normal_vec, seeded};
use vmlmap_core::Shape;
use vmlmap_operators::{LinearOperator, OperatorError, TaskSpec, TASK_NAMES};
use vmlmap_priors::{Covariance, GaussianMixturePrior, GaussianPrior};

/// Side of the validation images.
pub const SIDE: usize = 16;

/// The image shape a task is validated on: grey 16x16, colour 3x8x8 for colourisation.
pub fn shape_for(task: &str) -> Shape {
    if task == "colorize" {
        Shape { c: 3, h: 8, w: 8 }
    } else {
        Shape {
            c: 1,
            h: SIDE,
            w: SIDE,
        }
    }
}

/// Every task that needs no input file.
pub fn validation_tasks() -> Vec<&'static str> {
    TASK_NAMES
        .iter()
        .copied()
        .filter(|t| *t != "inpaint-mask")
        .collect()
}

/// The operator of a task at its validation shape (default options).
pub fn operator(task: &str) -> Result<Box<dyn LinearOperator>, OperatorError> {
    TaskSpec::new(task)?.build(shape_for(task))
}

/// A smooth deterministic image in about [-0.5, 0.5].
fn smooth_pattern(shape: Shape, fx: f64, fy: f64, phase: f64) -> Vec<f64> {
    let mut v = Vec::with_capacity(shape.numel());
    for c in 0..shape.c {
        for i in 0..shape.h {
            for j in 0..shape.w {
                let (u, w) = (i as f64 / shape.h as f64, j as f64 / shape.w as f64);
                v.push(0.4 * (std::f64::consts::TAU * (fx * u + fy * w) + phase + c as f64).sin());
            }
        }
    }
    v
}

/// The Gaussian priors: `gauss-iso` (`0.25 I`) and `gauss-lowrank` (`0.02 I + W W^T` with 8
/// smooth random directions, strongly correlated).
pub fn gaussian_priors(shape: Shape) -> Vec<(&'static str, GaussianPrior)> {
    let n = shape.numel();
    let mean = smooth_pattern(shape, 1.0, 0.5, 0.3);
    let iso =
        GaussianPrior::new(shape, mean.clone(), Covariance::Isotropic(0.25)).expect("valid prior");
    let mut rng = seeded(2024);
    let r = 8;
    let mut w = DMatrix::zeros(n, r);
    for k in 0..r {
        let coef = normal_vec(&mut rng, 3);
        let col = smooth_pattern(shape, 0.5 + coef[0].abs(), coef[1], coef[2]);
        for (i, v) in col.iter().enumerate() {
            w[(i, k)] = 0.45 * v;
        }
    }
    let lowrank = GaussianPrior::new(
        shape,
        mean,
        Covariance::LowRankDiag {
            diag: vec![0.02; n],
            factor: w,
        },
    )
    .expect("valid prior");
    vec![("gauss-iso", iso), ("gauss-lowrank", lowrank)]
}

/// A well-separated three-component mixture (weights 0.5, 0.3, 0.2; standard deviations
/// 0.1, 0.14, 0.12 around distinct smooth means).
pub fn mixture_prior(shape: Shape) -> GaussianMixturePrior {
    let means = vec![
        smooth_pattern(shape, 1.0, 0.0, 0.0),
        smooth_pattern(shape, 0.0, 1.0, 1.0),
        smooth_pattern(shape, 1.0, 1.0, 2.0),
    ];
    GaussianMixturePrior::new(shape, vec![0.5, 0.3, 0.2], means, vec![0.01, 0.02, 0.015])
        .expect("valid mixture")
}

/// `y = H x0 + sigma_y eta` for a seeded `x0` drawn by `sample`.
pub fn measure(op: &dyn LinearOperator, x0: &[f64], sigma_y: f64, seed: u64) -> Vec<f64> {
    vmlmap_operators::measure(op, x0, sigma_y, seed ^ 0x5eed)
}
