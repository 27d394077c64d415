//! A variance-preserving epsilon-prediction network as an EDM denoiser (ALGORITHMS.md §2,
//! the "VP preconditioning" of Karras et al. 2022): `x_vp = x / sqrt(1 + sigma^2)`,
//! `t` the discrete step whose `sigma_t` is nearest, `eps = net(x_vp, t)[:C]` (the first
//! half of a learned-sigma output), `D = x - sigma * eps`. No clamping: it would break the
//! Jacobian.

use crate::adm::{AdmConfig, UNetModel};
use crate::autodiff_denoiser::TensorDenoiser;
use burn::tensor::Tensor;
use vmlmap_core::schedule::VpTable;
use vmlmap_core::Shape;

/// The guided-diffusion UNet as `D(x, sigma)`.
pub struct AdmDenoiser {
    pub net: UNetModel,
    pub config: AdmConfig,
    pub table: VpTable,
    pub name: String,
}

impl AdmDenoiser {
    pub fn new(net: UNetModel, config: AdmConfig, name: impl Into<String>) -> Self {
        Self {
            net,
            config,
            table: VpTable::ddpm_linear(),
            name: name.into(),
        }
    }

    /// The raw network output `net(x_vp, t)` for a batch (all channels).
    pub fn raw(&self, x_vp: Tensor<4>, t: usize) -> Tensor<4> {
        let b = x_vp.dims()[0];
        self.net.forward(x_vp, &vec![t as f64; b])
    }
}

impl TensorDenoiser for AdmDenoiser {
    fn shape(&self) -> Shape {
        Shape {
            c: self.config.in_channels,
            h: self.config.image_size,
            w: self.config.image_size,
        }
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn forward(&self, x: Tensor<4>, sigma: f64) -> Tensor<4> {
        let t = self.table.nearest_t(sigma);
        let c = self.config.in_channels;
        let x_vp = x.clone() / (1.0 + sigma * sigma).sqrt();
        let eps = self.raw(x_vp, t).narrow(1, 0, c);
        x - eps * sigma
    }

    fn round_sigma(&self, sigma: f64) -> f64 {
        self.table.round_sigma(sigma)
    }
}
