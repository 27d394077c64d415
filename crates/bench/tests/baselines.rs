//! The baselines on an exact Gaussian prior, where the truth is known: Tikhonov is the MAP
//! of a zero-mean isotropic Gaussian; every diffusion baseline returns finite images that
//! beat the pseudo-inverse on noisy problems; DDNM and DiffPIR fit noise-free data exactly.
//! (The distributional checks, against the exact posterior over many seeds, live in
//! `vmlmap validate`.)

use vmlmap_core::rng::{normal_vec, seeded};
use vmlmap_core::vector::{norm, rel_err, sub};
use vmlmap_core::{Denoiser, Shape};
use vmlmap_operators::TaskSpec;
use vmlmap_priors::{Covariance, GaussianPrior};
use vmlmap_solvers::{build_solver, Computes, Problem, Silent, SolverOptions};

/// The diffusion samplers and RED-diff, from the registry, with the network passes their
/// documented defaults make (`steps`, times `ode_steps` where there is one: DAPS).
fn diffusion_baselines() -> Vec<(&'static str, usize)> {
    vmlmap_solvers::SOLVERS
        .iter()
        .filter(|d| matches!(d.computes, Computes::Sample | Computes::RegularisedPoint))
        .map(|d| {
            let opts = d.options();
            let default = |k: &str| -> usize {
                opts.iter()
                    .find(|o| o.key == k)
                    .map_or(1, |o| o.default.parse().unwrap())
            };
            (d.name, default("steps") * default("ode_steps"))
        })
        .collect()
}

