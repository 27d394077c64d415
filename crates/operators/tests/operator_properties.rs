//! One table of every operator, run through the same identities (relative errors):
//! adjointness, SVD reconstruction and orthogonality, Gram solves against a dense solve,
//! `H H^+ H = H`, the stable halves of the preconditioner, and the singular values against
//! a dense SVD.

use nalgebra::{DMatrix, DVector};
use proptest::prelude::*;
use vmlmap_core::rng::{normal_vec, seeded};
use vmlmap_core::vector::{dot, norm, rel_err, scale};
use vmlmap_core::Shape;
use vmlmap_operators::{to_dense, LinearOperator, TaskSpec};

fn table() -> Vec<Box<dyn LinearOperator>> {
    let g = Shape::new(1, 16, 16).unwrap();
    let g8 = Shape::new(2, 8, 8).unwrap();
    let rgb = Shape::new(3, 8, 8).unwrap();
    let rect = Shape::new(1, 8, 16).unwrap();
    let specs: Vec<(&str, Vec<&str>, Shape)> = vec![
        ("inpaint-box", vec![], g),
        ("inpaint-box", vec!["size=3", "top=0", "left=5"], rect),
        ("inpaint-random", vec![], rgb),
        ("inpaint-half", vec![], g8),
        ("inpaint-half", vec!["missing=top"], rect),
        ("sr2", vec![], g),
        ("sr4", vec![], rgb),
        ("sr8", vec![], g),
        ("sr2-bicubic", vec![], g),
        ("sr4-bicubic", vec![], rect),
        ("deblur-gaussian", vec![], g),
        ("deblur-gaussian", vec!["size=7", "std=1.5"], rect),
        ("deblur-uniform", vec![], rgb),
        ("deblur-motion", vec![], g),
        (
            "deblur-motion",
            vec!["size=7", "seed=3", "intensity=1"],
            rect,
        ),
        ("colorize", vec![], rgb),
        ("denoise", vec![], g8),
        ("cs", vec![], g8),
        ("cs", vec!["ratio=0.25", "seed=2"], rgb),
    ];
    specs
        .into_iter()
        .map(|(n, o, s)| TaskSpec::parse(n, &o).unwrap().build(s).unwrap())
        .collect()
}

fn vecs(op: &dyn LinearOperator, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut rng = seeded(seed);
    let x = normal_vec(&mut rng, op.input_shape().numel());
    let y = normal_vec(&mut rng, op.output_len());
    (x, y)
}

fn dense_solve(h: &DMatrix<f64>, v: &[f64], lambda: f64) -> Vec<f64> {
    let n = h.ncols();
    let a = h.transpose() * h + DMatrix::identity(n, n) * lambda;
    let lu = a.lu();
    lu.solve(&DVector::from_column_slice(v))
        .unwrap()
        .as_slice()
        .to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn adjoint_identity(idx in 0usize..19, seed in any::<u64>()) {
        let ops = table();
        let op = &ops[idx];
        let (x, y) = vecs(op.as_ref(), seed);
        let hx = op.apply(&x);
        let hty = op.adjoint(&y);
        let lhs = dot(&hx, &y);
        let rhs = dot(&x, &hty);
        prop_assert!((lhs - rhs).abs() <= 1e-12 * norm(&hx).max(1e-300) * norm(&y) + 1e-300,
            "{}: <Hx,y>={lhs} <x,H^T y>={rhs}", op.describe());
    }

    #[test]
    fn svd_reconstructs_and_is_orthogonal(idx in 0usize..19, seed in any::<u64>()) {
        let ops = table();
        let op = &ops[idx];
        let Some(b) = op.svd() else { return Ok(()); };
        let (x, y) = vecs(op.as_ref(), seed);
        prop_assert!(rel_err(&b.svd_apply(&x), &op.apply(&x)) < 1e-10, "{}: U S V^T x != H x", op.describe());
        prop_assert!(rel_err(&b.svd_adjoint(&y), &op.adjoint(&y)) < 1e-10, "{}: V S U^T y != H^T y", op.describe());
        prop_assert!(rel_err(&b.v(&b.v_t(&x)), &x) < 1e-12, "{}: V V^T != I", op.describe());
        prop_assert!(rel_err(&b.v_t(&b.v(&x)), &x) < 1e-12, "{}: V^T V != I", op.describe());
        prop_assert!(rel_err(&b.u(&b.u_t(&y)), &y) < 1e-12, "{}: U U^T != I", op.describe());
        prop_assert!(rel_err(&b.u_t(&b.u(&y)), &y) < 1e-12, "{}: U^T U != I", op.describe());
    }

    #[test]
    fn gram_solve_matches_dense(idx in 0usize..19, seed in any::<u64>(), lexp in -4i32..1) {
        let ops = table();
        let op = &ops[idx];
        let h = to_dense(op.as_ref());
        let (x, y) = vecs(op.as_ref(), seed);
        let lambda = 10f64.powi(lexp);
        let want = dense_solve(&h, &x, lambda);
        prop_assert!(rel_err(&op.gram_solve(&x, lambda), &want) < 1e-8, "{}: gram_solve, lambda={lambda}", op.describe());
        // The two stable halves of the preconditioner agree with the plain Gram solve.
        let want_rp = dense_solve(&h, &op.adjoint(&y), lambda);
        prop_assert!(rel_err(&op.regularized_pinv(&y, lambda), &want_rp) < 1e-8, "{}: regularized_pinv", op.describe());
        prop_assert!(rel_err(&op.null_filter(&x, lambda), &scale(&want, lambda)) < 1e-8, "{}: null_filter", op.describe());
    }

    #[test]
    fn pseudo_inverse_identities(idx in 0usize..19, seed in any::<u64>()) {
        let ops = table();
        let op = &ops[idx];
        let (x, _) = vecs(op.as_ref(), seed);
        let hx = op.apply(&x);
        let xp = op.pinv(&hx);
        // H H^+ H = H
        prop_assert!(rel_err(&op.apply(&xp), &hx) < 1e-8, "{}: H H^+ H x != H x", op.describe());
        // H^+ H is the orthogonal projection onto the row space: x - H^+ H x lies in the null
        // space, which the null filter at lambda = 0 keeps whole.
        let null = vmlmap_core::vector::sub(&x, &xp);
        let kept = op.null_filter(&null, 0.0);
        prop_assert!(norm(&vmlmap_core::vector::sub(&kept, &null)) <= 1e-8 * norm(&x), "{}: null projection", op.describe());
        prop_assert!(norm(&op.null_filter(&xp, 0.0)) <= 1e-8 * norm(&xp), "{}: H^+ y not in the row space", op.describe());
    }
}

