//! A variance-preserving epsilon-prediction network as an EDM denoiser (docs/algorithms.md §2,
//! the "VP preconditioning" of Karras et al. 2022): `x_vp = x / sqrt(1 + sigma^2)`,
//! `t` the discrete step whose `sigma_t` is nearest, `eps = net(x_vp, t)[:C]` (the first
//! half of a learned-sigma output), `D = x - sigma * eps`. No clamping: it would break the
//! Jacobian. In a batch each image has its own `sigma` and so its own step `t`.

use crate::adm::{AdmConfig, UNetModel};
use crate::autodiff_denoiser::{common_sigma, per_image, TensorDenoiser};
use crate::ddpm::{DdpmConfig, UNet2DModel};
use burn::tensor::Tensor;
use vmlmap_core::schedule::VpTable;
use vmlmap_core::Shape;

/// A network that predicts the noise of a VP-diffused image at a discrete step.
pub trait EpsNetwork: Send + Sync {
    /// `net(x_vp, t)`, all output channels; `ts` holds one step per image of the batch.
    fn raw(&self, x_vp: Tensor<4>, ts: &[usize]) -> Tensor<4>;
    /// Image shape.
    fn shape(&self) -> Shape;
    /// The guided-diffusion network, when it is one (the native engine runs those).
    fn as_adm(&self) -> Option<&Adm> {
        None
    }
}

/// A guided-diffusion UNet with its configuration.
pub struct Adm {
    pub net: UNetModel,
    pub config: AdmConfig,
}

impl EpsNetwork for Adm {
    fn raw(&self, x_vp: Tensor<4>, ts: &[usize]) -> Tensor<4> {
        let ts: Vec<f64> = ts.iter().map(|&t| t as f64).collect();
        self.net.forward(x_vp, &ts)
    }
    fn shape(&self) -> Shape {
        self.config.image_shape()
    }
    fn as_adm(&self) -> Option<&Adm> {
        Some(self)
    }
}

/// A diffusers UNet2DModel with its configuration.
pub struct Ddpm {
    pub net: UNet2DModel,
    pub config: DdpmConfig,
}

impl EpsNetwork for Ddpm {
    fn raw(&self, x_vp: Tensor<4>, ts: &[usize]) -> Tensor<4> {
        let ts: Vec<f64> = ts.iter().map(|&t| t as f64).collect();
        self.net.forward(x_vp, &ts)
    }
    fn shape(&self) -> Shape {
        self.config.image_shape()
    }
}

/// An epsilon network as `D(x, sigma)` on the standard DDPM table (T = 1000, linear betas).
pub struct EpsDenoiser<N> {
    pub net: N,
    pub table: VpTable,
    pub name: String,
}

impl<N: EpsNetwork> EpsDenoiser<N> {
    pub fn new(net: N, name: impl Into<String>) -> Self {
        Self {
            net,
            table: VpTable::ddpm_linear(),
            name: name.into(),
        }
    }
}

impl<N: EpsNetwork> TensorDenoiser for EpsDenoiser<N> {
    fn shape(&self) -> Shape {
        self.net.shape()
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn forward(&self, x: Tensor<4>, sigmas: &[f64]) -> Tensor<4> {
        let ts: Vec<usize> = sigmas.iter().map(|&s| self.table.nearest_t(s)).collect();
        let c = self.net.shape().c;
        if let Some(sigma) = common_sigma(sigmas) {
            let x_vp = x.clone() / (1.0 + sigma * sigma).sqrt();
            let eps = self.net.raw(x_vp, &ts).narrow(1, 0, c);
            return x - eps * sigma;
        }
        let inv: Vec<f64> = sigmas.iter().map(|s| 1.0 / (1.0 + s * s).sqrt()).collect();
        let x_vp = x.clone() * per_image(&inv, &x);
        let eps = self.net.raw(x_vp, &ts).narrow(1, 0, c);
        let scale = per_image(sigmas, &eps);
        x - eps * scale
    }

    fn round_sigma(&self, sigma: f64) -> f64 {
        self.table.round_sigma(sigma)
    }
}
