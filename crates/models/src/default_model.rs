//! The embedded default prior: the project's own `adm-fashion32` UNet trained on
//! Fashion-MNIST (model card: `assets/models/MODEL_CARD.md`), compiled into the binary and
//! verified against its SHA-256 before use.

use crate::adm::load::{load_unet, ConstructorArgs, LoadError};
use crate::adm::AdmConfig;
use crate::checkpoint::{Checkpoint, CheckpointError};
use burn::tensor::{DType, Device};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The EMA weights (`.safetensors`).
pub const WEIGHTS: &[u8] = include_bytes!("../../../assets/models/fashion32.safetensors");
/// The `UNetModel` arguments.
pub const CONFIG: &str = include_str!("../../../assets/models/fashion32.json");
/// SHA-256 of [`WEIGHTS`], as recorded in the model card.
pub const SHA256: &str = include_str!("../../../assets/models/fashion32.sha256");

/// Hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The embedded prior's configuration.
pub fn config() -> Result<AdmConfig, LoadError> {
    let args: ConstructorArgs =
        serde_json::from_str(CONFIG).map_err(|e| LoadError::ConfigFile {
            path: "embedded fashion32.json".into(),
            reason: e.to_string(),
        })?;
    Ok(args.into())
}

/// Verifies the hash and builds the network.
pub fn load(
    device: &Device,
    dtype: DType,
) -> Result<(crate::adm::UNetModel, AdmConfig, Checkpoint), LoadError> {
    let name = Path::new("<embedded fashion32.safetensors>");
    let got = sha256_hex(WEIGHTS);
    if got != SHA256.trim() {
        return Err(CheckpointError::Read {
            path: name.display().to_string(),
            reason: format!(
                "SHA-256 {got} does not match the recorded {}",
                SHA256.trim()
            ),
        }
        .into());
    }
    let ck = Checkpoint::from_safetensors_bytes(name, WEIGHTS)?;
    let cfg = config()?;
    let net = load_unet(name, &ck, &cfg, device, dtype)?;
    Ok((net, cfg, ck))
}
