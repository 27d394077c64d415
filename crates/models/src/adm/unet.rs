//! `UNetModel.forward(x, timesteps)`: timestep embedding, input blocks with skip
//! connections, middle block, output blocks, output head.

use super::blocks::{AttentionBlock, Downsample, ResBlock, Resample, Upsample};
use super::config::{AdmConfig, ConfigError};
use crate::layers::{Conv, GroupNorm, Linear};
use crate::weights::Builder;
use burn::module::Module;
use burn::tensor::activation::silu;
use burn::tensor::{Tensor, TensorData};

/// One layer of a `TimestepEmbedSequential`. (Variant sizes differ, but a network holds a
/// few dozen layers: boxing would buy nothing.)
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Layer {
    Conv(Conv),
    Res(ResBlock),
    Attn(AttentionBlock),
    Up(Upsample),
    Down(Downsample),
}

impl Layer {
    fn forward(&self, x: Tensor<4>, emb: &Tensor<2>) -> Tensor<4> {
        match self {
            Layer::Conv(c) => c.forward(x),
            Layer::Res(r) => r.forward(x, emb.clone()),
            Layer::Attn(a) => a.forward(x),
            Layer::Up(u) => u.forward(x),
            Layer::Down(d) => d.forward(x),
        }
    }
}

/// A `TimestepEmbedSequential`.
#[derive(Module, Debug)]
pub struct Block {
    pub layers: Vec<Layer>,
}

impl Block {
    fn forward(&self, mut x: Tensor<4>, emb: &Tensor<2>) -> Tensor<4> {
        for l in &self.layers {
            x = l.forward(x, emb);
        }
        x
    }
}

/// The guided-diffusion UNet.
#[derive(Module, Debug)]
pub struct UNetModel {
    pub time_embed_0: Linear,
    pub time_embed_2: Linear,
    pub input_blocks: Vec<Block>,
    pub middle_block: Block,
    pub output_blocks: Vec<Block>,
    pub out_norm: GroupNorm,
    pub out_conv: Conv,
    pub model_channels: usize,
}

/// `timestep_embedding(t, dim)`: `[cos(t f), sin(t f)]`, `f_i = 10000^(-i/half)`.
pub fn timestep_embedding(timesteps: &[f64], dim: usize) -> (Vec<f32>, [usize; 2]) {
    let half = dim / 2;
    let mut v = Vec::with_capacity(timesteps.len() * dim);
    for &t in timesteps {
        let freqs: Vec<f32> = (0..half)
            .map(|i| (-(10000f32.ln()) * i as f32 / half as f32).exp())
            .collect();
        let args: Vec<f32> = freqs.iter().map(|f| t as f32 * f).collect();
        v.extend(args.iter().map(|a| a.cos()));
        v.extend(args.iter().map(|a| a.sin()));
        if dim % 2 == 1 {
            v.push(0.0);
        }
    }
    (v, [timesteps.len(), dim])
}

/// The walk down and up the U-Net while it is built: the channels and downsampling factor
/// at the current block, and the channels of the skips the output blocks will take.
struct Walk<'a> {
    cfg: &'a AdmConfig,
    /// The time embedding's width.
    ted: usize,
    ch: usize,
    ds: usize,
    skips: Vec<usize>,
}

