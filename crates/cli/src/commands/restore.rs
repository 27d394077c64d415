//! `vmlmap restore`: solve the inverse problem of a measurement written by `degrade`.

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;
use vmlmap_core::{Denoiser, NoiseConvention, Shape};
use vmlmap_io::sidecar::{sibling_paths, MeasurementSidecar};
use vmlmap_models::{DeviceSpec, Precision};
use vmlmap_operators::TaskSpec;
use vmlmap_solvers::{build_solver, Observer, Problem, SolverOptions};

#[derive(clap::Args)]
pub struct Args {
    /// The measurement: `NAME.png`, `NAME.npy` or `NAME.json` from `vmlmap degrade`.
    #[arg(long)]
    input: String,
    /// Restored image (`.png`) or array (`.npy`).
    #[arg(long)]
    output: String,
    /// Must agree with the sidecar when given.
    #[arg(long)]
    task: Option<String>,
    #[arg(long, default_value = "vml-map")]
    solver: String,
    /// `default` (the embedded prior), a checkpoint file, a diffusers folder or a preset.
    #[arg(long, default_value = "default")]
    model: String,
    /// Must agree with the sidecar when given.
    #[arg(long, allow_negative_numbers = true)]
    sigma_y: Option<f64>,
    #[arg(long, default_value = "minus-one-one")]
    noise_convention: String,
    /// Reverse steps.
    #[arg(long)]
    steps: Option<usize>,
    /// Inner steps per noise level (VML-MAP).
    #[arg(long)]
    inner: Option<usize>,
    #[arg(long)]
    lr: Option<f64>,
    /// VML-MAP: return D(x, sigma_min) itself, without the final data step (the paper's
    /// output; the step is a no-op at the fixed point and completes the data fit short of it).
    #[arg(long)]
    no_final_data_step: bool,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Clean image: adds PSNR and SSIM.
    #[arg(long)]
    ground_truth: Option<String>,
    /// One JSON line on stdout.
    #[arg(long)]
    json: bool,
    #[arg(long)]
    force: bool,
    #[arg(long, default_value = "cpu")]
    device: String,
}

struct Bar(ProgressBar);

impl Observer for Bar {
    fn on_step(&mut self, step: usize, total: usize, sigma: f64) {
        self.0.set_length(total as u64);
        self.0.set_position(step as u64 + 1);
        self.0.set_message(format!("sigma {sigma:.3}"));
    }
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let (_, npy, json) = sibling_paths(&a.input);
    let side = MeasurementSidecar::read(&json).with_context(|| {
        format!(
            "reading the measurement description {} (written by vmlmap degrade)",
            json.display()
        )
    })?;
    if let Some(t) = &a.task {
        if t != &side.task {
            bail!(
                "--task {t} contradicts {} (task {})",
                json.display(),
                side.task
            );
        }
    }
    if let Some(s) = a.sigma_y {
        let s = a
            .noise_convention
            .parse::<NoiseConvention>()?
            .to_internal(s);
        if (s - side.sigma_y).abs() > 1e-12 * side.sigma_y.max(1e-300) {
            bail!(
                "--sigma-y {s:e} contradicts {} (sigma_y {:e})",
                json.display(),
                side.sigma_y
            );
        }
    }
    if Path::new(&a.output).exists() && !a.force {
        bail!("{} exists; pass --force to overwrite it", a.output);
    }
    let shape = Shape::new(
        side.image_shape[0],
        side.image_shape[1],
        side.image_shape[2],
    )?;
    let opts: Vec<String> = side
        .options
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let op = TaskSpec::parse(&side.task, &opts)?.build(shape)?;
    let npy_path = json.with_file_name(&side.measurement);
    let y = read_measurement(npy_path.to_str().unwrap_or_default(), op.output_len())
        .or_else(|_| read_measurement(npy.to_str().unwrap_or_default(), op.output_len()))?;
    let model = a.model.clone();
    let device = a.device.parse::<DeviceSpec>()?.device()?;
    let (den, _) =
        vmlmap_models::registry::load_denoiser(&model, &device, Precision::F32, Some(shape.h))?;
    if den.shape() != shape {
        bail!(
            "model {model} works on {} images, the measurement is of a {shape} image",
            den.shape()
        );
    }
    let solver = build_solver(
        &a.solver,
        &SolverOptions {
            steps: a.steps,
            inner: a.inner,
            lr: a.lr,
            final_data_step: a.no_final_data_step.then_some(false),
            ..Default::default()
        },
    )?;
    let problem = Problem::new(op.as_ref(), y, side.sigma_y)?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("restore {bar:30} {pos}/{len} {msg} {elapsed} eta {eta}")
            .expect("valid template"),
    );
    let t = Instant::now();
    let sol = solver.solve(&problem, &den, a.seed, &mut Bar(bar.clone()))?;
    let seconds = t.elapsed().as_secs_f64();
    bar.finish_and_clear();
    vmlmap_io::write_array(&a.output, &sol.x, shape, a.force)?;
    let mut out = serde_json::json!({"solver": solver.name(), "task": side.task, "sigma_y": side.sigma_y, "nfe": sol.nfe, "vjp": sol.vjp, "seconds": seconds, "output": a.output, "measurement_residual": problem.residual(&sol.x)});
    if let Some(gt) = &a.ground_truth {
        let (g, gs) = vmlmap_io::read_array(gt, Some(shape), false)?;
        vmlmap_metrics::check_shapes(gs, shape)?;
        out["psnr"] = vmlmap_metrics::psnr(&sol.x, &g).into();
        out["ssim"] = vmlmap_metrics::ssim(&sol.x, &g, shape)
            .map(Into::into)
            .unwrap_or(serde_json::Value::Null);
    }
    if a.json {
        println!("{out}");
    } else {
        eprintln!(
            "{} on {}: {} NFE, {} VJP, {seconds:.1} s -> {}",
            solver.name(),
            side.task,
            sol.nfe,
            sol.vjp,
            a.output
        );
        if let (Some(p), Some(s)) = (out.get("psnr"), out.get("ssim")) {
            eprintln!("PSNR {p:.2} dB, SSIM {s:.4}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_measurement(path: &str, len: usize) -> anyhow::Result<Vec<f64>> {
    let (y, _) = vmlmap_io::read_npy(path)?;
    if y.len() != len {
        bail!("{path} holds {} values, the operator gives {len}", y.len());
    }
    Ok(y)
}
