//! The blocks of the guided-diffusion UNet (Dhariwal & Nichol 2021, "Diffusion Models Beat
//! GANs on Image Synthesis"): ResBlock (optionally scale-shift norm and up/down sampling),
//! AttentionBlock (legacy and new QKV orderings), Upsample (nearest x2 + conv) and
//! Downsample (strided conv or average pool). Weight names follow the original state dict.

use crate::layers::{Conv, GroupNorm, Linear, PointwiseConv1d};
use crate::weights::Builder;
use burn::module::Module;
use burn::tensor::activation::{silu, softmax};
use burn::tensor::module::avg_pool2d;
use burn::tensor::ops::AvgPoolOptions;
use burn::tensor::Tensor;

/// Nearest-neighbour x2 upsampling (as `F.interpolate(scale_factor=2, mode="nearest")`).
pub fn upsample_nearest2(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h, 1, w, 1])
        .expand([b, c, h, 2, w, 2])
        .reshape([b, c, 2 * h, 2 * w])
}

/// 2x2 average pooling.
pub fn avg_pool2(x: Tensor<4>) -> Tensor<4> {
    avg_pool2d(x, AvgPoolOptions::new([2, 2]))
}

/// `Upsample(channels, use_conv, out_channels)`: nearest x2, then a 3x3 conv (`.conv`).
#[derive(Module, Debug)]
pub struct Upsample {
    pub conv: Option<Conv>,
}

impl Upsample {
    pub fn new(b: &mut Builder, name: &str, ch: usize, out: usize, use_conv: bool) -> Self {
        Self {
            conv: use_conv.then(|| Conv::new(b, &format!("{name}.conv"), ch, out, 3, 1, false)),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = upsample_nearest2(x);
        match &self.conv {
            Some(c) => c.forward(h),
            None => h,
        }
    }
}

/// `Downsample(channels, use_conv, out_channels)`: a stride-2 3x3 conv (`.op`) or 2x2
/// average pooling.
#[derive(Module, Debug)]
pub struct Downsample {
    pub op: Option<Conv>,
}

impl Downsample {
    pub fn new(b: &mut Builder, name: &str, ch: usize, out: usize, use_conv: bool) -> Self {
        Self {
            op: use_conv.then(|| Conv::new(b, &format!("{name}.op"), ch, out, 3, 2, false)),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match &self.op {
            Some(c) => c.forward(x),
            None => avg_pool2(x),
        }
    }
}

/// Up/down sampling inside a ResBlock (no convolution).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resample {
    None,
    Up,
    Down,
}

/// `ResBlock(channels, emb_channels, dropout, out_channels, use_scale_shift_norm, up, down)`.
#[derive(Module, Debug)]
pub struct ResBlock {
    pub in_norm: GroupNorm,
    pub in_conv: Conv,
    pub emb: Linear,
    pub out_norm: GroupNorm,
    pub out_conv: Conv,
    pub skip: Option<Conv>,
    pub scale_shift: bool,
    /// 0 none, 1 up, 2 down.
    pub resample: usize,
}

impl ResBlock {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        b: &mut Builder,
        name: &str,
        ch: usize,
        emb_ch: usize,
        out: usize,
        scale_shift: bool,
        resample: Resample,
    ) -> Self {
        Self {
            in_norm: GroupNorm::new(b, &format!("{name}.in_layers.0"), ch),
            in_conv: Conv::new(b, &format!("{name}.in_layers.2"), ch, out, 3, 1, false),
            emb: Linear::new(
                b,
                &format!("{name}.emb_layers.1"),
                emb_ch,
                if scale_shift { 2 * out } else { out },
            ),
            out_norm: GroupNorm::new(b, &format!("{name}.out_layers.0"), out),
            out_conv: Conv::new(b, &format!("{name}.out_layers.3"), out, out, 3, 1, true),
            skip: (out != ch)
                .then(|| Conv::new(b, &format!("{name}.skip_connection"), ch, out, 1, 1, false)),
            scale_shift,
            resample: match resample {
                Resample::None => 0,
                Resample::Up => 1,
                Resample::Down => 2,
            },
        }
    }

