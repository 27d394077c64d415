//! `UNet2DModel`'s `config.json` (the subset DDPM checkpoints use).

use serde::Deserialize;

/// A `UNet2DModel` configuration.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct DdpmConfig {
    pub sample_size: usize,
    #[serde(default = "three")]
    pub in_channels: usize,
    #[serde(default = "three")]
    pub out_channels: usize,
    #[serde(default)]
    pub center_input_sample: bool,
    #[serde(default = "yes")]
    pub flip_sin_to_cos: bool,
    #[serde(default)]
    pub freq_shift: f64,
    pub down_block_types: Vec<String>,
    pub up_block_types: Vec<String>,
    pub block_out_channels: Vec<usize>,
    #[serde(default = "two")]
    pub layers_per_block: usize,
    #[serde(default = "one_f")]
    pub mid_block_scale_factor: f64,
    #[serde(default = "one")]
    pub downsample_padding: usize,
    #[serde(default)]
    pub attention_head_dim: Option<usize>,
    #[serde(default = "groups")]
    pub norm_num_groups: usize,
    #[serde(default)]
    pub attn_norm_num_groups: Option<usize>,
    #[serde(default = "eps")]
    pub norm_eps: f64,
    #[serde(default = "act")]
    pub act_fn: String,
    #[serde(default = "positional")]
    pub time_embedding_type: String,
    #[serde(default = "default_shift")]
    pub resnet_time_scale_shift: String,
    #[serde(default = "yes")]
    pub add_attention: bool,
    #[serde(default)]
    pub class_embed_type: Option<String>,
    #[serde(default)]
    pub num_class_embeds: Option<usize>,
    #[serde(default = "conv")]
    pub downsample_type: String,
    #[serde(default = "conv")]
    pub upsample_type: String,
}

fn three() -> usize {
    3
}
fn two() -> usize {
    2
}
fn one() -> usize {
    1
}
fn one_f() -> f64 {
    1.0
}
fn yes() -> bool {
    true
}
fn groups() -> usize {
    32
}
fn eps() -> f64 {
    1e-5
}
fn act() -> String {
    "silu".into()
}
fn positional() -> String {
    "positional".into()
}
fn default_shift() -> String {
    "default".into()
}
fn conv() -> String {
    "conv".into()
}

/// A configuration vmlmap cannot run.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("unsupported UNet2DModel setting {field} = {value}: {reason}")]
pub struct UnsupportedConfig {
    pub field: &'static str,
    pub value: String,
    pub reason: String,
}

impl DdpmConfig {
    /// Rejects what this implementation does not cover, naming the setting.
    pub fn check(&self) -> Result<(), UnsupportedConfig> {
        let bad = |field, value: String, reason: &str| {
            Err(UnsupportedConfig {
                field,
                value,
                reason: reason.into(),
            })
        };
        let n = self.block_out_channels.len();
        if n == 0 || self.down_block_types.len() != n || self.up_block_types.len() != n {
            return bad(
                "block_out_channels",
                format!("{:?}", self.block_out_channels),
                "need one down and one up block type per entry",
            );
        }
        for t in &self.down_block_types {
            if t != "DownBlock2D" && t != "AttnDownBlock2D" {
                return bad(
                    "down_block_types",
                    t.clone(),
                    "supported: DownBlock2D, AttnDownBlock2D",
                );
            }
        }
        for t in &self.up_block_types {
            if t != "UpBlock2D" && t != "AttnUpBlock2D" {
                return bad(
                    "up_block_types",
                    t.clone(),
                    "supported: UpBlock2D, AttnUpBlock2D",
                );
            }
        }
        if self.act_fn != "silu" {
            return bad("act_fn", self.act_fn.clone(), "supported: silu");
        }
        if self.time_embedding_type != "positional" {
            return bad(
                "time_embedding_type",
                self.time_embedding_type.clone(),
                "supported: positional",
            );
        }
        if self.resnet_time_scale_shift != "default" {
            return bad(
                "resnet_time_scale_shift",
                self.resnet_time_scale_shift.clone(),
                "supported: default",
            );
        }
        if self.class_embed_type.is_some() || self.num_class_embeds.is_some() {
            return bad(
                "class_embed_type",
                format!("{:?}", self.class_embed_type),
                "class-conditional models are not supported",
            );
        }
        if self.downsample_padding != 1
            || self.downsample_type != "conv"
            || self.upsample_type != "conv"
        {
            return bad(
                "downsample_padding/type",
                format!(
                    "{}/{}/{}",
                    self.downsample_padding, self.downsample_type, self.upsample_type
                ),
                "supported: padding 1, conv down/up sampling",
            );
        }
        for &c in &self.block_out_channels {
            if !c.is_multiple_of(self.norm_num_groups) {
                return bad(
                    "block_out_channels",
                    c.to_string(),
                    &format!(
                        "not divisible by norm_num_groups = {}",
                        self.norm_num_groups
                    ),
                );
            }
        }
        if !self.sample_size.is_multiple_of(1 << (n - 1)) {
            return bad(
                "sample_size",
                self.sample_size.to_string(),
                "must halve at every level",
            );
        }
        Ok(())
    }

    /// The image shape the network works on (`in_channels x sample_size x sample_size`).
    pub fn image_shape(&self) -> vmlmap_core::Shape {
        vmlmap_core::Shape {
            c: self.in_channels,
            h: self.sample_size,
            w: self.sample_size,
        }
    }

    pub fn time_embed_dim(&self) -> usize {
        4 * self.block_out_channels[0]
    }

    /// Attention heads for a block of `ch` channels.
    pub fn heads(&self, ch: usize) -> usize {
        self.attention_head_dim
            .map(|d| (ch / d).max(1))
            .unwrap_or(1)
    }
}
