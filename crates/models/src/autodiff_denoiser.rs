//! A network written in burn tensor operations as a [`Denoiser`]: `D(x, sigma)` by one
//! forward; `J(x)^T v` by one forward on an autodiff device with the input as the only leaf
//! that requires a gradient, then `backward` of `<D, v>` (frozen weights: no weight
//! gradients are computed). Counted as one NFE plus one VJP (docs/algorithms.md §2).
//!
//! A batch (several images, each at its own noise level) is one `[B, C, H, W]` tensor: one
//! forward and, for the VJP, one backward of `sum_b <D_b, v_b>`, which gives every
//! image's `J_b^T v_b` at once because the images do not interact.

use burn::tensor::{DType, Device, Tensor, TensorData};
use vmlmap_core::{Denoiser, DenoiserError, Linearization, Shape};

/// A denoiser as a function of burn tensors `[B, C, H, W]`.
pub trait TensorDenoiser: Send + Sync {
    /// The image shape (without the batch dimension).
    fn shape(&self) -> Shape;
    fn name(&self) -> String;
    /// `D(x_b, sigma_b)` for a batch `[B, C, H, W]` with `sigmas.len() == B`. Must be
    /// differentiable in `x`, must not clamp, and must treat the images independently.
    fn forward(&self, x: Tensor<4>, sigmas: &[f64]) -> Tensor<4>;
    /// The sigma grid the network was trained on (identity when continuous).
    fn round_sigma(&self, sigma: f64) -> f64 {
        sigma
    }
}

/// The floating-point type networks compute in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Precision {
    /// f32 (networks, default).
    #[default]
    F32,
    /// f64 (finite-difference checks).
    F64,
}

impl Precision {
    fn dtype(self) -> DType {
        match self {
            Precision::F32 => DType::F32,
            Precision::F64 => DType::F64,
        }
    }
}

/// Adapts a [`TensorDenoiser`] to [`Denoiser`] on a device.
pub struct AutodiffDenoiser<T> {
    net: T,
    device: Device,
    precision: Precision,
}

impl<T: TensorDenoiser> AutodiffDenoiser<T> {
    pub fn new(net: T, device: Device, precision: Precision) -> Self {
        Self {
            net,
            device,
            precision,
        }
    }

    pub fn network(&self) -> &T {
        &self.net
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    fn dims(&self, batch: usize) -> [usize; 4] {
        let s = self.net.shape();
        [batch, s.c, s.h, s.w]
    }

    fn tensor(&self, x: &[f64], batch: usize, device: &Device) -> Tensor<4> {
        let data = TensorData::new(x.to_vec(), self.dims(batch));
        Tensor::from_data(data, (device, self.precision.dtype()))
    }
}

/// A `[B, 1, 1, 1]` tensor of one value per image, on `like`'s device and in its dtype, to
/// scale a batch image by image.
pub fn per_image(values: &[f64], like: &Tensor<4>) -> Tensor<4> {
    let data = TensorData::new(values.to_vec(), [values.len(), 1, 1, 1]);
    Tensor::from_data(data, (&like.device(), like.dtype()))
}

/// `Some(sigma)` when every image of a batch has the same noise level.
pub fn common_sigma(sigmas: &[f64]) -> Option<f64> {
    let first = *sigmas.first()?;
    sigmas.iter().all(|&s| s == first).then_some(first)
}

/// Runs `f`, turning a panic of the backend into an error: on a GPU (wgpu, CUDA) the
/// runtime panics where it runs out of memory or loses its device. The error names the
/// batch size and says to lower it. On the CPU backend `f` runs as is.
fn guarded<R>(
    device: &Device,
    images: usize,
    f: impl FnOnce() -> Result<R, DenoiserError>,
) -> Result<R, DenoiserError> {
    if *device == Device::flex() {
        return f();
    }
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "the backend panicked".into());
            Err(DenoiserError::Backend(format!(
                "the network failed on {device:?} with a batch of {images} images: {msg} (if it ran out of GPU memory, lower --batch)"
            )))
        }
    }
}

fn to_vec(t: Tensor<4>) -> Result<Vec<f64>, DenoiserError> {
    t.into_data()
        .convert::<f64>()
        .try_into_vec::<f64>()
        .map_err(|e| DenoiserError::Backend(format!("reading a tensor back: {e:?}")))
}

struct AutodiffLinearization {
    x: Tensor<4>,
    out: Tensor<4>,
    value: Vec<f64>,
    dims: [usize; 4],
    precision: Precision,
    /// The (non-autodiff) device, for error messages.
    device: Device,
}

impl Linearization for AutodiffLinearization {
    fn output(&self) -> &[f64] {
        &self.value
    }

    fn vjp(self: Box<Self>, v: &[f64]) -> Result<Vec<f64>, DenoiserError> {
        vmlmap_core::denoiser::check_cotangent(self.value.len(), v.len())?;
        let (plain, images) = (self.device.clone(), self.dims[0]);
        guarded(&plain, images, move || {
            let device = self.out.device();
            let vt: Tensor<4> = Tensor::from_data(
                TensorData::new(v.to_vec(), self.dims),
                (&device, self.precision.dtype()),
            );
            let grads = (self.out * vt).sum().backward();
            let g = self.x.grad(&grads).ok_or_else(|| {
                DenoiserError::Backend("the network output does not depend on its input".into())
            })?;
            to_vec(g)
        })
    }
}

impl<T: TensorDenoiser> Denoiser for AutodiffDenoiser<T> {
    fn shape(&self) -> Shape {
        self.net.shape()
    }

    fn name(&self) -> String {
        self.net.name()
    }

    fn round_sigma(&self, sigma: f64) -> f64 {
        self.net.round_sigma(sigma)
    }

    fn denoise(&self, x: &[f64], sigma: f64) -> Result<Vec<f64>, DenoiserError> {
        self.check_input(x, sigma)?;
        self.denoise_batch(x, &[sigma])
    }

    fn linearize<'a>(
        &'a self,
        x: &[f64],
        sigma: f64,
    ) -> Result<Box<dyn Linearization + 'a>, DenoiserError> {
        self.check_input(x, sigma)?;
        self.linearize_batch(x, &[sigma])
    }

    fn denoise_batch(&self, xs: &[f64], sigmas: &[f64]) -> Result<Vec<f64>, DenoiserError> {
        self.check_batch(xs, sigmas)?;
        guarded(&self.device, sigmas.len(), || {
            let xt = self.tensor(xs, sigmas.len(), &self.device);
            to_vec(self.net.forward(xt, sigmas))
        })
    }

    fn linearize_batch<'a>(
        &'a self,
        xs: &[f64],
        sigmas: &[f64],
    ) -> Result<Box<dyn Linearization + 'a>, DenoiserError> {
        self.check_batch(xs, sigmas)?;
        guarded(&self.device, sigmas.len(), || {
            let ad = self.device.clone().autodiff();
            let xt = self.tensor(xs, sigmas.len(), &ad).require_grad();
            let out = self.net.forward(xt.clone(), sigmas);
            let value = to_vec(out.clone().detach())?;
            Ok(Box::new(AutodiffLinearization {
                x: xt,
                out,
                value,
                dims: self.dims(sigmas.len()),
                precision: self.precision,
                device: self.device.clone(),
            }) as Box<dyn Linearization + 'a>)
        })
    }
}