impl Walk<'_> {
    fn res(&self, b: &mut Builder, name: &str, ch_in: usize, out: usize, r: Resample) -> Layer {
        Layer::Res(ResBlock::new(
            b,
            name,
            ch_in,
            self.ted,
            out,
            self.cfg.use_scale_shift_norm,
            r,
        ))
    }

    fn attn(&self, b: &mut Builder, name: &str, output_side: bool) -> Layer {
        Layer::Attn(AttentionBlock::new(
            b,
            name,
            self.ch,
            self.cfg.heads(self.ch, output_side),
            self.cfg.use_new_attention_order,
        ))
    }

    /// The stem convolution, then per level its ResBlocks (with attention at the listed
    /// resolutions) and a downsampling block between levels.
    fn input_blocks(&mut self, b: &mut Builder) -> Vec<Block> {
        let (cfg, mc) = (self.cfg, self.cfg.model_channels);
        let stem = Conv::new(b, "input_blocks.0.0", cfg.in_channels, self.ch, 3, 1, false);
        let mut blocks = vec![Block {
            layers: vec![Layer::Conv(stem)],
        }];
        let levels = cfg.channel_mult.len();
        for (level, &mult) in cfg.channel_mult.iter().enumerate() {
            for _ in 0..cfg.num_res_blocks {
                let i = blocks.len();
                let out = mult * mc;
                let mut layers = vec![self.res(
                    b,
                    &format!("input_blocks.{i}.0"),
                    self.ch,
                    out,
                    Resample::None,
                )];
                self.ch = out;
                if cfg.attention_ds.contains(&self.ds) {
                    layers.push(self.attn(b, &format!("input_blocks.{i}.1"), false));
                }
                blocks.push(Block { layers });
                self.skips.push(self.ch);
            }
            if level != levels - 1 {
                let name = format!("input_blocks.{}.0", blocks.len());
                let layer = if cfg.resblock_updown {
                    self.res(b, &name, self.ch, self.ch, Resample::Down)
                } else {
                    Layer::Down(Downsample::new(
                        b,
                        &name,
                        self.ch,
                        self.ch,
                        cfg.conv_resample,
                    ))
                };
                blocks.push(Block {
                    layers: vec![layer],
                });
                self.skips.push(self.ch);
                self.ds *= 2;
            }
        }
        blocks
    }

    /// ResBlock, attention, ResBlock.
    fn middle_block(&self, b: &mut Builder) -> Block {
        Block {
            layers: vec![
                self.res(b, "middle_block.0", self.ch, self.ch, Resample::None),
                self.attn(b, "middle_block.1", false),
                self.res(b, "middle_block.2", self.ch, self.ch, Resample::None),
            ],
        }
    }

    /// Per level, from the deepest, one more ResBlock than on the way down (each taking a
    /// skip), attention at the listed resolutions, and an upsampling block between levels.
    fn output_blocks(&mut self, b: &mut Builder) -> Vec<Block> {
        let (cfg, mc) = (self.cfg, self.cfg.model_channels);
        let mut blocks = Vec::new();
        for (level, &mult) in cfg.channel_mult.iter().enumerate().rev() {
            for i in 0..=cfg.num_res_blocks {
                let idx = blocks.len();
                let skip = self.skips.pop().expect("one skip per input block");
                let out = mc * mult;
                let name = format!("output_blocks.{idx}.0");
                let mut layers = vec![self.res(b, &name, self.ch + skip, out, Resample::None)];
                self.ch = out;
                if cfg.attention_ds.contains(&self.ds) {
                    layers.push(self.attn(b, &format!("output_blocks.{idx}.1"), true));
                }
                if level > 0 && i == cfg.num_res_blocks {
                    let name = format!("output_blocks.{idx}.{}", layers.len());
                    layers.push(if cfg.resblock_updown {
                        self.res(b, &name, self.ch, self.ch, Resample::Up)
                    } else {
                        Layer::Up(Upsample::new(b, &name, self.ch, self.ch, cfg.conv_resample))
                    });
                    self.ds /= 2;
                }
                blocks.push(Block { layers });
            }
        }
        blocks
    }
}

impl UNetModel {
    /// Builds the network, taking every weight from `b` under its state-dict name.
    pub fn new(cfg: &AdmConfig, b: &mut Builder) -> Result<Self, ConfigError> {
        cfg.check()?;
        let mc = cfg.model_channels;
        let ted = cfg.time_embed_dim();
        let time_embed_0 = Linear::new(b, "time_embed.0", mc, ted);
        let time_embed_2 = Linear::new(b, "time_embed.2", ted, ted);
        let input_ch = cfg.channel_mult[0] * mc;
        let mut walk = Walk {
            cfg,
            ted,
            ch: input_ch,
            ds: 1,
            skips: vec![input_ch],
        };
        let input_blocks = walk.input_blocks(b);
        let middle_block = walk.middle_block(b);
        let output_blocks = walk.output_blocks(b);
        let out_norm = GroupNorm::new(b, "out.0", walk.ch);
        let out_conv = Conv::new(b, "out.2", input_ch, cfg.out_channels, 3, 1, true);
        Ok(Self {
            time_embed_0,
            time_embed_2,
            input_blocks,
            middle_block,
            output_blocks,
            out_norm,
            out_conv,
            model_channels: mc,
        })
    }

    /// `model(x, timesteps)`: `x [B, C, H, W]`, one timestep per batch element.
    pub fn forward(&self, x: Tensor<4>, timesteps: &[f64]) -> Tensor<4> {
        let (emb, shape) = timestep_embedding(timesteps, self.model_channels);
        let emb: Tensor<2> =
            Tensor::from_data(TensorData::new(emb, shape), (&x.device(), x.dtype()));
        let emb = self
            .time_embed_2
            .forward(silu(self.time_embed_0.forward(emb)));
        let mut hs = Vec::with_capacity(self.input_blocks.len());
        let mut h = x;
        for blk in &self.input_blocks {
            h = blk.forward(h, &emb);
            hs.push(h.clone());
        }
        h = self.middle_block.forward(h, &emb);
        for blk in &self.output_blocks {
            let skip = hs.pop().expect("one skip per output block");
            h = blk.forward(Tensor::cat(vec![h, skip], 1), &emb);
        }
        self.out_conv.forward(self.out_norm.forward_silu(h))
    }
}

/// Names and shapes of every parameter of a configuration, without allocating weights.
pub fn parameter_shapes(cfg: &AdmConfig) -> Result<Vec<(String, Vec<usize>)>, ConfigError> {
    let mut src = crate::weights::ShapesOnly;
    let mut b = crate::weights::Builder::new(
        &mut src,
        burn::tensor::Device::flex(),
        burn::tensor::DType::F32,
    );
    b.dry_run = true;
    UNetModel::new(cfg, &mut b)?;
    Ok(b.shapes)
}
