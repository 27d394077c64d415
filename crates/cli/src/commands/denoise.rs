//! `vmlmap denoise`: one application of `D(x, sigma)` (Tweedie's MMSE estimate) of a
//! network prior.

use anyhow::Context;
use std::process::ExitCode;
use vmlmap_core::Denoiser;
use vmlmap_models::DeviceSpec;

#[derive(clap::Args)]
pub struct Args {
    /// `default` (the embedded prior), a checkpoint file, a diffusers folder, or a preset
    /// name (random weights).
    #[arg(long, default_value = "default")]
    model: String,
    /// Input: `.npy` (float32 C x H x W in [-1, 1] units) or an image (PNG/JPEG).
    #[arg(long)]
    input: String,
    /// Noise level in the variance-exploding convention (rounded to the model's grid).
    #[arg(long, allow_negative_numbers = true)]
    sigma: f64,
    /// Output: `.npy` (raw values) or `.png`.
    #[arg(long)]
    output: String,
    /// Overwrite an existing output.
    #[arg(long)]
    force: bool,
    /// Resample an image whose size differs from the model's.
    #[arg(long)]
    resize: bool,
    /// cpu, cuda, cuda:N, wgpu or wgpu:N (cuda and wgpu need a build with `--features cuda`
    /// or `--features wgpu`; networks there run on burn, the rest on the CPU).
    #[arg(long, default_value = "cpu")]
    device: String,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    if !(a.sigma > 0.0 && a.sigma.is_finite()) {
        anyhow::bail!("invalid --sigma {}: must be positive and finite", a.sigma);
    }
    super::check_output(&a.output, &["png", "npy"], a.force)?;
    let device = a.device.parse::<DeviceSpec>()?.device()?;
    let (den, info) = super::load_model(&a.model, &device)
        .with_context(|| format!("loading model {}", a.model))?;
    let (x, shape) = super::read_input(&a.input, Some(den.shape()), a.resize, 6.0 * a.sigma)?;
    let d = den.denoise(&x, a.sigma)?;
    vmlmap_io::write_array(&a.output, &d, shape, a.force)?;
    eprintln!(
        "D(x, sigma={}) with {} (t = {}) -> {}",
        den.round_sigma(a.sigma),
        info.preset.as_deref().unwrap_or(&info.source),
        vmlmap_core::schedule::VpTable::ddpm_linear().nearest_t(a.sigma),
        a.output
    );
    Ok(ExitCode::SUCCESS)
}
