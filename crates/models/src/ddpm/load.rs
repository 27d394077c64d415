//! Loading a diffusers `UNet2DModel` folder.

use super::config::DdpmConfig;
use super::unet::UNet2DModel;
use crate::adm::load::LoadError;
use crate::checkpoint::{Checkpoint, WeightLoader};
use crate::weights::Builder;
use burn::tensor::{DType, Device};
use std::path::{Path, PathBuf};

/// The weights file of a diffusers folder.
pub fn weights_file(dir: &Path) -> Option<PathBuf> {
    [
        "diffusion_pytorch_model.safetensors",
        "diffusion_pytorch_model.bin",
    ]
    .iter()
    .map(|f| dir.join(f))
    .find(|p| p.is_file())
}

/// Reads `config.json`.
pub fn read_config(dir: &Path) -> Result<DdpmConfig, LoadError> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| LoadError::ConfigFile {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| LoadError::ConfigFile {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Whether the checkpoint uses the legacy attention names (`query`, `proj_attn`).
pub fn uses_legacy_names(ck: &Checkpoint) -> bool {
    ck.tensors
        .keys()
        .any(|k| k.ends_with(".query.weight") || k.ends_with(".proj_attn.weight"))
}

/// Loads a diffusers folder: configuration, weights, every mismatch reported at once.
pub fn load_ddpm(
    dir: &Path,
    device: &Device,
    dtype: DType,
) -> Result<(UNet2DModel, DdpmConfig, Checkpoint), LoadError> {
    let cfg = read_config(dir)?;
    let file = weights_file(dir).ok_or_else(|| LoadError::ConfigFile {
        path: dir.display().to_string(),
        reason:
            "no diffusion_pytorch_model.safetensors or diffusion_pytorch_model.bin in the folder"
                .into(),
    })?;
    let ck = Checkpoint::open(&file)?;
    let legacy = uses_legacy_names(&ck);
    let mut loader = WeightLoader::new(&ck);
    let net = {
        let mut b = Builder::new(&mut loader, device.clone(), dtype);
        UNet2DModel::new(&cfg, &mut b, legacy).map_err(|e| LoadError::ConfigFile {
            path: dir.join("config.json").display().to_string(),
            reason: e.to_string(),
        })?
    };
    loader.finish("diffusers UNet2DModel")?;
    Ok((net, cfg, ck))
}
