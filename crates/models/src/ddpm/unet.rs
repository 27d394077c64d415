//! `UNet2DModel.forward(sample, timestep)`.

use super::blocks::{AttentionBlock, ResnetBlock};
use super::config::{DdpmConfig, UnsupportedConfig};
use crate::adm::blocks::upsample_nearest2;
use crate::layers::{Conv, GroupNorm, Linear};
use crate::weights::Builder;
use burn::module::Module;
use burn::tensor::activation::silu;
use burn::tensor::{Tensor, TensorData};

/// A down or up block: resnets, optional attentions after each, optional resampler.
#[derive(Module, Debug)]
pub struct Stage {
    pub resnets: Vec<ResnetBlock>,
    pub attentions: Vec<AttentionBlock>,
    pub resampler: Option<Conv>,
}

/// The diffusers UNet.
#[derive(Module, Debug)]
pub struct UNet2DModel {
    pub linear_1: Linear,
    pub linear_2: Linear,
    pub conv_in: Conv,
    pub down: Vec<Stage>,
    pub mid_res0: ResnetBlock,
    pub mid_attn: Option<AttentionBlock>,
    pub mid_res1: ResnetBlock,
    pub up: Vec<Stage>,
    pub conv_norm_out: GroupNorm,
    pub conv_out: Conv,
    pub base_channels: usize,
    pub flip_sin_to_cos: bool,
    pub freq_shift: f64,
    pub center_input: bool,
}

/// diffusers' `get_timestep_embedding`: `[sin, cos]` (or `[cos, sin]` when flipped) of
/// `t * exp(-ln(10000) i / (half - shift))`.
pub fn timestep_embedding(t: f64, dim: usize, flip: bool, shift: f64) -> Vec<f32> {
    let half = dim / 2;
    let args: Vec<f32> = (0..half)
        .map(|i| t as f32 * (-(10000f32.ln()) * i as f32 / (half as f32 - shift as f32)).exp())
        .collect();
    let (sin, cos): (Vec<f32>, Vec<f32>) = (
        args.iter().map(|a| a.sin()).collect(),
        args.iter().map(|a| a.cos()).collect(),
    );
    let mut v = if flip {
        [cos, sin].concat()
    } else {
        [sin, cos].concat()
    };
    if dim % 2 == 1 {
        v.push(0.0);
    }
    v
}

/// What every down or up stage's layers share while the network is built.
struct Parts<'a> {
    cfg: &'a DdpmConfig,
    /// The time embedding's width.
    ted: usize,
    legacy: bool,
}

impl Parts<'_> {
    /// A stage `prefix`: one ResNet block per input width (each followed by attention in an
    /// attention stage), all `out` wide, then the resampling convolution `(name, stride)`.
    fn stage(
        &self,
        b: &mut Builder,
        prefix: &str,
        attn: bool,
        inputs: &[usize],
        out: usize,
        resampler: Option<(&str, usize)>,
    ) -> Stage {
        let cfg = self.cfg;
        let (g, eps) = (cfg.norm_num_groups, cfg.norm_eps);
        let ag = cfg.attn_norm_num_groups.unwrap_or(g);
        let mut resnets = Vec::new();
        let mut attentions = Vec::new();
        for (j, &cin) in inputs.iter().enumerate() {
            let name = format!("{prefix}.resnets.{j}");
            resnets.push(ResnetBlock::new(b, &name, cin, out, self.ted, g, eps, 1.0));
            if attn {
                attentions.push(AttentionBlock::new(
                    b,
                    &format!("{prefix}.attentions.{j}"),
                    out,
                    cfg.heads(out),
                    ag,
                    eps,
                    1.0,
                    self.legacy,
                ));
            }
        }
        let resampler = resampler.map(|(name, stride)| {
            Conv::new(b, &format!("{prefix}.{name}"), out, out, 3, stride, false)
        });
        Stage {
            resnets,
            attentions,
            resampler,
        }
    }
}

