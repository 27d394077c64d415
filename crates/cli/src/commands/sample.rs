//! `vmlmap sample`: unconditional samples of a prior as a PNG grid (DDIM on the Karras
//! schedule; ancestral, `eta = 1`, with denoised estimates clamped to `[-1, 1]` by default,
//! as guided-diffusion samples).

use std::process::ExitCode;
use vmlmap_core::Denoiser;
use vmlmap_models::DeviceSpec;

#[derive(clap::Args)]
pub struct Args {
    /// `default` (the embedded prior), a checkpoint file, a diffusers folder or a preset.
    #[arg(long, default_value = "default")]
    model: String,
    /// Output PNG grid.
    #[arg(long)]
    output: String,
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
    /// cpu, cuda or cuda:N (cuda needs a build with `--features cuda`).
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
    super::check_output(&a.output, &["png"], a.force)?;
    let device = a.device.parse::<DeviceSpec>()?.device()?;
    let (den, _) = super::load_model(&a.model, &device)?;
    let mut progress = super::progress::Progress::new("sample", a.count as u64, "samples");
    let mut images = Vec::new();
    for k in 0..a.count {
        images.push(vmlmap_solvers::sampler::ddim_sample(
            &den,
            a.steps,
            a.seed + k as u64,
            a.eta,
            !a.no_clip,
        )?);
        progress.set(k as u64 + 1, a.count as u64, "");
    }
    progress.finish();
    let cols = (a.count as f64).sqrt().ceil() as usize;
    let shape = den.shape();
    let zoom = a
        .zoom
        .map_or(vmlmap_io::legible_zoom(shape.w), |z| z as usize);
    vmlmap_io::write_grid(&a.output, &images, shape, cols, zoom, a.force)?;
    eprintln!(
        "{} samples ({} steps each, eta {}) -> {}",
        a.count, a.steps, a.eta, a.output
    );
    Ok(ExitCode::SUCCESS)
}
