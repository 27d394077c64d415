//! Loading a guided-diffusion UNet from a checkpoint: the architecture from a JSON file
//! beside it (the `UNetModel` constructor's arguments) or recognised from its keys, the
//! weights by their original names, every mismatch reported at once.

use super::config::AdmConfig;
use super::unet::UNetModel;
use crate::checkpoint::{Checkpoint, CheckpointError, WeightLoader};
use crate::weights::{Builder, RandomInit};
use burn::tensor::{DType, Device};
use std::path::{Path, PathBuf};

/// The `UNetModel(...)` keyword arguments, as a JSON file may state them.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConstructorArgs {
    pub image_size: usize,
    pub in_channels: usize,
    pub model_channels: usize,
    pub out_channels: usize,
    pub num_res_blocks: usize,
    /// Downsampling rates, as the constructor takes them (not resolutions).
    pub attention_resolutions: Vec<usize>,
    pub channel_mult: Vec<usize>,
    #[serde(default = "one")]
    pub num_heads: usize,
    #[serde(default = "minus_one")]
    pub num_head_channels: i64,
    #[serde(default = "minus_one")]
    pub num_heads_upsample: i64,
    #[serde(default)]
    pub use_scale_shift_norm: bool,
    #[serde(default)]
    pub resblock_updown: bool,
    #[serde(default)]
    pub use_new_attention_order: bool,
    #[serde(default = "yes")]
    pub conv_resample: bool,
    /// Informational fields written by vmlmap's tools.
    #[serde(default)]
    pub timestep: Option<f64>,
    #[serde(default)]
    pub dtype: Option<String>,
}

fn one() -> usize {
    1
}
fn minus_one() -> i64 {
    -1
}
fn yes() -> bool {
    true
}

impl From<ConstructorArgs> for AdmConfig {
    fn from(a: ConstructorArgs) -> Self {
        Self {
            image_size: a.image_size,
            in_channels: a.in_channels,
            model_channels: a.model_channels,
            out_channels: a.out_channels,
            num_res_blocks: a.num_res_blocks,
            attention_ds: a.attention_resolutions,
            channel_mult: a.channel_mult,
            num_heads: a.num_heads,
            num_head_channels: (a.num_head_channels > 0).then_some(a.num_head_channels as usize),
            num_heads_upsample: (a.num_heads_upsample > 0).then_some(a.num_heads_upsample as usize),
            use_scale_shift_norm: a.use_scale_shift_norm,
            resblock_updown: a.resblock_updown,
            use_new_attention_order: a.use_new_attention_order,
            conv_resample: a.conv_resample,
        }
    }
}

/// A model that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// (The message names the cause itself; it is not also the error's `source`, so that
    /// a printed chain does not say it twice.)
    #[error("{path}: {error}")]
    Config {
        path: String,
        error: super::config::ConfigError,
    },
    #[error("cannot read the configuration {path}: {reason}")]
    ConfigFile { path: String, reason: String },
}

/// The JSON file describing a checkpoint's architecture, if there is one: `NAME.json`
/// beside `NAME.pt` / `NAME.safetensors`.
pub fn sidecar_config(path: &Path) -> Option<PathBuf> {
    let p = path.with_extension("json");
    p.is_file().then_some(p)
}

/// Reads a configuration file.
pub fn read_config(path: &Path) -> Result<AdmConfig, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|e| LoadError::ConfigFile {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let args: ConstructorArgs = serde_json::from_str(&text).map_err(|e| LoadError::ConfigFile {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(args.into())
}

/// The architecture of a checkpoint: its JSON sidecar, else recognised from the weights.
///
/// Without `NAME.json` the architecture is recognised from the weights, and used only when
/// it is one of the published presets: the weights alone do not determine the attention
/// heads (`num_heads` / `num_head_channels`), `use_new_attention_order` nor the training
/// `image_size`, and a guess would silently build another network.
pub fn config_for(path: &Path, ck: &Checkpoint) -> Result<AdmConfig, LoadError> {
    if let Some(p) = sidecar_config(path) {
        return read_config(&p);
    }
    let cfg = AdmConfig::from_checkpoint(ck).map_err(|source| LoadError::Config {
        path: path.display().to_string(),
        error: source,
    })?;
    if cfg.preset_name().is_none() {
        return Err(LoadError::ConfigFile {
            path: path.with_extension("json").display().to_string(),
            reason: format!(
                "no such file, and the weights of {} are not a published preset ({}): they \
                 do not determine num_heads / num_head_channels, use_new_attention_order nor \
                 image_size. Write them in that file (the guided-diffusion constructor \
                 arguments, as in assets/models/fashion32.json)",
                path.display(),
                crate::adm::config::PRESETS.join(", ")
            ),
        });
    }
    Ok(cfg)
}

/// Builds a UNet from a checkpoint; every missing key, unexpected key and shape mismatch
/// is reported together.
pub fn load_unet(
    path: &Path,
    ck: &Checkpoint,
    cfg: &AdmConfig,
    device: &Device,
    dtype: DType,
) -> Result<UNetModel, LoadError> {
    let mut loader = WeightLoader::new(ck);
    let net = {
        let mut b = Builder::new(&mut loader, device.clone(), dtype);
        UNetModel::new(cfg, &mut b).map_err(|source| LoadError::Config {
            path: path.display().to_string(),
            error: source,
        })?
    };
    loader.finish(&format!(
        "guided-diffusion UNetModel ({})",
        cfg.preset_name().unwrap_or("custom")
    ))?;
    Ok(net)
}

/// A UNet with seeded random weights (presets without a file, benchmarks, training).
pub fn random_unet(
    cfg: &AdmConfig,
    seed: u64,
    zero_outputs: bool,
    device: &Device,
    dtype: DType,
) -> Result<UNetModel, super::config::ConfigError> {
    let mut src = RandomInit::new(seed, zero_outputs);
    let mut b = Builder::new(&mut src, device.clone(), dtype);
    UNetModel::new(cfg, &mut b)
}
