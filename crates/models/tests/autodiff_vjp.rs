//! The burn autodiff path of the `Denoiser` abstraction: a linear denoiser written in burn
//! ops against its closed form, and a small nonlinear convolutional denoiser's VJP against
//! central finite differences in f64.

use burn::tensor::activation::silu;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Tensor, TensorData};
use vmlmap_core::denoiser::vjp_finite_difference_error;
use vmlmap_core::rng::{normal_vec, seeded};
use vmlmap_core::vector::rel_err;
use vmlmap_core::{Denoiser, Shape};
use vmlmap_models::{per_image, AutodiffDenoiser, DeviceSpec, Precision, TensorDenoiser};
use vmlmap_priors::{Covariance, GaussianPrior};

/// The isotropic Gaussian denoiser `mu + s/(s + sigma^2) (x - mu)` in burn ops.
struct BurnGaussian {
    shape: Shape,
    mean: Vec<f64>,
    var: f64,
}

impl TensorDenoiser for BurnGaussian {
    fn shape(&self) -> Shape {
        self.shape
    }
    fn name(&self) -> String {
        "burn-gaussian".into()
    }
    fn forward(&self, x: Tensor<4>, sigmas: &[f64]) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let mu = Tensor::<4>::from_data(
            TensorData::new(self.mean.clone(), [1, c, h, w]),
            (&x.device(), x.dtype()),
        )
        .expand([b, c, h, w]);
        let a: Vec<f64> = sigmas
            .iter()
            .map(|s| self.var / (self.var + s * s))
            .collect();
        let a = per_image(&a, &x);
        mu.clone() + (x - mu) * a
    }
}

/// `D(x) = x - sigma * c(sigma) * conv2(silu(conv1(x)))`: a nonlinear, non-symmetric map.
struct TinyConvNet {
    shape: Shape,
    w1: Vec<f64>,
    w2: Vec<f64>,
}

impl TensorDenoiser for TinyConvNet {
    fn shape(&self) -> Shape {
        self.shape
    }
    fn name(&self) -> String {
        "tiny-conv".into()
    }
    fn forward(&self, x: Tensor<4>, sigmas: &[f64]) -> Tensor<4> {
        let (dev, dt) = (x.device(), x.dtype());
        let c = self.shape.c;
        let w1: Tensor<4> =
            Tensor::from_data(TensorData::new(self.w1.clone(), [4, c, 3, 3]), (&dev, dt));
        let w2: Tensor<4> =
            Tensor::from_data(TensorData::new(self.w2.clone(), [c, 4, 3, 3]), (&dev, dt));
        let opts = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        let h = silu(conv2d(x.clone(), w1, None, opts.clone()));
        let eps = conv2d(h, w2, None, opts);
        let c: Vec<f64> = sigmas.iter().map(|s| s / (1.0 + s * s).sqrt()).collect();
        let c = per_image(&c, &eps);
        x - eps * c
    }
}

fn device() -> burn::tensor::Device {
    DeviceSpec::Cpu.device().unwrap()
}

#[test]
fn burn_gaussian_matches_the_closed_form_denoiser_and_vjp() {
    let shape = Shape::new(2, 5, 4).unwrap();
    let n = shape.numel();
    let mut rng = seeded(1);
    let mean = normal_vec(&mut rng, n);
    let exact = GaussianPrior::new(shape, mean.clone(), Covariance::Isotropic(0.3)).unwrap();
    for precision in [Precision::F64, Precision::F32] {
        let net = AutodiffDenoiser::new(
            BurnGaussian {
                shape,
                mean: mean.clone(),
                var: 0.3,
            },
            device(),
            precision,
        );
        let tol = if precision == Precision::F64 {
            1e-13
        } else {
            1e-6
        };
        for sigma in [0.1, 1.0, 10.0] {
            let x = normal_vec(&mut rng, n);
            let v = normal_vec(&mut rng, n);
            assert!(
                rel_err(
                    &net.denoise(&x, sigma).unwrap(),
                    &exact.denoise(&x, sigma).unwrap()
                ) < tol
            );
            let lin = net.linearize(&x, sigma).unwrap();
            assert!(rel_err(lin.output(), &exact.denoise(&x, sigma).unwrap()) < tol);
            let jtv = lin.vjp(&v).unwrap();
            assert!(
                rel_err(&jtv, &exact.vjp(&x, sigma, &v).unwrap()) < tol,
                "{precision:?} sigma={sigma}"
            );
        }
    }
}

