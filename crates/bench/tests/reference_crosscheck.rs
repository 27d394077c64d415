//! VML-MAP against the numpy reference (`shared/reference/vml_map_gaussian.py`) on its own
//! exact 64-dimensional Gaussian problems: the step directions at a fixed point and a whole
//! run (N = 20, K = 5) from the same starting noise. Fixture made by
//! `tools/make_vml_reference_fixture.py`.

use nalgebra::DMatrix;
use serde::Deserialize;
use vmlmap_core::vector::rel_err;
use vmlmap_core::Shape;
use vmlmap_operators::factor::Factor;
use vmlmap_operators::kernels::{block_average, circulant, gaussian_1d};
use vmlmap_operators::kronecker::KroneckerOperator;
use vmlmap_operators::mask::MaskOperator;
use vmlmap_operators::LinearOperator;
use vmlmap_priors::{Covariance, GaussianPrior};
use vmlmap_solvers::vml_map::{vml_direction, Preconditioning, VmlMapConfig};
use vmlmap_solvers::{Problem, Silent};

#[derive(Deserialize)]
struct Case {
    prior: String,
    operator: String,
    sigma_y: f64,
    y: Vec<f64>,
    map: Vec<f64>,
    x: Vec<f64>,
    dir_pre: Vec<f64>,
    dir_plain: Vec<f64>,
    init_noise: Vec<f64>,
    run_n20_k5: Vec<f64>,
}

#[derive(Deserialize)]
struct Fixture {
    n_dim: usize,
    cases: Vec<Case>,
}

fn prior(kind: &str, n: usize) -> GaussianPrior {
    let shape = Shape::new(1, 1, n).unwrap();
    let cov = if kind == "iso" {
        Covariance::Isotropic(0.25)
    } else {
        Covariance::Dense(DMatrix::from_fn(n, n, |i, j| {
            0.25 * (-((i as f64) - (j as f64)).abs() / 6.0).exp()
        }))
    };
    GaussianPrior::new(shape, vec![0.0; n], cov).unwrap()
}

fn operator(kind: &str, n: usize) -> Box<dyn LinearOperator> {
    let shape = Shape::new(1, 1, n).unwrap();
    let id = Factor::Identity(1);
    match kind {
        "inpaint" => Box::new(MaskOperator::new(
            "hole 20..44",
            shape,
            &(0..n).map(|i| !(20..44).contains(&i)).collect::<Vec<_>>(),
        )),
        "sr4" => Box::new(KroneckerOperator::new(
            "sr4 1-D",
            id.clone(),
            id,
            Factor::dense(block_average(n, 4)),
        )),
        _ => Box::new(KroneckerOperator::new(
            "blur 1-D",
            id.clone(),
            id,
            Factor::dense(circulant(n, &gaussian_1d(9, 1.5))),
        )),
    }
}

#[test]
fn matches_the_numpy_reference() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/vml_reference.json"
    );
    let fx: Fixture = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(fx.cases.len(), 12);
    for c in &fx.cases {
        let p = prior(&c.prior, fx.n_dim);
        let op = operator(&c.operator, fx.n_dim);
        let label = format!("{} {} sigma_y={}", c.prior, c.operator, c.sigma_y);
        // Both sides round to ~1e-16; noise-free, the solves amplify that by up to the
        // condition number of H^T H (4e9 for the blur), so the bound follows it.
        let sv: Vec<f64> = op
            .singular_values()
            .into_iter()
            .filter(|s| *s > 0.0)
            .collect();
        let cond2 = (sv.iter().cloned().fold(0.0, f64::max)
            / sv.iter().cloned().fold(f64::MAX, f64::min))
        .powi(2);
        let tol = if c.sigma_y < 1e-6 {
            1e-9 + 1e-15 * cond2
        } else {
            1e-9
        };
        // Exact MAP by our closed forms.
        let post = p.posterior(op.as_ref(), &c.y, c.sigma_y).unwrap();
        let e = rel_err(post.map(), &c.map);
        eprintln!("{label}: MAP {e:.1e} (bound {tol:.1e})");
        assert!(e < tol, "{label}: MAP differs by {e}");
        let problem = Problem::new(op.as_ref(), c.y.clone(), c.sigma_y).unwrap();
        let pre = vml_direction(&problem, &p, &c.x, 0.5, Preconditioning::Gram).unwrap();
        let e = rel_err(&pre.direction, &c.dir_pre);
        assert!(e < tol, "{label}: preconditioned direction differs by {e}");
        let plain = vml_direction(&problem, &p, &c.x, 0.5, Preconditioning::Plain).unwrap();
        let e = rel_err(&plain.direction, &c.dir_plain);
        assert!(e < tol, "{label}: plain direction differs by {e}");
        let solver = VmlMapConfig {
            steps: 20,
            inner: 5,
            lr: 1.0,
            // The reference returns D(x, sigma_min) itself.
            final_data_step: false,
            ..VmlMapConfig::paper()
        }
        .check()
        .unwrap();
        let out = solver
            .solve_from_noise(&problem, &p, &c.init_noise, 0, &mut Silent)
            .unwrap();
        let e = rel_err(&out.x, &c.run_n20_k5);
        assert!(e < tol, "{label}: N=20 K=5 run differs by {e}");
        assert_eq!((out.nfe, out.vjp), (20 * 6, 20 * 5));
    }
}
