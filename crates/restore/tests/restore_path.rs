//! The library restore path on an exact prior: batches give what single runs give, a
//! cancelled run ends with `Interrupted`, and mismatched shapes are named.

use vmlmap_core::Shape;
use vmlmap_operators::TaskSpec;
use vmlmap_priors::gaussian::{Covariance, GaussianPrior};
use vmlmap_restore::{restore, restore_batch, Cancel, Measurement, RestoreError, SolverSpec};
use vmlmap_solvers::{Silent, SolverOptions};

fn setup() -> (GaussianPrior, Vec<Measurement>) {
    let shape = Shape::new(1, 8, 8).unwrap();
    let prior = GaussianPrior::new(shape, vec![0.0; 64], Covariance::Isotropic(0.25)).unwrap();
    let task = TaskSpec::new("sr2").unwrap();
    let ms = (0..3)
        .map(|i| {
            let x: Vec<f64> = (0..64)
                .map(|k| ((k * (i + 1)) as f64 * 0.1).sin() * 0.8)
                .collect();
            Measurement::degrade(format!("m{i}"), &x, shape, &task, 0.05, i as u64).unwrap()
        })
        .collect();
    (prior, ms)
}

#[test]
fn a_batch_gives_what_single_runs_give() {
    let (prior, ms) = setup();
    let solver = SolverSpec::new("ddnm", SolverOptions::default())
        .build()
        .unwrap();
    let cancel = Cancel::new();
    let together = restore(&ms, solver.as_ref(), &prior, 5, 3, &cancel, &mut Silent).unwrap();
    for (m, r) in ms.iter().zip(&together) {
        let alone = restore_batch(&[m], solver.as_ref(), &prior, 5, &cancel, &mut Silent).unwrap();
        let diff = alone[0]
            .x
            .iter()
            .zip(&r.x)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(diff < 1e-12, "{diff}");
        assert_eq!(r.batch, 3);
        assert!(r.nfe > 0 && r.residual.is_finite());
    }
}

#[test]
fn a_cancelled_run_is_interrupted() {
    let (prior, ms) = setup();
    let solver = SolverSpec::new("vml-map", SolverOptions::default())
        .build()
        .unwrap();
    let cancel = Cancel::new();
    cancel.cancel();
    let e = restore(&ms, solver.as_ref(), &prior, 0, 2, &cancel, &mut Silent).unwrap_err();
    assert!(matches!(e, RestoreError::Interrupted), "{e}");
}

#[test]
fn shapes_that_do_not_fit_are_named() {
    let (prior, _) = setup();
    let big = Shape::new(1, 16, 16).unwrap();
    let m = Measurement::degrade(
        "big",
        &[0.0; 256],
        big,
        &TaskSpec::new("sr2").unwrap(),
        0.05,
        0,
    )
    .unwrap();
    let solver = SolverSpec::new("ddnm", SolverOptions::default())
        .build()
        .unwrap();
    let e = restore_batch(
        &[&m],
        solver.as_ref(),
        &prior,
        0,
        &Cancel::new(),
        &mut Silent,
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("1x8x8") || e.to_string().contains("8x8"),
        "{e}"
    );
    let e = SolverSpec::new("vml", SolverOptions::default())
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("unknown solver"), "{e}");
}
