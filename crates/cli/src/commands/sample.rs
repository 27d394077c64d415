//! `vmlmap sample`: unconditional samples of a prior as a PNG grid and/or one PNG each (DDIM
//! on the Karras schedule; ancestral, `eta = 1`, with denoised estimates clamped to `[-1, 1]`
//! by default, as guided-diffusion samples), drawn in batches that share each network
//! evaluation.

use std::process::ExitCode;
use vmlmap_core::Denoiser;
use vmlmap_models::DeviceSpec;

#[derive(clap::Args)]
pub struct Args {
    /// `default` (the embedded prior), a checkpoint file, a diffusers folder or a preset.
    #[arg(long, default_value = "default")]
    model: String,
    /// Output PNG grid (optional with --images-dir).
    #[arg(long)]
    output: Option<String>,
    /// Also write each sample as its own 8-bit PNG into this folder (created),
    /// `sample_00000.png` upward: the input `vmlmap metrics fid` takes.
    #[arg(long)]
    images_dir: Option<String>,
    /// Samples drawn at once, sharing each network evaluation (each keeps its own seed's
    /// noise stream, so the samples do not depend on it).
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Samples drawn (the grid is square-ish).
    #[arg(long, allow_negative_numbers = true, default_value_t = 16)]
    count: usize,
    /// Denoiser evaluations per sample (DDIM on the Karras schedule, 80 -> 0.002).
    #[arg(long, allow_negative_numbers = true, default_value_t = 100)]
    steps: usize,
    /// Seed of the initial noise and of every stochastic step.
    #[arg(long, allow_negative_numbers = true, default_value_t = 0)]
    seed: u64,
    /// DDIM stochasticity: 1 ancestral (guided-diffusion's default sampler; forgiving of an
    /// imperfect network), 0 deterministic (the probability-flow ODE).
    #[arg(long, allow_negative_numbers = true, default_value_t = 1.0)]
    eta: f64,
    /// Do not clamp each denoised estimate to [-1, 1] (clamping is guided-diffusion's default).
    #[arg(long)]
    no_clip: bool,
    /// Grid pixels per image pixel (default: enough to draw each image 96 pixels wide).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=64))]
    zoom: Option<u64>,
    /// Overwrite an existing output (never done unasked).
    #[arg(long)]
    force: bool,
    /// cpu, cuda, cuda:N, wgpu or wgpu:N (cuda and wgpu need a build with `--features cuda`
    /// or `--features wgpu`; networks there run on burn, the rest on the CPU).
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// The most samples one grid holds.
const MAX_COUNT: usize = 10_000;

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    if a.count == 0 || a.count > MAX_COUNT {
        anyhow::bail!("--count must be in 1..={MAX_COUNT}");
    }
    if a.steps == 0 || a.steps > vmlmap_solvers::common::MAX_STEPS {
        anyhow::bail!(
            "--steps must be in 1..={}",
            vmlmap_solvers::common::MAX_STEPS
        );
    }
    if a.output.is_none() && a.images_dir.is_none() {
        anyhow::bail!("nothing to write: give --output GRID.png and/or --images-dir DIR");
    }
    if a.batch == 0 {
        anyhow::bail!("--batch must be at least 1");
    }
    if let Some(o) = &a.output {
        super::check_output(o, &["png"], a.force)?;
    }
    let dir = a.images_dir.as_ref().map(std::path::PathBuf::from);
    if let Some(d) = &dir {
        std::fs::create_dir_all(d)?;
        let first = d.join("sample_00000.png");
        if first.exists() && !a.force {
            anyhow::bail!(
                "{} exists; pass --force to overwrite the samples in {}",
                first.display(),
                d.display()
            );
        }
    }
    let device = a.device.parse::<DeviceSpec>()?.device()?;
    let (den, _) = super::load_model(&a.model, &device)?;
    let shape = den.shape();
    let mut progress = super::progress::Progress::new("sample", a.count as u64, "samples");
    let mut images = Vec::new();
    let seeds: Vec<u64> = (0..a.count as u64).map(|k| a.seed + k).collect();
    let mut done = 0;
    for chunk in seeds.chunks(a.batch) {
        let batch =
            vmlmap_solvers::sampler::ddim_sample_batch(&den, a.steps, chunk, a.eta, !a.no_clip)?;
        for (x, &seed) in batch.into_iter().zip(chunk) {
            if let Some(d) = &dir {
                let k = seed - a.seed;
                vmlmap_io::write_png(d.join(format!("sample_{k:05}.png")), &x, shape, a.force)?;
            }
            if a.output.is_some() {
                images.push(x);
            }
        }
        done += chunk.len();
        progress.set(done as u64, a.count as u64, "");
    }
    progress.finish();
    if let Some(o) = &a.output {
        let cols = (a.count as f64).sqrt().ceil() as usize;
        let zoom = a
            .zoom
            .map_or(vmlmap_io::legible_zoom(shape.w), |z| z as usize);
        vmlmap_io::write_grid(o, &images, shape, cols, zoom, a.force)?;
    }
    let to: Vec<String> = a
        .output
        .iter()
        .cloned()
        .chain(a.images_dir.iter().cloned())
        .collect();
    eprintln!(
        "{} samples ({} steps each, eta {}) -> {}",
        a.count,
        a.steps,
        a.eta,
        to.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}
