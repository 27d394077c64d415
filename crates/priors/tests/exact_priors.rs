//! The analytic priors against independent dense computations, finite differences and
//! Monte Carlo.

use nalgebra::{DMatrix, DVector};
use vmlmap_core::denoiser::vjp_finite_difference_error;
use vmlmap_core::rng::{normal_vec, seeded};
use vmlmap_core::vector::{dot, norm, rel_err, sub};
use vmlmap_core::{Denoiser, Shape};
use vmlmap_operators::{to_dense, LinearOperator, TaskSpec};
use vmlmap_priors::{Covariance, GaussianMixturePrior, GaussianPrior};

fn shape() -> Shape {
    Shape::new(1, 4, 4).unwrap()
}

fn lowrank(shape: Shape, seed: u64) -> GaussianPrior {
    let n = shape.numel();
    let mut rng = seeded(seed);
    let diag: Vec<f64> = (0..n).map(|i| 0.02 + 0.01 * (i % 3) as f64).collect();
    let w = DMatrix::from_row_slice(n, 3, &normal_vec(&mut rng, n * 3)) * 0.3;
    let mean = normal_vec(&mut rng, n).iter().map(|v| 0.2 * v).collect();
    GaussianPrior::new(shape, mean, Covariance::LowRankDiag { diag, factor: w }).unwrap()
}

fn priors() -> Vec<GaussianPrior> {
    let s = shape();
    let n = s.numel();
    vec![
        GaussianPrior::new(s, vec![0.1; n], Covariance::Isotropic(0.25)).unwrap(),
        GaussianPrior::new(
            s,
            vec![-0.2; n],
            Covariance::Diagonal((0..n).map(|i| 0.05 + 0.02 * i as f64).collect()),
        )
        .unwrap(),
        lowrank(s, 1),
    ]
}

fn ops() -> Vec<Box<dyn LinearOperator>> {
    let s = shape();
    [
        "inpaint-box",
        "sr2",
        "deblur-uniform",
        "deblur-motion",
        "cs",
        "denoise",
    ]
    .iter()
    .map(|t| TaskSpec::new(t).unwrap().build(s).unwrap())
    .collect()
}

fn dense_denoiser(p: &GaussianPrior, x: &[f64], sigma: f64) -> Vec<f64> {
    let s = p.dense_covariance();
    let n = x.len();
    let a = &s
        * (&s + DMatrix::identity(n, n) * sigma * sigma)
            .try_inverse()
            .unwrap();
    let d =
        DVector::from_column_slice(p.mean()) + a * DVector::from_column_slice(&sub(x, p.mean()));
    d.as_slice().to_vec()
}

#[test]
fn gaussian_denoiser_matches_dense_formula_and_fd_vjp() {
    let mut rng = seeded(3);
    for p in priors() {
        for sigma in [0.05, 0.5, 5.0] {
            let x = normal_vec(&mut rng, 16);
            let d = p.denoise(&x, sigma).unwrap();
            assert!(
                rel_err(&d, &dense_denoiser(&p, &x, sigma)) < 1e-12,
                "{} sigma={sigma}",
                p.name()
            );
            let v = normal_vec(&mut rng, 16);
            let u = normal_vec(&mut rng, 16);
            let e = vjp_finite_difference_error(&p, &x, sigma, &v, &u, 1e-4).unwrap();
            assert!(e < 1e-7, "{}: VJP vs finite difference {e}", p.name());
        }
    }
}

#[test]
fn gaussian_map_matches_direct_dense_solve() {
    // m = mu + S H^T (H S H^T + sigma_y^2 I)^-1 (y - H mu), by LU, noisy (well conditioned).
    let mut rng = seeded(4);
    for p in priors() {
        for op in ops() {
            let x0 = p.sample(&mut rng);
            let sy = 0.05;
            let y: Vec<f64> = op
                .apply(&x0)
                .iter()
                .zip(normal_vec(&mut rng, op.output_len()))
                .map(|(a, e)| a + sy * e)
                .collect();
            let post = p.posterior(op.as_ref(), &y, sy).unwrap();
            let h = to_dense(op.as_ref());
            let s = p.dense_covariance();
            let m = h.nrows();
            let r = DVector::from_column_slice(&sub(&y, &op.apply(p.mean())));
            let g = (&h * &s * h.transpose() + DMatrix::identity(m, m) * sy * sy)
                .lu()
                .solve(&r)
                .unwrap();
            let want = DVector::from_column_slice(p.mean()) + &s * h.transpose() * g;
            assert!(
                rel_err(post.map(), want.as_slice()) < 1e-10,
                "{} {}",
                p.name(),
                op.describe()
            );
        }
    }
}

