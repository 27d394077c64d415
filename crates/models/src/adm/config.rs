//! `UNetModel` constructor arguments, validation, presets and recognition from a
//! checkpoint's keys and shapes.

use crate::checkpoint::Checkpoint;

/// The guided-diffusion `UNetModel` configuration (2-D, unconditional).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdmConfig {
    pub image_size: usize,
    pub in_channels: usize,
    pub model_channels: usize,
    /// Output channels (`2 * in_channels` when `learn_sigma`).
    pub out_channels: usize,
    pub num_res_blocks: usize,
    /// Downsampling rates `ds` (image_size / resolution) at which attention is used.
    pub attention_ds: Vec<usize>,
    pub channel_mult: Vec<usize>,
    pub num_heads: usize,
    /// Channels per head; overrides `num_heads` when set.
    pub num_head_channels: Option<usize>,
    pub num_heads_upsample: Option<usize>,
    pub use_scale_shift_norm: bool,
    pub resblock_updown: bool,
    pub use_new_attention_order: bool,
    pub conv_resample: bool,
}

/// An invalid configuration.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("invalid UNet setting {field} = {value}: {reason}")]
    Invalid {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("unknown model preset {0:?}; known presets: {list}", list = PRESETS.join(", "))]
    UnknownPreset(String),
    #[error("cannot recognise the architecture from the checkpoint: {0}")]
    Unrecognised(String),
}

/// The named presets.
pub const PRESETS: &[&str] = &["adm-ffhq256", "adm-imagenet256-uncond", "adm-fashion32"];