fn opts(extra: &[&str]) -> SolverOptions {
    SolverOptions {
        extra: extra.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

#[test]
fn tikhonov_is_the_map_of_a_zero_mean_isotropic_gaussian() {
    let shape = Shape::new(1, 16, 16).unwrap();
    let n = shape.numel();
    let s = 0.25;
    let prior = GaussianPrior::new(shape, vec![0.0; n], Covariance::Isotropic(s)).unwrap();
    let mut rng = seeded(1);
    for task in ["inpaint-box", "sr4", "deblur-gaussian"] {
        let op = TaskSpec::new(task).unwrap().build(shape).unwrap();
        let x = prior.sample(&mut rng);
        let y: Vec<f64> = op
            .apply(&x)
            .iter()
            .zip(normal_vec(&mut rng, op.output_len()))
            .map(|(a, e)| a + 0.05 * e)
            .collect();
        let map = prior
            .posterior(op.as_ref(), &y, 0.05)
            .unwrap()
            .map()
            .to_vec();
        let p = Problem::new(op.as_ref(), y, 0.05).unwrap();
        let t = build_solver("tikhonov", &SolverOptions::default()).unwrap();
        let got = t.solve(&p, &prior, 0, &mut Silent).unwrap();
        assert!(
            rel_err(&got.x, &map) < 1e-10,
            "{task}: {}",
            rel_err(&got.x, &map)
        );
        assert_eq!((got.nfe, got.vjp), (0, 0));
        // A different lambda gives a different estimate.
        let other = build_solver("tikhonov", &opts(&["lambda=1"])).unwrap();
        assert!(rel_err(&other.solve(&p, &prior, 0, &mut Silent).unwrap().x, &map) > 1e-3);
    }
}

/// The samplers among them draw from (an approximation of) the posterior: a single draw is
/// about sqrt(2) times as far from the truth as the posterior mean, so it is their mean over
/// seeds (one batch of 16) that must beat the pseudo-inverse; a single draw is reported.
#[test]
fn diffusion_baselines_beat_pinv_on_noisy_problems_of_a_gaussian_prior() {
    let shape = Shape::new(1, 16, 16).unwrap();
    let n = shape.numel();
    // The correlated prior of `vmlmap validate` (an isotropic one adds nothing to pinv in
    // super-resolution: its posterior mean is pinv's estimate shrunk a little).
    let (_, prior) = vmlmap_bench::problems::gaussian_priors(shape).remove(1);
    let mut rng = seeded(2);
    for task in ["inpaint-box", "sr4", "deblur-gaussian"] {
        let op = TaskSpec::new(task).unwrap().build(shape).unwrap();
        let x = prior.sample(&mut rng);
        let y: Vec<f64> = op
            .apply(&x)
            .iter()
            .zip(normal_vec(&mut rng, op.output_len()))
            .map(|(a, e)| a + 0.05 * e)
            .collect();
        let p = Problem::new(op.as_ref(), y.clone(), 0.05).unwrap();
        let err = |z: &[f64]| norm(&sub(z, &x)) / norm(&x);
        let pinv = err(&op.pinv(&y));
        let post = prior.posterior(op.as_ref(), &y, 0.05).unwrap();
        let exact = err(post.map());
        let seeds: Vec<u64> = (0..16).collect();
        let problems: Vec<Problem> = seeds
            .iter()
            .map(|_| Problem::new(op.as_ref(), y.clone(), 0.05).unwrap())
            .collect();
        let baselines = diffusion_baselines();
        assert!(baselines.len() >= 7, "{baselines:?}");
        for (name, steps) in &baselines {
            let s = build_solver(name, &SolverOptions::default()).unwrap();
            let outs = s
                .solve_batch(&problems, &prior, &seeds, &mut Silent)
                .unwrap();
            assert!(
                outs.iter().all(|o| o.x.iter().all(|v| v.is_finite())),
                "{name} {task}"
            );
            let mean: Vec<f64> = (0..n)
                .map(|i| outs.iter().map(|o| o.x[i]).sum::<f64>() / outs.len() as f64)
                .collect();
            let (one, e) = (err(&outs[0].x), err(&mean));
            eprintln!(
                "{name:9} {task:16} error of one draw {one:.3}, of the mean of 16 {e:.3} (pinv {pinv:.3}, posterior mean {exact:.3})"
            );
            assert!(e < pinv, "{name} {task}: {e} >= pinv {pinv}");
            assert_eq!(outs[0].nfe, *steps, "{name}");
        }
        let _ = &p;
    }
}

#[test]
fn ddnm_and_diffpir_fit_noise_free_data_exactly() {
    let shape = Shape::new(1, 16, 16).unwrap();
    let n = shape.numel();
    let prior = GaussianPrior::new(shape, vec![0.0; n], Covariance::Isotropic(0.2)).unwrap();
    let mut rng = seeded(4);
    for task in ["inpaint-box", "sr4"] {
        let op = TaskSpec::new(task).unwrap().build(shape).unwrap();
        let x = prior.sample(&mut rng);
        let p = Problem::new(op.as_ref(), op.apply(&x), 1e-9).unwrap();
        for name in ["ddnm", "diffpir"] {
            let s = build_solver(name, &opts(&["steps=20"])).unwrap();
            let out = s.solve(&p, &prior, 0, &mut Silent).unwrap();
            assert!(
                p.residual(&out.x) < 1e-8,
                "{name} {task}: {}",
                p.residual(&out.x)
            );
        }
    }
    // The count of network passes follows the steps; VJP solvers count one per step.
    let op = TaskSpec::new("sr2").unwrap().build(shape).unwrap();
    let p = Problem::new(op.as_ref(), vec![0.0; op.output_len()], 0.05).unwrap();
    for (name, vjp) in [
        ("dps", 7),
        ("pigdm", 7),
        ("ddnm", 0),
        ("diffpir", 0),
        ("red-diff", 0),
    ] {
        let out = build_solver(name, &opts(&["steps=7"]))
            .unwrap()
            .solve(&p, &prior as &dyn Denoiser, 0, &mut Silent)
            .unwrap();
        assert_eq!((out.nfe, out.vjp), (7, vjp), "{name}");
    }
}

/// The `baselines` check of `vmlmap validate`: what each solver computes, checked against
/// the exact posterior (64 seeded runs of each sampler as one batch).
#[test]
fn validate_baselines_report_bias_variance_and_the_pinv_comparison() {
    use vmlmap_bench::validate::baselines::{
        baseline_checks, baseline_solvers, computes, SAMPLER_SEEDS,
    };
    let solvers = baseline_solvers();
    // Every registered solver but the data fit and the two the VML-MAP checks cover.
    for d in vmlmap_solvers::SOLVERS {
        let covered =
            d.computes != Computes::DataFit && !["vml-map", "vml-map-plain"].contains(&d.name);
        assert_eq!(solvers.contains(&d.name), covered, "{}", d.name);
    }
    let records = baseline_checks("sr4", 1, 0.05, &solvers);
    assert_eq!(records.len(), solvers.len());
    for r in &records {
        assert!(r.pass, "{} {}", r.solver, r.note);
        assert_eq!(r.computes.as_deref(), Some(computes(&r.solver)));
        assert!(r.beats_pinv.is_some(), "noisy: compared with pinv");
        if computes(&r.solver).starts_with("posterior sample") {
            assert_eq!(r.runs, Some(SAMPLER_SEEDS));
            let (bias, ratio) = (r.bias.unwrap(), r.variance_ratio.unwrap());
            assert!(bias.is_finite() && bias >= 0.0 && bias <= r.rel_err_to_map);
            assert!(ratio > 0.0 && ratio.is_finite(), "{}: {ratio}", r.solver);
        }
    }
    let tik = records.iter().find(|r| r.solver == "tikhonov").unwrap();
    assert!(tik.rel_err_to_map <= 1e-6, "{}", tik.rel_err_to_map);
    // On this correlated prior every baseline beats pinv on noisy 4x super-resolution.
    assert!(records.iter().all(|r| r.beats_pinv == Some(true)));
    // DDRM cannot take the FFT motion blur: recorded as not applicable, not failed.
    let motion = baseline_checks("deblur-motion", 0, 1e-9, &["ddrm"]);
    assert!(
        motion[0].pass && motion[0].note.starts_with("not applicable"),
        "{}",
        motion[0].note
    );
}
