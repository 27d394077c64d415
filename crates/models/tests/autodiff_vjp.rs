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
use vmlmap_models::{AutodiffDenoiser, DeviceSpec, Precision, TensorDenoiser};
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
    fn forward(&self, x: Tensor<4>, sigma: f64) -> Tensor<4> {
        let mu: Tensor<4> = Tensor::from_data(
            TensorData::new(self.mean.clone(), x.dims()),
            (&x.device(), x.dtype()),
        );
        let a = self.var / (self.var + sigma * sigma);
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
    fn forward(&self, x: Tensor<4>, sigma: f64) -> Tensor<4> {
        let (dev, dt) = (x.device(), x.dtype());
        let c = self.shape.c;
        let w1: Tensor<4> =
            Tensor::from_data(TensorData::new(self.w1.clone(), [4, c, 3, 3]), (&dev, dt));
        let w2: Tensor<4> =
            Tensor::from_data(TensorData::new(self.w2.clone(), [c, 4, 3, 3]), (&dev, dt));
        let opts = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        let h = silu(conv2d(x.clone(), w1, None, opts.clone()));
        let eps = conv2d(h, w2, None, opts);
        x - eps * (sigma / (1.0 + sigma * sigma).sqrt())
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
