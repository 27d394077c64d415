//! The JSON sidecar of a measurement written by `vmlmap degrade`: what produced it, so that
//! `vmlmap restore` can rebuild the exact operator.

use crate::IoError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Everything needed to rebuild `y = H x + sigma_y eta`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasurementSidecar {
    pub task: String,
    pub options: BTreeMap<String, String>,
    /// In `[-1, 1]` image units.
    pub sigma_y: f64,
    pub seed: u64,
    /// `C x H x W` of the unknown image.
    pub image_shape: [usize; 3],
    /// File name (beside the sidecar) of the exact float measurement.
    pub measurement: String,
    /// Number of measured values.
    pub measurement_len: usize,
    pub noise_convention: String,
    pub source: String,
}

/// `stem.json`, `stem.npy` and the image path for an output path `stem.png` (or any of
/// them given).
pub fn sibling_paths(path: &str) -> (PathBuf, PathBuf, PathBuf) {
    let p = Path::new(path);
    (
        p.with_extension("png"),
        p.with_extension("npy"),
        p.with_extension("json"),
    )
}

impl MeasurementSidecar {
    pub fn read(path: &Path) -> Result<Self, IoError> {
        let text = std::fs::read_to_string(path).map_err(|e| IoError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        serde_json::from_str(&text).map_err(|e| IoError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }

    pub fn write(&self, path: &Path, force: bool) -> Result<(), IoError> {
        let text = serde_json::to_string_pretty(self).expect("serialisable");
        crate::write_atomic(path, force, |tmp| {
            std::fs::write(tmp, text).map_err(|e| e.to_string())
        })
    }
}
