//! `vmlmap degrade`: apply a task's operator and measurement noise to an image; writes the
//! measurement as an image, the exact float measurement (`.npy`) and a JSON sidecar.

use anyhow::Context;
use std::process::ExitCode;
use vmlmap_core::{NoiseConvention, Shape};
use vmlmap_io::sidecar::{sibling_paths, MeasurementSidecar};
use vmlmap_operators::TaskSpec;

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
    let spec = spec.resolved(shape)?;
    let op = spec.build(shape)?;
    let eta = vmlmap_core::rng::normal_vec(&mut vmlmap_core::rng::seeded(a.seed), op.output_len());
    let y: Vec<f64> = op
        .apply(&x)
        .iter()
        .zip(&eta)
        .map(|(v, e)| v + sigma_y * e)
        .collect();
    let (png, npy, json) = sibling_paths(&a.output);
    for p in [&png, &npy, &json] {
        if p.exists() && !a.force {
            anyhow::bail!("{} exists; pass --force to overwrite it", p.display());
        }
    }
    // The viewable measurement: the measured image itself, or the masked/back-projected
    // image at full size where the measurement is not an image.
    let (view, view_shape) = match op.output_shape() {
        Some(s) => (y.clone(), s),
        None if a.task.starts_with("inpaint") => (op.adjoint(&y), shape),
        None => (op.pinv(&y), shape),
    };
    let ys = op.output_shape().unwrap_or(Shape {
        c: 1,
        h: 1,
        w: op.output_len(),
    });
    let s = |p: &std::path::Path| {
        p.to_str()
            .map(str::to_string)
            .context("output path is not UTF-8")
    };
    vmlmap_io::write_npy(&s(&npy)?, &y, ys, a.force)?;
    vmlmap_io::write_png(&s(&png)?, &view, view_shape, a.force)?;
    let sidecar = MeasurementSidecar {
        task: spec.name.clone(),
        options: spec.options.clone(),
        sigma_y,
        seed: a.seed,
        image_shape: [shape.c, shape.h, shape.w],
        measurement: npy
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string(),
        measurement_len: y.len(),
        noise_convention: "minus-one-one".into(),
        source: a.input.clone(),
    };
    sidecar.write(&json, a.force)?;
    eprintln!(
        "{} (sigma_y = {sigma_y:e}) -> {}, {}, {}",
        op.describe(),
        png.display(),
        npy.display(),
        json.display()
    );
    Ok(ExitCode::SUCCESS)
}