#[test]
fn singular_values_match_dense_svd() {
    for op in table() {
        let h = to_dense(op.as_ref());
        let mut dense: Vec<f64> = h
            .clone()
            .svd(false, false)
            .singular_values
            .as_slice()
            .to_vec();
        dense.resize(op.input_shape().numel(), 0.0);
        dense.sort_by(|a, b| b.total_cmp(a));
        let mut ours = op.singular_values();
        ours.sort_by(|a, b| b.total_cmp(a));
        assert_eq!(ours.len(), dense.len(), "{}", op.describe());
        let err = ours
            .iter()
            .zip(&dense)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(
            err < 1e-10 * dense[0],
            "{}: singular values differ by {err}",
            op.describe()
        );
        assert!((op.norm() - dense[0]).abs() < 1e-10 * dense[0]);
    }
}

/// The FFT convolution equals a direct circular convolution in pixel space.
#[test]
fn motion_blur_equals_direct_circular_convolution() {
    let s = Shape::new(2, 12, 10).unwrap();
    let spec = TaskSpec::parse("deblur-motion", &["size=5", "seed=11"]).unwrap();
    let op = spec.build(s).unwrap();
    let k = vmlmap_operators::kernels::motion_kernel(5, 0.5, 11);
    let x = normal_vec(&mut seeded(5), s.numel());
    let mut want = vec![0.0; s.numel()];
    for c in 0..s.c {
        for i in 0..s.h {
            for j in 0..s.w {
                let mut acc = 0.0;
                for a in 0..5 {
                    for b in 0..5 {
                        let si = (i + s.h * 2 - (a as isize - 2).rem_euclid(s.h as isize) as usize)
                            % s.h;
                        let sj = (j + s.w * 2 - (b as isize - 2).rem_euclid(s.w as isize) as usize)
                            % s.w;
                        acc += k[a * 5 + b] * x[c * s.pixels() + si * s.w + sj];
                    }
                }
                want[c * s.pixels() + i * s.w + j] = acc;
            }
        }
    }
    assert!(rel_err(&op.apply(&x), &want) < 1e-12);
}

/// Block averaging and colourisation give the means they promise.
#[test]
fn averaging_operators_average() {
    let s = Shape::new(3, 8, 8).unwrap();
    let x: Vec<f64> = (0..s.numel()).map(|i| (i as f64).sin()).collect();
    let sr = TaskSpec::new("sr4").unwrap().build(s).unwrap();
    let y = sr.apply(&x);
    assert_eq!(sr.output_shape(), Some(Shape::new(3, 2, 2).unwrap()));
    let want: f64 = (0..4)
        .flat_map(|r| (0..4).map(move |c| r * 8 + c))
        .map(|p| x[64 + p])
        .sum::<f64>()
        / 16.0;
    assert!((y[4] - want).abs() < 1e-14);
    let col = TaskSpec::new("colorize").unwrap().build(s).unwrap();
    let g = col.apply(&x);
    assert!((g[5] - (x[5] + x[69] + x[133]) / 3.0).abs() < 1e-14);
}

/// A PNG mask is read as observed where white.
#[test]
fn png_mask_roundtrip() {
    let dir = std::env::temp_dir().join(format!("vmlmap-mask-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("mask.png");
    let img = image::GrayImage::from_fn(8, 4, |x, _| image::Luma([if x < 2 { 0 } else { 255 }]));
    img.save(&p).unwrap();
    let s = Shape::new(1, 4, 8).unwrap();
    let path = format!("path={}", p.display());
    let op = TaskSpec::parse("inpaint-mask", &[path.as_str()])
        .unwrap()
        .build(s)
        .unwrap();
    assert_eq!(op.output_len(), 4 * 6);
    let inv = TaskSpec::parse("inpaint-mask", &[path.as_str(), "invert=true"])
        .unwrap()
        .build(s)
        .unwrap();
    assert_eq!(inv.output_len(), 4 * 2);
    let wrong = TaskSpec::parse("inpaint-mask", &[path.as_str()])
        .unwrap()
        .build(Shape::new(1, 8, 8).unwrap());
    assert!(wrong.unwrap_err().to_string().contains("mask is 8x4"));
    std::fs::remove_dir_all(&dir).unwrap();
}
