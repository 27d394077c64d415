//! `vml-map-full` (VML-MAP with the trace terms of the full VML) against two exact answers:
//! on a Gaussian prior `J` is constant, so the trace terms have no gradient and the solver
//! must give `vml-map`'s output bit for bit; on a Gaussian mixture the Hutchinson estimate
//! of `grad Tr(A J(x))` must be unbiased against the exact trace's derivative (the trace
//! summed over basis vectors with the mixture's exact VJP, differentiated by central
//! differences in `x`) with a variance that falls as 1/probes.

use vmlmap_core::rng::{normal_vec, seeded};
use vmlmap_core::{Denoiser, Shape};
use vmlmap_operators::TaskSpec;
use vmlmap_priors::{Covariance, GaussianMixturePrior, GaussianPrior};
use vmlmap_solvers::vml_map::trace::{trace_gradient, TraceTerms};
use vmlmap_solvers::vml_map::Preconditioning;
use vmlmap_solvers::{build_solver, Problem, Silent, SolverOptions};

fn options(extra: &[&str]) -> SolverOptions {
    SolverOptions {
        extra: extra.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

#[test]
fn on_a_gaussian_prior_the_full_vml_is_vml_s_bit_for_bit() {
    let shape = Shape::new(1, 8, 8).unwrap();
    let n = shape.numel();
    let mean: Vec<f64> = (0..n).map(|i| 0.2 * ((i % 5) as f64 - 2.0) / 2.0).collect();
    let diag: Vec<f64> = (0..n).map(|i| 0.05 + 0.01 * (i % 3) as f64).collect();
    let prior = GaussianPrior::new(shape, mean, Covariance::Diagonal(diag)).unwrap();
    for task in ["inpaint-box", "sr2", "deblur-gaussian"] {
        let op = TaskSpec::new(task).unwrap().build(shape).unwrap();
        for sigma_y in [1e-9, 0.05] {
            let x0 = normal_vec(&mut seeded(4), n);
            let y = vmlmap_operators::measure(op.as_ref(), &x0, sigma_y, 9);
            let p = Problem::new(op.as_ref(), y, sigma_y).unwrap();
            for (name, eta) in [("vml-map", "0"), ("vml-map-plain", "0.5")] {
                let common = ["steps=6", "inner=3"];
                let mut base = common.to_vec();
                base.push(if eta == "0" { "eta=0" } else { "eta=0.5" });
                let plain = build_solver(name, &options(&base)).unwrap();
                let mut full_opts = base.clone();
                full_opts.push("probes=2");
                let full = build_solver(name, &options(&full_opts)).unwrap();
                let a = plain.solve(&p, &prior, 7, &mut Silent).unwrap();
                let b = full.solve(&p, &prior, 7, &mut Silent).unwrap();
                assert_eq!(a.x, b.x, "{name} {task} sigma_y {sigma_y}");
                // Each inner step pays two forwards and two VJPs per probe.
                assert_eq!(b.vjp, a.vjp * 5, "{name} {task}");
                assert_eq!(b.nfe, a.nfe + a.vjp * 4, "{name} {task}");
            }
        }
    }
    // The named solver is vml-map with one probe by default.
    let full = build_solver("vml-map-full", &SolverOptions::default()).unwrap();
    assert_eq!(full.name(), "vml-map-full");
    assert!(format!("{full:?}").contains("probes: 1"), "{full:?}");
}

/// `Tr(A J(x)) = sum_i (J(x)ᵀ A e_i)_i` with the prior's exact VJP.
fn exact_trace(prior: &dyn Denoiser, x: &[f64], sigma: f64, a: &dyn Fn(&[f64]) -> Vec<f64>) -> f64 {
    (0..x.len())
        .map(|i| {
            let mut e = vec![0.0; x.len()];
            e[i] = 1.0;
            prior.vjp(x, sigma, &a(&e)).unwrap()[i]
        })
        .sum()
}

#[test]
fn the_trace_gradient_estimate_is_unbiased_on_a_mixture_and_its_variance_falls_as_one_over_probes()
{
    let shape = Shape::new(1, 4, 4).unwrap();
    let n = shape.numel();
    let pattern =
        |k: f64| -> Vec<f64> { (0..n).map(|i| (0.7 * i as f64 + k).sin() * 0.5).collect() };
    let prior = GaussianMixturePrior::new(
        shape,
        vec![0.5, 0.3, 0.2],
        vec![pattern(0.0), pattern(1.5), pattern(3.0)],
        vec![0.02, 0.04, 0.03],
    )
    .unwrap();
    let op = TaskSpec::new("sr2").unwrap().build(shape).unwrap();
    let y = vec![0.1; op.output_len()];
    let problem = Problem::new(op.as_ref(), y, 0.1).unwrap();
    let sigma = 0.3;
    // Between the components, where the responsibilities (and so J) change fastest.
    let x: Vec<f64> = pattern(0.0)
        .iter()
        .zip(pattern(1.5))
        .map(|(a, b)| 0.5 * (a + b))
        .collect();
    let terms = TraceTerms {
        probes: 1,
        eps: 1e-4,
        cov: 1.0,
        h: 1.0,
        preconditioning: Preconditioning::Gram,
    };
    let a = |u: &[f64]| terms.cotangent(&problem, u, sigma);
    // The exact gradient: central differences of the exact trace.
    let h = 1e-5;
    let exact: Vec<f64> = (0..n)
        .map(|k| {
            let mut xp = x.clone();
            let mut xm = x.clone();
            xp[k] += h;
            xm[k] -= h;
            (exact_trace(&prior, &xp, sigma, &a) - exact_trace(&prior, &xm, sigma, &a)) / (2.0 * h)
        })
        .collect();
    let exact_norm = exact.iter().map(|v| v * v).sum::<f64>().sqrt();
    assert!(
        exact_norm > 1e-3,
        "the trace varies with x here: {exact_norm}"
    );
    // Many independent estimates at 1 and at 4 probes.
    let estimates = |probes: usize, runs: usize| -> Vec<Vec<f64>> {
        let mut rng = seeded(11 + probes as u64);
        (0..runs)
            .map(|_| trace_gradient(&prior, &x, sigma, &a, probes, 1e-4, &mut rng).unwrap())
            .collect()
    };
    let stats = |est: &[Vec<f64>]| -> (Vec<f64>, f64) {
        let r = est.len() as f64;
        let mean: Vec<f64> = (0..n)
            .map(|k| est.iter().map(|e| e[k]).sum::<f64>() / r)
            .collect();
        // Total variance: the sum over coordinates of each one's variance.
        let var = (0..n)
            .map(|k| est.iter().map(|e| (e[k] - mean[k]).powi(2)).sum::<f64>() / (r - 1.0))
            .sum::<f64>();
        (mean, var)
    };
    let runs = 4000;
    let (mean1, var1) = stats(&estimates(1, runs));
    let (mean4, var4) = stats(&estimates(4, runs));
    // Unbiased: the mean's distance to the exact gradient is within what the Monte Carlo
    // error allows (its expected square is var / runs).
    for (mean, var) in [(&mean1, var1), (&mean4, var4)] {
        let dist2: f64 = mean.iter().zip(&exact).map(|(m, e)| (m - e).powi(2)).sum();
        assert!(
            dist2 < 3.0 * var / runs as f64,
            "bias: |mean - exact|² = {dist2:.3e}, Monte Carlo allows {:.3e}",
            var / runs as f64
        );
    }
    let ratio = var1 / var4;
    eprintln!(
        "|exact| {exact_norm:.3e}; total variance 1 probe {var1:.3e}, 4 probes {var4:.3e}, ratio {ratio:.2}; |mean1 - exact| {:.3e}",
        mean1.iter().zip(&exact).map(|(m, e)| (m - e).powi(2)).sum::<f64>().sqrt()
    );
    assert!(
        (3.3..4.8).contains(&ratio),
        "variance ratio 1 vs 4 probes: {ratio}"
    );
}
