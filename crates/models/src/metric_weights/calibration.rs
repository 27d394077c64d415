//! pyiqa's LPIPS calibration: five reference/distorted BMP pairs shipped in the `pyiqa`
//! 0.1.16 wheel (`ResultsCalibra/{ref_dir,dist_dir}/I*.bmp`, 512x384 RGB) and the
//! distances the official `lpips` package (0.1.4, AlexNet, v0.1) gives for them, as
//! pyiqa's `ResultsCalibra/calibration_summary.csv` lists them (row `lpips`, printed to
//! four decimals, trailing zeros dropped).

use super::packages::read_members;
use super::MetricWeightsError;
use std::path::{Path, PathBuf};

/// The five pairs' names.
pub const NAMES: [&str; 5] = ["I03.bmp", "I04.bmp", "I06.bmp", "I08.bmp", "I19.bmp"];

/// The official `lpips` (AlexNet) distances, in the order of [`NAMES`].
pub const OFFICIAL_ALEX: [f64; 5] = [0.7237, 0.2572, 0.0508, 0.052, 0.4253];

/// Whether `dir` holds all ten images.
pub fn complete(dir: &Path) -> bool {
    NAMES
        .iter()
        .all(|n| dir.join("ref").join(n).is_file() && dir.join("dist").join(n).is_file())
}

/// Copies the ten images out of the pyiqa wheel into `dir/{ref,dist}/`.
pub fn extract(wheel: &Path, dir: &Path) -> Result<(), MetricWeightsError> {
    let suffixes: Vec<String> = ["ref_dir", "dist_dir"]
        .iter()
        .flat_map(|d| NAMES.iter().map(move |n| format!("ResultsCalibra/{d}/{n}")))
        .collect();
    let refs: Vec<&str> = suffixes.iter().map(|s| s.as_str()).collect();
    for (suffix, bytes) in read_members(wheel, &refs)? {
        let sub = if suffix.contains("/ref_dir/") {
            "ref"
        } else {
            "dist"
        };
        let name = suffix.rsplit('/').next().unwrap_or(&suffix);
        super::write_file(&dir.join(sub).join(name), &bytes)?;
    }
    Ok(())
}

/// The pair `name`'s (reference, distorted) paths in `dir`.
pub fn pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    (dir.join("ref").join(name), dir.join("dist").join(name))
}