impl UNet2DModel {
    /// Builds the network; `legacy` selects the old attention names.
    pub fn new(cfg: &DdpmConfig, b: &mut Builder, legacy: bool) -> Result<Self, UnsupportedConfig> {
        cfg.check()?;
        let boc = &cfg.block_out_channels;
        let n = boc.len();
        let ted = cfg.time_embed_dim();
        let (g, eps) = (cfg.norm_num_groups, cfg.norm_eps);
        let ag = cfg.attn_norm_num_groups.unwrap_or(g);
        let linear_1 = Linear::new(b, "time_embedding.linear_1", boc[0], ted);
        let linear_2 = Linear::new(b, "time_embedding.linear_2", ted, ted);
        let conv_in = Conv::new(b, "conv_in", cfg.in_channels, boc[0], 3, 1, false);
        let parts = Parts { cfg, ted, legacy };
        let mut down = Vec::new();
        let mut out_ch = boc[0];
        for (i, kind) in cfg.down_block_types.iter().enumerate() {
            let in_ch = out_ch;
            out_ch = boc[i];
            let inputs: Vec<usize> = (0..cfg.layers_per_block)
                .map(|j| if j == 0 { in_ch } else { out_ch })
                .collect();
            let resampler = (i + 1 < n).then_some(("downsamplers.0.conv", 2));
            let prefix = format!("down_blocks.{i}");
            let attn = kind == "AttnDownBlock2D";
            down.push(parts.stage(b, &prefix, attn, &inputs, out_ch, resampler));
        }
        let mid = boc[n - 1];
        let s = cfg.mid_block_scale_factor;
        let mid_res0 = ResnetBlock::new(b, "mid_block.resnets.0", mid, mid, ted, g, eps, s);
        let mid_attn = cfg.add_attention.then(|| {
            AttentionBlock::new(
                b,
                "mid_block.attentions.0",
                mid,
                cfg.heads(mid),
                ag,
                eps,
                s,
                legacy,
            )
        });
        let mid_res1 = ResnetBlock::new(b, "mid_block.resnets.1", mid, mid, ted, g, eps, s);
        let rev: Vec<usize> = boc.iter().rev().copied().collect();
        let mut up = Vec::new();
        let mut prev_out = rev[0];
        for (i, kind) in cfg.up_block_types.iter().enumerate() {
            let out_c = rev[i];
            let in_c = rev[(i + 1).min(n - 1)];
            let layers = cfg.layers_per_block + 1;
            let inputs: Vec<usize> = (0..layers)
                .map(|j| {
                    let skip = if j == layers - 1 { in_c } else { out_c };
                    let cin = if j == 0 { prev_out } else { out_c };
                    cin + skip
                })
                .collect();
            let resampler = (i + 1 < n).then_some(("upsamplers.0.conv", 1));
            let prefix = format!("up_blocks.{i}");
            let attn = kind == "AttnUpBlock2D";
            up.push(parts.stage(b, &prefix, attn, &inputs, out_c, resampler));
            prev_out = out_c;
        }
        let conv_norm_out = GroupNorm::with_groups(b, "conv_norm_out", boc[0], g, eps);
        let conv_out = Conv::new(b, "conv_out", boc[0], cfg.out_channels, 3, 1, false);
        Ok(Self {
            linear_1,
            linear_2,
            conv_in,
            down,
            mid_res0,
            mid_attn,
            mid_res1,
            up,
            conv_norm_out,
            conv_out,
            base_channels: boc[0],
            flip_sin_to_cos: cfg.flip_sin_to_cos,
            freq_shift: cfg.freq_shift,
            center_input: cfg.center_input_sample,
        })
    }

    /// `model(sample, t).sample`, one timestep per image of the batch.
    pub fn forward(&self, x: Tensor<4>, timesteps: &[f64]) -> Tensor<4> {
        let bsz = x.dims()[0];
        assert_eq!(timesteps.len(), bsz, "one timestep per image");
        let data: Vec<f32> = timesteps
            .iter()
            .flat_map(|&t| {
                timestep_embedding(t, self.base_channels, self.flip_sin_to_cos, self.freq_shift)
            })
            .collect();
        let emb: Tensor<2> = Tensor::from_data(
            TensorData::new(data, [bsz, self.base_channels]),
            (&x.device(), x.dtype()),
        );
        let temb = self.linear_2.forward(silu(self.linear_1.forward(emb)));
        let x = if self.center_input { x * 2.0 - 1.0 } else { x };
        let mut h = self.conv_in.forward(x);
        let mut skips = vec![h.clone()];
        for st in &self.down {
            for (j, r) in st.resnets.iter().enumerate() {
                h = r.forward(h, &temb);
                if let Some(a) = st.attentions.get(j) {
                    h = a.forward(h);
                }
                skips.push(h.clone());
            }
            if let Some(c) = &st.resampler {
                h = c.forward(h);
                skips.push(h.clone());
            }
        }
        h = self.mid_res0.forward(h, &temb);
        if let Some(a) = &self.mid_attn {
            h = a.forward(h);
        }
        h = self.mid_res1.forward(h, &temb);
        for st in &self.up {
            for (j, r) in st.resnets.iter().enumerate() {
                let skip = skips.pop().expect("one skip per up resnet");
                h = r.forward(Tensor::cat(vec![h, skip], 1), &temb);
                if let Some(a) = st.attentions.get(j) {
                    h = a.forward(h);
                }
            }
            if let Some(c) = &st.resampler {
                h = c.forward(upsample_nearest2(h));
            }
        }
        self.conv_out.forward(self.conv_norm_out.forward_silu(h))
    }
}