#[test]
fn isotropic_closed_form_equals_dense_route_noise_free() {
    let mut rng = seeded(5);
    let p = &priors()[0];
    for op in ops() {
        let x0 = p.sample(&mut rng);
        let y = op.apply(&x0);
        for sy in [1e-9, 0.05] {
            let a = p.posterior(op.as_ref(), &y, sy).unwrap();
            let b = p.posterior_dense(op.as_ref(), &y, sy).unwrap();
            assert!(
                rel_err(a.map(), b.map()) < 1e-9,
                "{} sy={sy}: {}",
                op.describe(),
                rel_err(a.map(), b.map())
            );
            let v = normal_vec(&mut rng, 16);
            assert!(
                rel_err(&a.cov_apply(&v), &b.cov_apply(&v)) < 1e-8,
                "{} sy={sy}: covariance",
                op.describe()
            );
        }
        // Noise-free, the MAP fits the measurement exactly.
        let post = p.posterior(op.as_ref(), &y, 1e-9).unwrap();
        assert!(rel_err(&op.apply(post.map()), &y) < 1e-8);
    }
}

#[test]
fn posterior_samples_have_the_exact_moments() {
    let op = TaskSpec::new("sr2").unwrap().build(shape()).unwrap();
    for p in [priors().swap_remove(0), lowrank(shape(), 2)] {
        let mut rng = seeded(6);
        let y = op.apply(&p.sample(&mut rng));
        let post = p.posterior(op.as_ref(), &y, 0.1).unwrap();
        let u = normal_vec(&mut rng, 16);
        let n = 40_000;
        let (mut s1, mut s2) = (0.0, 0.0);
        let mut mean = vec![0.0; 16];
        for _ in 0..n {
            let x = post.sample(&mut rng);
            let t = dot(&u, &x);
            s1 += t;
            s2 += t * t;
            for (m, v) in mean.iter_mut().zip(&x) {
                *m += v / n as f64;
            }
        }
        let var = s2 / n as f64 - (s1 / n as f64).powi(2);
        let want_var = dot(&u, &post.cov_apply(&u));
        assert!(
            (var - want_var).abs() < 0.05 * want_var,
            "{}: var {var} vs {want_var}",
            p.name()
        );
        let tol = 5.0 * (want_var / n as f64).sqrt();
        assert!(
            (dot(&u, &mean) - dot(&u, post.map())).abs() < tol,
            "{}: mean",
            p.name()
        );
    }
}

fn mixture(shape: Shape) -> GaussianMixturePrior {
    let n = shape.numel();
    let mut rng = seeded(9);
    let means: Vec<Vec<f64>> = (0..3).map(|_| normal_vec(&mut rng, n)).collect();
    GaussianMixturePrior::new(shape, vec![0.5, 0.3, 0.2], means, vec![0.01, 0.02, 0.015]).unwrap()
}

#[test]
fn mixture_denoiser_is_tweedie_and_vjp_matches_fd() {
    let p = mixture(shape());
    let mut rng = seeded(10);
    for sigma in [0.1, 0.5, 2.0] {
        // Start near a point between components so responsibilities are not saturated.
        let x: Vec<f64> = p.means()[0]
            .iter()
            .zip(&p.means()[1])
            .map(|(a, b)| 0.5 * (a + b))
            .collect();
        let x: Vec<f64> = x
            .iter()
            .zip(normal_vec(&mut rng, 16))
            .map(|(a, e)| a + 0.1 * e)
            .collect();
        // Tweedie: D = x + sigma^2 grad log p_sigma(x), gradient by central differences.
        let h = 1e-5;
        let grad: Vec<f64> = (0..16)
            .map(|i| {
                let mut a = x.clone();
                let mut b = x.clone();
                a[i] += h;
                b[i] -= h;
                (p.log_density(&a, sigma) - p.log_density(&b, sigma)) / (2.0 * h)
            })
            .collect();
        let tweedie: Vec<f64> = x
            .iter()
            .zip(&grad)
            .map(|(a, g)| a + sigma * sigma * g)
            .collect();
        assert!(
            rel_err(&p.denoise(&x, sigma).unwrap(), &tweedie) < 1e-6,
            "sigma={sigma}"
        );
        let v = normal_vec(&mut rng, 16);
        let u = normal_vec(&mut rng, 16);
        let e = vjp_finite_difference_error(&p, &x, sigma, &v, &u, 1e-5).unwrap();
        assert!(e < 1e-6, "VJP vs finite difference {e} at sigma={sigma}");
        // The exact Jacobian is symmetric (Cov[x0|x]/sigma^2).
        let jv = p.vjp(&x, sigma, &v).unwrap();
        let ju = p.vjp(&x, sigma, &u).unwrap();
        assert!((dot(&jv, &u) - dot(&ju, &v)).abs() < 1e-10 * norm(&jv) * norm(&u));
    }
}

