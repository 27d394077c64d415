//! Primitive layers shared by the UNets, as burn modules with PyTorch weight layouts:
//! 2-D convolution, linear, 1x1 convolution over a sequence, and group normalisation.

use crate::weights::{Builder, Init};
use burn::module::{Module, Param};
use burn::tensor::activation::silu;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::Tensor;

/// `conv_nd(2, cin, cout, k, stride, padding)` with bias.
#[derive(Module, Debug)]
pub struct Conv {
    pub weight: Param<Tensor<4>>,
    pub bias: Param<Tensor<1>>,
    pub stride: usize,
    pub padding: usize,
}

impl Conv {
    pub fn new(
        b: &mut Builder,
        name: &str,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        zero: bool,
    ) -> Self {
        let init = if zero {
            Init::Zeros
        } else {
            Init::FanIn(cin * k * k)
        };
        Self {
            weight: b.param(&format!("{name}.weight"), [cout, cin, k, k], init),
            bias: b.param(&format!("{name}.bias"), [cout], Init::Zeros),
            stride,
            padding: k / 2,
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let opts = ConvOptions::new([self.stride; 2], [self.padding; 2], [1, 1], 1);
        conv2d(x, self.weight.val(), Some(self.bias.val()), opts)
    }
}

/// `nn.Linear` (PyTorch layout `[out, in]`).
#[derive(Module, Debug)]
pub struct Linear {
    pub weight: Param<Tensor<2>>,
    pub bias: Param<Tensor<1>>,
}

impl Linear {
    pub fn new(b: &mut Builder, name: &str, cin: usize, cout: usize) -> Self {
        Self {
            weight: b.param(&format!("{name}.weight"), [cout, cin], Init::FanIn(cin)),
            bias: b.param(&format!("{name}.bias"), [cout], Init::Zeros),
        }
    }

    /// `[B, in] -> [B, out]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        x.matmul(self.weight.val().transpose()) + self.bias.val().unsqueeze_dim(0)
    }
}

/// `conv_nd(1, cin, cout, 1)` over `[B, C, T]` (weights `[out, in, 1]` in the file).
#[derive(Module, Debug)]
pub struct PointwiseConv1d {
    pub weight: Param<Tensor<3>>,
    pub bias: Param<Tensor<1>>,
}

impl PointwiseConv1d {
    pub fn new(b: &mut Builder, name: &str, cin: usize, cout: usize, zero: bool) -> Self {
        let init = if zero { Init::Zeros } else { Init::FanIn(cin) };
        Self {
            weight: b.param(&format!("{name}.weight"), [cout, cin, 1], init),
            bias: b.param(&format!("{name}.bias"), [cout], Init::Zeros),
        }
    }

    /// `[B, in, T] -> [B, out, T]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [bsz, _, t] = x.dims();
        let [cout, cin, _] = self.weight.dims();
        let w = self
            .weight
            .val()
            .reshape([1, cout, cin])
            .expand([bsz, cout, cin]);
        w.matmul(x) + self.bias.val().reshape([1, cout, 1]).expand([bsz, cout, t])
    }
}

/// `nn.GroupNorm(groups, C, eps)`: normalise over groups of channels (biased variance),
/// then scale and shift per channel. guided-diffusion's `GroupNorm32` is 32 groups, eps 1e-5.
#[derive(Module, Debug)]
pub struct GroupNorm {
    pub weight: Param<Tensor<1>>,
    pub bias: Param<Tensor<1>>,
    pub groups: usize,
    pub eps: f64,
}

impl GroupNorm {
    /// `GroupNorm32(32, C)`.
    pub fn new(b: &mut Builder, name: &str, channels: usize) -> Self {
        Self::with_groups(b, name, channels, 32, 1e-5)
    }

    pub fn with_groups(
        b: &mut Builder,
        name: &str,
        channels: usize,
        groups: usize,
        eps: f64,
    ) -> Self {
        Self {
            weight: b.param(&format!("{name}.weight"), [channels], Init::Ones),
            bias: b.param(&format!("{name}.bias"), [channels], Init::Zeros),
            groups,
            eps,
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [bsz, c, h, w] = x.dims();
        let g = self.groups;
        let xg = x.reshape([bsz, g, (c / g) * h * w]);
        let mean = xg.clone().mean_dim(2);
        let centred = xg - mean;
        let var = centred.clone().powf_scalar(2.0).mean_dim(2);
        let normed = (centred / (var + self.eps).sqrt()).reshape([bsz, c, h, w]);
        normed * self.weight.val().reshape([1, c, 1, 1]) + self.bias.val().reshape([1, c, 1, 1])
    }

    /// Normalisation followed by SiLU.
    pub fn forward_silu(&self, x: Tensor<4>) -> Tensor<4> {
        silu(self.forward(x))
    }
}
