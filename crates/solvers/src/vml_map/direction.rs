//! The VML_S descent direction of VML-MAP (Gutha, Vinuesa, Azizpour, arXiv 2512.10524;
//! docs/algorithms.md §3–4): the cotangent whose VJP through the denoiser is the
//! (preconditioned) gradient, the final data step, and the one-level minimiser and
//! Lipschitz estimate that `vmlmap validate` checks against closed forms.

use super::Preconditioning;
use crate::{Problem, SolverError};
use vmlmap_core::rng::{normal_vec, seeded};
use vmlmap_core::vector::{add, all_finite, axpy, scale, sub};
use vmlmap_core::Denoiser;

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
pub(super) fn cotangent(
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
