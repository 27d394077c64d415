//! diffusers blocks: `ResnetBlock2D` (time embedding added after the first conv) and the
//! deprecated-attention-block form of `Attention` (group norm, q/k/v linear maps over
//! channels, residual), with both the current (`to_q`, ..., `to_out.0`) and the legacy
//! (`query`, ..., `proj_attn`) weight names.

use crate::layers::{Conv, GroupNorm, Linear};
use crate::weights::Builder;
use burn::module::Module;
use burn::tensor::activation::{silu, softmax};
use burn::tensor::Tensor;

/// `ResnetBlock2D(in, out, temb_channels, groups, eps, output_scale_factor)`.
#[derive(Module, Debug)]
pub struct ResnetBlock {
    pub norm1: GroupNorm,
    pub conv1: Conv,
    pub time_emb_proj: Linear,
    pub norm2: GroupNorm,
    pub conv2: Conv,
    pub conv_shortcut: Option<Conv>,
    pub output_scale_factor: f64,
}

impl ResnetBlock {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        b: &mut Builder,
        name: &str,
        cin: usize,
        cout: usize,
        temb: usize,
        groups: usize,
        eps: f64,
        scale: f64,
    ) -> Self {
        Self {
            norm1: GroupNorm::with_groups(b, &format!("{name}.norm1"), cin, groups, eps),
            conv1: Conv::new(b, &format!("{name}.conv1"), cin, cout, 3, 1, false),
            time_emb_proj: Linear::new(b, &format!("{name}.time_emb_proj"), temb, cout),
            norm2: GroupNorm::with_groups(b, &format!("{name}.norm2"), cout, groups, eps),
            conv2: Conv::new(b, &format!("{name}.conv2"), cout, cout, 3, 1, false),
            conv_shortcut: (cin != cout)
                .then(|| Conv::new(b, &format!("{name}.conv_shortcut"), cin, cout, 1, 1, false)),
            output_scale_factor: scale,
        }
    }

    pub fn forward(&self, x: Tensor<4>, temb: &Tensor<2>) -> Tensor<4> {
        let h = self.conv1.forward(self.norm1.forward_silu(x.clone()));
        let [bsz, c, hh, ww] = h.dims();
        let t = self
            .time_emb_proj
            .forward(silu(temb.clone()))
            .reshape([bsz, c, 1, 1])
            .expand([bsz, c, hh, ww]);
        let h = self.conv2.forward(self.norm2.forward_silu(h + t));
        let skip = match &self.conv_shortcut {
            Some(s) => s.forward(x),
            None => x,
        };
        (skip + h) / self.output_scale_factor
    }
}

/// Spatial self-attention over `H*W` tokens.
#[derive(Module, Debug)]
pub struct AttentionBlock {
    pub group_norm: GroupNorm,
    pub to_q: Linear,
    pub to_k: Linear,
    pub to_v: Linear,
    pub to_out: Linear,
    pub heads: usize,
    pub rescale: f64,
}

impl AttentionBlock {
    /// `legacy` selects the names of the google/ddpm-* checkpoints.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        b: &mut Builder,
        name: &str,
        ch: usize,
        heads: usize,
        groups: usize,
        eps: f64,
        rescale: f64,
        legacy: bool,
    ) -> Self {
        let n = |new: &str, old: &str| format!("{name}.{}", if legacy { old } else { new });
        Self {
            group_norm: GroupNorm::with_groups(b, &format!("{name}.group_norm"), ch, groups, eps),
            to_q: Linear::new(b, &n("to_q", "query"), ch, ch),
            to_k: Linear::new(b, &n("to_k", "key"), ch, ch),
            to_v: Linear::new(b, &n("to_v", "value"), ch, ch),
            to_out: Linear::new(b, &n("to_out.0", "proj_attn"), ch, ch),
            heads,
            rescale,
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [bsz, c, h, w] = x.dims();
        let t = h * w;
        let heads = self.heads;
        let dh = c / heads;
        // [B, C, H, W] -> [B*T, C] tokens
        let tokens = self
            .group_norm
            .forward(x.clone())
            .reshape([bsz, c, t])
            .swap_dims(1, 2)
            .reshape([bsz * t, c]);
        let split = |y: Tensor<2>| {
            y.reshape([bsz, t, heads, dh])
                .swap_dims(1, 2)
                .reshape([bsz * heads, t, dh])
        };
        let q = split(self.to_q.forward(tokens.clone()));
        let k = split(self.to_k.forward(tokens.clone()));
        let v = split(self.to_v.forward(tokens));
        let scores = q.matmul(k.swap_dims(1, 2)) * (1.0 / (dh as f64).sqrt());
        let probs = softmax(scores, 2);
        let a = probs
            .matmul(v)
            .reshape([bsz, heads, t, dh])
            .swap_dims(1, 2)
            .reshape([bsz * t, c]);
        let out = self
            .to_out
            .forward(a)
            .reshape([bsz, t, c])
            .swap_dims(1, 2)
            .reshape([bsz, c, h, w]);
        (out + x) / self.rescale
    }
}
