//! A batch of problems solved together equals the problems solved one at a time: exactly
//! on a closed-form prior (whose batched evaluation is a loop), and to f32 round-off on the
//! embedded network, whose batched evaluation is one `[B, C, H, W]` forward and backward.

use vmlmap_core::rng::{normal_vec, seeded};
use vmlmap_core::vector::rel_err;
use vmlmap_core::{Denoiser, Shape};
use vmlmap_models::{DeviceSpec, Precision};
use vmlmap_operators::{LinearOperator, TaskSpec};
use vmlmap_priors::{Covariance, GaussianPrior};
use vmlmap_solvers::{build_solver, Problem, Silent, SolverError, SolverOptions};

/// A measurement and its noise level.
type Measured = (Vec<f64>, f64);

/// Measurements of four different images through four different operators.
fn problems_for(shape: Shape) -> (Vec<Box<dyn LinearOperator>>, Vec<Measured>) {
    let tasks = ["inpaint-box", "sr4", "deblur-gaussian", "inpaint-random"];
    let sigmas_y = [1e-9, 0.05, 0.05, 1e-9];
    let mut rng = seeded(11);
    let ops: Vec<Box<dyn LinearOperator>> = tasks
        .iter()
        .map(|t| TaskSpec::new(t).unwrap().build(shape).unwrap())
        .collect();
    let data = ops
        .iter()
        .zip(sigmas_y)
        .map(|(op, sy)| {
            let x: Vec<f64> = normal_vec(&mut rng, shape.numel())
                .iter()
                .map(|v| (0.4 * v).tanh())
                .collect();
            let e = normal_vec(&mut rng, op.output_len());
            let y = op
                .apply(&x)
                .iter()
                .zip(&e)
                .map(|(a, b)| a + sy * b)
                .collect();
            (y, sy)
        })
        .collect();
    (ops, data)
}

fn options(eta: f64) -> SolverOptions {
    SolverOptions {
        steps: Some(4),
        inner: Some(2),
        eta: Some(eta),
        ..Default::default()
    }
}

/// Short runs of any solver; `eta` where the solver has one.
fn options_for(solver: &str, eta: f64) -> SolverOptions {
    let keys = vmlmap_solvers::registry::declaration(solver)
        .unwrap()
        .options();
    let has = |k: &str| keys.iter().any(|o| o.key == k);
    SolverOptions {
        steps: has("steps").then_some(4),
        inner: has("inner").then_some(2),
        eta: has("eta").then_some(eta),
        ..Default::default()
    }
}

fn check_batch_equals_singles(den: &dyn Denoiser, solver: &str, eta: f64, tol: f64) {
    let (ops, data) = problems_for(den.shape());
    let problems: Vec<Problem> = ops
        .iter()
        .zip(&data)
        .map(|(op, (y, sy))| Problem::new(op.as_ref(), y.clone(), *sy).unwrap())
        .collect();
    let seeds = [3, 1, 4, 1];
    let s = build_solver(solver, &options_for(solver, eta)).unwrap();
    let batch = s.solve_batch(&problems, den, &seeds, &mut Silent).unwrap();
    assert_eq!(batch.len(), 4);
    for (b, (p, &seed)) in problems.iter().zip(&seeds).enumerate() {
        let one = s.solve(p, den, seed, &mut Silent).unwrap();
        let e = rel_err(&batch[b].x, &one.x);
        eprintln!("{solver} eta {eta} image {b}: batch vs single rel err {e:.1e}");
        assert!(e <= tol, "{solver} image {b}: {e} > {tol}");
        assert_eq!((batch[b].nfe, batch[b].vjp), (one.nfe, one.vjp));
    }
}

#[test]
fn batch_equals_single_runs_exactly_on_a_closed_form_prior() {
    let shape = Shape::new(1, 16, 16).unwrap();
    let prior =
        GaussianPrior::new(shape, vec![0.1; shape.numel()], Covariance::Isotropic(0.2)).unwrap();
    for solver in vmlmap_solvers::solver_names() {
        for eta in [0.0, 0.7] {
            check_batch_equals_singles(&prior, solver, eta, 0.0);
        }
    }
}

#[test]
fn batch_of_four_equals_four_single_runs_on_the_embedded_network() {
    let device = DeviceSpec::Cpu.device().unwrap();
    let (den, _) = vmlmap_models::registry::load_denoiser_on(
        "default",
        &device,
        Precision::F32,
        None,
        vmlmap_models::registry::Engine::Native,
    )
    .unwrap();
    check_batch_equals_singles(&den, "vml-map", 0.0, 1e-4);
    check_batch_equals_singles(&den, "vml-map", 1.0, 1e-4);
    // Every other solver that evaluates the network, from the registry.
    for d in vmlmap_solvers::SOLVERS {
        if d.uses_prior && !d.name.starts_with("vml-map") {
            check_batch_equals_singles(&den, d.name, 0.5, 1e-4);
        }
    }
}

#[test]
fn a_batch_needs_one_seed_per_problem() {
    let shape = Shape::new(1, 8, 8).unwrap();
    let prior =
        GaussianPrior::new(shape, vec![0.0; shape.numel()], Covariance::Isotropic(0.2)).unwrap();
    let op = TaskSpec::new("sr2").unwrap().build(shape).unwrap();
    let p = Problem::new(op.as_ref(), vec![0.0; op.output_len()], 0.05).unwrap();
    let s = build_solver("vml-map", &options(0.0)).unwrap();
    let e = s
        .solve_batch(std::slice::from_ref(&p), &prior, &[1, 2], &mut Silent)
        .unwrap_err();
    assert!(
        matches!(
            e,
            SolverError::BatchSeeds {
                problems: 1,
                seeds: 2
            }
        ),
        "{e}"
    );
}