fn invalid(field: &'static str, value: impl ToString, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        field,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

impl AdmConfig {
    /// DPS's `ffhq_10m.pt`: 128 channels, 1 res block, mult 1,1,2,2,4,4, attention at 16,
    /// 64 head channels, learned sigma, scale-shift norm, res-block up/down.
    pub fn ffhq256() -> Self {
        Self {
            image_size: 256,
            in_channels: 3,
            model_channels: 128,
            out_channels: 6,
            num_res_blocks: 1,
            attention_ds: vec![16],
            channel_mult: vec![1, 1, 2, 2, 4, 4],
            num_heads: 4,
            num_head_channels: Some(64),
            num_heads_upsample: None,
            use_scale_shift_norm: true,
            resblock_updown: true,
            use_new_attention_order: false,
            conv_resample: true,
        }
    }

    /// `256x256_diffusion_uncond.pt`: 256 channels, 2 res blocks, attention at 32, 16, 8.
    pub fn imagenet256_uncond() -> Self {
        Self {
            model_channels: 256,
            num_res_blocks: 2,
            attention_ds: vec![8, 16, 32],
            ..Self::ffhq256()
        }
    }

    /// The project's own small prior for 32x32 grey images (Fashion-MNIST): 32 channels,
    /// multipliers 1,2,2, one res block per level, attention at 8x8.
    pub fn fashion32() -> Self {
        Self {
            image_size: 32,
            in_channels: 1,
            model_channels: 32,
            out_channels: 1,
            num_res_blocks: 1,
            attention_ds: vec![4],
            channel_mult: vec![1, 2, 2],
            num_heads: 1,
            num_head_channels: Some(32),
            num_heads_upsample: None,
            use_scale_shift_norm: true,
            resblock_updown: false,
            use_new_attention_order: false,
            conv_resample: true,
        }
    }

    pub fn preset(name: &str) -> Result<Self, ConfigError> {
        match name {
            "adm-ffhq256" => Ok(Self::ffhq256()),
            "adm-imagenet256-uncond" => Ok(Self::imagenet256_uncond()),
            "adm-fashion32" => Ok(Self::fashion32()),
            other => Err(ConfigError::UnknownPreset(other.to_string())),
        }
    }

    /// The preset this configuration equals, if any.
    pub fn preset_name(&self) -> Option<&'static str> {
        PRESETS
            .iter()
            .copied()
            .find(|p| Self::preset(p).ok().as_ref() == Some(self))
    }

    /// Whether the network predicts a variance too (its output has `2 * in_channels`).
    pub fn learn_sigma(&self) -> bool {
        self.out_channels == 2 * self.in_channels
    }

    pub fn time_embed_dim(&self) -> usize {
        4 * self.model_channels
    }

    /// The image shape the network works on (`in_channels x image_size x image_size`).
    pub fn image_shape(&self) -> vmlmap_core::Shape {
        vmlmap_core::Shape {
            c: self.in_channels,
            h: self.image_size,
            w: self.image_size,
        }
    }

    /// Heads of an attention block with `ch` channels.
    pub fn heads(&self, ch: usize, upsample: bool) -> usize {
        match self.num_head_channels {
            Some(hc) => ch / hc,
            None if upsample => self.num_heads_upsample.unwrap_or(self.num_heads),
            None => self.num_heads,
        }
    }

    /// Checks the settings the constructor would reject or that cannot run.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.channel_mult.is_empty() {
            return Err(invalid("channel_mult", "[]", "need at least one level"));
        }
        if self.in_channels == 0 || self.out_channels == 0 {
            return Err(invalid(
                "in_channels/out_channels",
                format!("{}/{}", self.in_channels, self.out_channels),
                "must be positive",
            ));
        }
        let levels = self.channel_mult.len() - 1;
        if self.image_size == 0 || !self.image_size.is_multiple_of(1 << levels) {
            return Err(invalid(
                "image_size",
                self.image_size,
                &format!("must be divisible by 2^{levels} (one halving per level)"),
            ));
        }
        for &m in &self.channel_mult {
            let ch = m * self.model_channels;
            if ch == 0 || !ch.is_multiple_of(32) {
                return Err(invalid(
                    "model_channels",
                    self.model_channels,
                    &format!("channel count {ch} is not a positive multiple of 32 (GroupNorm32)"),
                ));
            }
            if let Some(hc) = self.num_head_channels {
                if hc == 0 || !ch.is_multiple_of(hc) {
                    return Err(invalid(
                        "num_head_channels",
                        hc,
                        &format!("must divide the channel count {ch}"),
                    ));
                }
            } else if self.num_heads == 0 || !ch.is_multiple_of(self.num_heads) {
                return Err(invalid(
                    "num_heads",
                    self.num_heads,
                    &format!("must divide the channel count {ch}"),
                ));
            }
        }
        if self.num_res_blocks == 0 {
            return Err(invalid("num_res_blocks", 0, "need at least one"));
        }
        Ok(())
    }

    /// Reads the architecture from a checkpoint's keys and shapes (guided-diffusion names).
    /// What the weights cannot tell is taken from the presets: 64 channels per attention
    /// head, the legacy QKV order, and a 256x256 image for the preset shapes (the smallest
    /// size the levels allow otherwise; a JSON configuration beside the checkpoint
    /// overrides all of this).
    pub fn from_checkpoint(ck: &Checkpoint) -> Result<Self, ConfigError> {
        let has = |k: String| ck.tensors.contains_key(&k);
        let shape = |k: &str| {
            ck.shape(k)
                .map(|s| s.to_vec())
                .ok_or_else(|| ConfigError::Unrecognised(format!("no key {k}")))
        };
        let count = |prefix: &str| {
            (0..)
                .take_while(|i| {
                    ck.tensors
                        .keys()
                        .any(|k| k.starts_with(&format!("{prefix}.{i}.")))
                })
                .count()
        };
        let first = shape("input_blocks.0.0.weight")?;
        let (model_channels, in_channels) = (first[0], first[1]);
        let out_channels = shape("out.2.weight")?[0];
        let use_scale_shift_norm = shape("input_blocks.1.0.emb_layers.1.weight")?[0]
            == 2 * shape("input_blocks.1.0.in_layers.2.weight")?[0];
        let resblock_updown = !ck.tensors.keys().any(|k| {
            k.ends_with(".op.weight")
                || (k.starts_with("output_blocks.") && k.ends_with(".conv.weight"))
        });
        let (n_input, n_output) = (count("input_blocks"), count("output_blocks"));
        // An output block closes a level when it ends with an upsampler: a ResBlock (it has
        // `in_layers`) or an `Upsample` conv after its first layer.
        let up_blocks = (0..n_output)
            .filter(|i| {
                (1..4).any(|j| {
                    has(format!("output_blocks.{i}.{j}.in_layers.0.weight"))
                        || has(format!("output_blocks.{i}.{j}.conv.weight"))
                })
            })
            .count();
        let levels = up_blocks + 1;
        if n_output == 0 || n_output % levels != 0 || n_input != n_output {
            return Err(ConfigError::Unrecognised(format!(
                "{n_input} input and {n_output} output blocks do not form {levels} levels"
            )));
        }
        let num_res_blocks = n_output / levels - 1;
        let mut channel_mult = Vec::with_capacity(levels);
        let mut attention_ds = Vec::new();
        for level in 0..levels {
            let i = 1 + level * (num_res_blocks + 1);
            let ch = shape(&format!("input_blocks.{i}.0.in_layers.2.weight"))?[0];
            channel_mult.push(ch / model_channels);
            if has(format!("input_blocks.{i}.1.norm.weight")) {
                attention_ds.push(1 << level);
            }
        }
        let mut cfg = Self {
            image_size: 256,
            in_channels,
            model_channels,
            out_channels,
            num_res_blocks,
            attention_ds,
            channel_mult,
            num_heads: 4,
            num_head_channels: Some(64),
            num_heads_upsample: None,
            use_scale_shift_norm,
            resblock_updown,
            use_new_attention_order: false,
            conv_resample: true,
        };
        // A published preset's weights are that preset, whatever the guessed heads.
        let structure = |c: &Self| {
            (
                c.in_channels,
                c.model_channels,
                c.out_channels,
                c.num_res_blocks,
                c.attention_ds.clone(),
                c.channel_mult.clone(),
                c.use_scale_shift_norm,
                c.resblock_updown,
            )
        };
        if let Some(p) = PRESETS
            .iter()
            .filter_map(|p| Self::preset(p).ok())
            .find(|p| structure(p) == structure(&cfg))
        {
            return Ok(p);
        }
        if cfg.preset_name().is_none() {
            cfg.image_size = 1 << (levels - 1).max(5);
            cfg.num_head_channels = None;
            cfg.num_heads = 1;
        }
        Ok(cfg)
    }
}