#[test]
fn mixture_posterior_weights_modes_and_samples() {
    let s = shape();
    let p = mixture(s);
    let op = TaskSpec::new("sr2").unwrap().build(s).unwrap();
    let mut rng = seeded(11);
    let x0 = p.sample(&mut rng);
    let sy = 0.3;
    let y: Vec<f64> = op
        .apply(&x0)
        .iter()
        .zip(normal_vec(&mut rng, 4))
        .map(|(a, e)| a + sy * e)
        .collect();
    let post = p.posterior(op.as_ref(), &y, sy).unwrap();
    // Weights against log N(y; H mu_k, s_k H H^T + sigma_y^2 I) by Cholesky.
    let h = to_dense(op.as_ref());
    let hht = &h * h.transpose();
    let logs: Vec<f64> = (0..3)
        .map(|k| {
            let s_k = [0.01, 0.02, 0.015][k];
            let c = &hht * s_k + DMatrix::identity(4, 4) * sy * sy;
            let r = DVector::from_column_slice(&sub(&y, &op.apply(&p.means()[k])));
            let ch = c.clone().cholesky().unwrap();
            let quad = r.dot(&ch.solve(&r));
            [0.5f64, 0.3, 0.2][k].ln() - 0.5 * quad - 0.5 * c.determinant().ln()
        })
        .collect();
    let m = logs.iter().cloned().fold(f64::MIN, f64::max);
    let z: f64 = logs.iter().map(|l| (l - m).exp()).sum();
    let want: Vec<f64> = logs.iter().map(|l| (l - m).exp() / z).collect();
    assert!(
        rel_err(&post.weights(), &want) < 1e-9,
        "{:?} vs {want:?}",
        post.weights()
    );
    // Modes: the gradient of log p(x|y) vanishes.
    for mode in post.modes() {
        let r = p.responsibilities(&mode.x, 0.0);
        let mut g = op.adjoint(&sub(&y, &op.apply(&mode.x)));
        for v in g.iter_mut() {
            *v /= sy * sy;
        }
        for k in 0..3 {
            for (gi, (mu, xi)) in g.iter_mut().zip(p.means()[k].iter().zip(&mode.x)) {
                *gi += r[k] * (mu - xi) / [0.01, 0.02, 0.015][k];
            }
        }
        assert!(
            norm(&g) < 1e-8 * norm(&mode.x) / 0.01,
            "gradient {}",
            norm(&g)
        );
        assert!(mode.stationarity < 1e-12);
    }
    // Component frequencies of exact samples follow w'.
    let n = 20_000;
    let mut counts = [0usize; 3];
    for _ in 0..n {
        let x = post.sample(&mut rng);
        let k = (0..3)
            .min_by(|&a, &b| {
                norm(&sub(&x, &post.component_means()[a]))
                    .total_cmp(&norm(&sub(&x, &post.component_means()[b])))
            })
            .unwrap();
        counts[k] += 1;
    }
    for k in 0..3 {
        let f = counts[k] as f64 / n as f64;
        assert!(
            (f - want[k]).abs() < 0.02,
            "component {k}: {f} vs {}",
            want[k]
        );
    }
}

#[test]
fn invalid_parameters_are_typed_errors() {
    let s = shape();
    assert!(GaussianPrior::new(s, vec![0.0; 15], Covariance::Isotropic(1.0)).is_err());
    assert!(GaussianPrior::new(s, vec![0.0; 16], Covariance::Isotropic(-1.0)).is_err());
    assert!(GaussianMixturePrior::new(s, vec![1.0], vec![vec![0.0; 16]], vec![0.0]).is_err());
    let p = &priors()[0];
    let op = TaskSpec::new("sr2").unwrap().build(s).unwrap();
    assert!(p.posterior(op.as_ref(), &[0.0; 3], 0.1).is_err());
    assert!(p.posterior(op.as_ref(), &[0.0; 4], 0.0).is_err());
    assert!(p.denoise(&[0.0; 16], f64::NAN).is_err());
    assert!(p.denoise(&[0.0; 15], 1.0).is_err());
}