#[test]
fn tiny_conv_vjp_matches_finite_differences_in_f64() {
    let shape = Shape::new(2, 6, 5).unwrap();
    let mut rng = seeded(2);
    let net = TinyConvNet {
        shape,
        w1: normal_vec(&mut rng, 4 * 2 * 9)
            .iter()
            .map(|v| 0.3 * v)
            .collect(),
        w2: normal_vec(&mut rng, 2 * 4 * 9)
            .iter()
            .map(|v| 0.3 * v)
            .collect(),
    };
    let d = AutodiffDenoiser::new(net, device(), Precision::F64);
    for sigma in [0.2, 2.0] {
        let x = normal_vec(&mut rng, shape.numel());
        let v = normal_vec(&mut rng, shape.numel());
        let u = normal_vec(&mut rng, shape.numel());
        let e = vjp_finite_difference_error(&d, &x, sigma, &v, &u, 1e-5).unwrap();
        assert!(e < 1e-8, "VJP vs finite difference: {e} at sigma={sigma}");
    }
    // Same input, same output, bit for bit.
    let x = normal_vec(&mut seeded(3), shape.numel());
    assert_eq!(d.denoise(&x, 0.5).unwrap(), d.denoise(&x, 0.5).unwrap());
    // A wrong-length input is a typed error, not a panic.
    assert!(d.denoise(&x[1..], 0.5).is_err());
}

#[test]
fn burn_keeps_f64_when_asked() {
    let t: Tensor<1> = Tensor::from_data(
        TensorData::new(vec![1.0f64 + 1e-12], [1]),
        (&device(), DType::F64),
    );
    let back = t
        .into_data()
        .convert::<f64>()
        .try_into_vec::<f64>()
        .unwrap();
    assert_eq!(back[0], 1.0 + 1e-12);
}

#[test]
fn a_batch_at_several_noise_levels_equals_the_images_one_at_a_time() {
    let shape = Shape::new(2, 6, 5).unwrap();
    let n = shape.numel();
    let mut rng = seeded(4);
    let net = TinyConvNet {
        shape,
        w1: normal_vec(&mut rng, 4 * 2 * 9),
        w2: normal_vec(&mut rng, 2 * 4 * 9),
    };
    let d = AutodiffDenoiser::new(net, device(), Precision::F64);
    let sigmas = [0.1, 3.0, 0.7];
    let xs = normal_vec(&mut rng, 3 * n);
    let vs = normal_vec(&mut rng, 3 * n);
    let batch = d.denoise_batch(&xs, &sigmas).unwrap();
    let lin = d.linearize_batch(&xs, &sigmas).unwrap();
    assert_eq!(lin.output(), batch.as_slice());
    let jtv = lin.vjp(&vs).unwrap();
    for (b, &s) in sigmas.iter().enumerate() {
        let r = b * n..(b + 1) * n;
        let one = d.denoise(&xs[r.clone()], s).unwrap();
        assert!(rel_err(&batch[r.clone()], &one) < 1e-14, "image {b}");
        let vjp = d.vjp(&xs[r.clone()], s, &vs[r.clone()]).unwrap();
        assert!(rel_err(&jtv[r], &vjp) < 1e-14, "image {b} VJP");
    }
    // Typed errors: a length that is not a whole number of images, a bad sigma, a
    // cotangent of the wrong length.
    let e = d.denoise_batch(&xs[1..], &sigmas).unwrap_err();
    assert!(e.to_string().contains("batch of 3"), "{e}");
    let e = d.denoise_batch(&xs, &[0.1, f64::NAN, 1.0]).unwrap_err();
    assert!(e.to_string().contains("sigma = NaN"), "{e}");
    let lin = d.linearize_batch(&xs, &sigmas).unwrap();
    assert!(lin.vjp(&vs[n..]).is_err());
}
