//! `vmlmap degrade`: apply a task's operator and measurement noise to an image; writes the
//! measurement as an image, the exact float measurement (`.npy`) and a JSON sidecar.

use std::process::ExitCode;
use vmlmap_core::NoiseConvention;
use vmlmap_operators::TaskSpec;
use vmlmap_restore::Measurement;

#[derive(clap::Args)]
pub struct Args {
    /// Task (see `vmlmap tasks`).
    #[arg(long)]
    task: String,
    /// Clean image (PNG/JPEG) or `.npy` in [-1, 1].
    #[arg(long)]
    input: String,
    /// Measurement image `NAME.png`; `NAME.npy` and `NAME.json` are written beside it.
    #[arg(long)]
    output: String,
    /// Measurement noise (default: 1e-9, noise-free).
    #[arg(long, default_value_t = 1e-9, allow_negative_numbers = true)]
    sigma_y: f64,
    /// Unit of --sigma-y: minus-one-one (default) or zero-one (doubled).
    #[arg(long, default_value = "minus-one-one")]
    noise_convention: String,
    /// Seed of the measurement noise.
    #[arg(long, allow_negative_numbers = true, default_value_t = 0)]
    seed: u64,
    /// Task options, key=value (repeatable).
    #[arg(long = "task-opt")]
    task_opts: Vec<String>,
    /// Overwrite existing NAME.png/.npy/.json (never done unasked).
    #[arg(long)]
    force: bool,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let conv: NoiseConvention = a.noise_convention.parse()?;
    let sigma_y = conv.to_internal(a.sigma_y);
    if !(sigma_y > 0.0 && sigma_y.is_finite()) {
        anyhow::bail!(
            "invalid --sigma-y {}: must be positive and finite (use 1e-9 for noise-free)",
            a.sigma_y
        );
    }
    let spec = TaskSpec::parse(&a.task, &a.task_opts)?;
    let (x, shape) = super::read_input(&a.input, None, false, 0.0)?;
    // Every parameter written out, so that the measurement restores the same way later.
    let name = std::path::Path::new(&a.output)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let m = Measurement::degrade(name, &x, shape, &spec, sigma_y, a.seed)?;
    let [png, npy, json] = m.write(std::path::Path::new(&a.output), &a.input, a.force)?;
    eprintln!(
        "{} (sigma_y = {sigma_y:e}) -> {}, {}, {}",
        m.op.describe(),
        png.display(),
        npy.display(),
        json.display()
    );
    Ok(ExitCode::SUCCESS)
}