    fn resample(&self, x: Tensor<4>) -> Tensor<4> {
        match self.resample {
            1 => upsample_nearest2(x),
            2 => avg_pool2(x),
            _ => x,
        }
    }

    /// `x [B, C, H, W]`, `emb [B, E]`.
    pub fn forward(&self, x: Tensor<4>, emb: Tensor<2>) -> Tensor<4> {
        let h = self.in_norm.forward_silu(x.clone());
        let (h, x) = if self.resample != 0 {
            (self.resample(h), self.resample(x))
        } else {
            (h, x)
        };
        let h = self.in_conv.forward(h);
        let [bsz, c, hh, ww] = h.dims();
        let e = self.emb.forward(silu(emb));
        let h = if self.scale_shift {
            let scale = e.clone().narrow(1, 0, c).reshape([bsz, c, 1, 1]);
            let shift = e.narrow(1, c, c).reshape([bsz, c, 1, 1]);
            let n = self.out_norm.forward(h);
            silu(n.clone() * scale + n + shift)
        } else {
            let e = e.reshape([bsz, c, 1, 1]).expand([bsz, c, hh, ww]);
            self.out_norm.forward_silu(h + e)
        };
        let h = self.out_conv.forward(h);
        let skip = match &self.skip {
            Some(s) => s.forward(x),
            None => x,
        };
        skip + h
    }
}

/// `AttentionBlock(channels, num_heads, num_head_channels, use_new_attention_order)`.
#[derive(Module, Debug)]
pub struct AttentionBlock {
    pub norm: GroupNorm,
    pub qkv: PointwiseConv1d,
    pub proj_out: PointwiseConv1d,
    pub heads: usize,
    pub new_order: bool,
}

impl AttentionBlock {
    pub fn new(b: &mut Builder, name: &str, ch: usize, heads: usize, new_order: bool) -> Self {
        Self {
            norm: GroupNorm::new(b, &format!("{name}.norm"), ch),
            qkv: PointwiseConv1d::new(b, &format!("{name}.qkv"), ch, 3 * ch, false),
            proj_out: PointwiseConv1d::new(b, &format!("{name}.proj_out"), ch, ch, true),
            heads,
            new_order,
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [bsz, c, h, w] = x.dims();
        let t = h * w;
        let qkv = self
            .qkv
            .forward(self.norm.forward(x.clone()).reshape([bsz, c, t]));
        let heads = self.heads;
        let ch = c / heads;
        let (q, k, v) = if self.new_order {
            let q = qkv.clone().narrow(1, 0, c).reshape([bsz * heads, ch, t]);
            let k = qkv.clone().narrow(1, c, c).reshape([bsz * heads, ch, t]);
            let v = qkv.narrow(1, 2 * c, c).reshape([bsz * heads, ch, t]);
            (q, k, v)
        } else {
            let r = qkv.reshape([bsz * heads, 3 * ch, t]);
            (
                r.clone().narrow(1, 0, ch),
                r.clone().narrow(1, ch, ch),
                r.narrow(1, 2 * ch, ch),
            )
        };
        let scale = 1.0 / (ch as f64).sqrt().sqrt();
        // weight[b, t, s] = sum_c q[b, c, t] k[b, c, s]
        let weight = (q * scale).swap_dims(1, 2).matmul(k * scale);
        let weight = softmax(weight, 2);
        // a[b, c, t] = sum_s weight[b, t, s] v[b, c, s]
        let a = v.matmul(weight.swap_dims(1, 2)).reshape([bsz, c, t]);
        let out = self.proj_out.forward(a);
        x + out.reshape([bsz, c, h, w])
    }
}
