//! `vmlmap demo`: the main job, offline, with the embedded default prior: shipped
//! Fashion-MNIST test images degraded by box inpainting, 4x super-resolution and Gaussian
//! deblurring (noise-free and sigma_y = 0.05), restored by the pseudo-inverse and by
//! VML-MAP; an image grid (rows: image and task; columns: ground truth, measurement,
//! pseudo-inverse, VML-MAP) and a Markdown summary with PSNR and SSIM.

use crate::assets::FASHION_TEST;
use anyhow::Context;
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;
use vmlmap_core::{Denoiser, Shape};
use vmlmap_models::{DeviceSpec, Precision};
use vmlmap_operators::{LinearOperator, TaskSpec};
use vmlmap_solvers::{build_solver, Problem, Silent, SolverOptions};

#[derive(clap::Args)]
pub struct Args {
    /// Output folder (created if missing).
    #[arg(long, default_value = "demo-out")]
    out: String,
    /// Prior (default: the embedded model).
    #[arg(long, default_value = "default")]
    model: String,
    /// Shipped test images to use (1-20).
    #[arg(long, default_value_t = 3)]
    images: usize,
    /// VML-MAP reverse steps.
    #[arg(long, default_value_t = 30)]
    steps: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Restorations run together, sharing each network evaluation.
    #[arg(long, default_value_t = 18)]
    batch: usize,
    /// Grid pixels per image pixel (default: enough to draw each image 96 pixels wide).
    #[arg(long)]
    zoom: Option<usize>,
    /// Overwrite existing outputs.
    #[arg(long)]
    force: bool,
    #[arg(long, default_value = "cpu")]
    device: String,
}

const TASKS: &[&str] = &["inpaint-box", "sr4", "deblur-gaussian"];
const SIGMAS: &[f64] = &[1e-9, 0.05];
/// Images shown by default: a T-shirt, a dress, an ankle boot.
const PICKS: &[usize] = &[
    0, 6, 18, 2, 10, 14, 4, 8, 12, 16, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19,
];

/// One restoration's scores: (PSNR, SSIM) of the pseudo-inverse and of VML-MAP.
struct Row {
    name: &'static str,
    task: &'static str,
    sigma_y: f64,
    pinv: (f64, f64),
    vml: (f64, f64),
    nfe: usize,
    vjp: usize,
    seconds: f64,
}

/// What the measurement looks like at full size: itself, the masked image, or `H^+ y`.
fn view(op: &dyn LinearOperator, y: &[f64], shape: Shape, task: &str) -> Vec<f64> {
    match op.output_shape() {
        Some(s) if s == shape => y.to_vec(),
        _ if task.starts_with("inpaint") => op.adjoint(y),
        _ => op.pinv(y),
    }
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    if a.images == 0 || a.images > FASHION_TEST.len() {
        anyhow::bail!("--images must be in 1..={}", FASHION_TEST.len());
    }
    if a.batch == 0 {
        anyhow::bail!("--batch must be at least 1");
    }
    let out = Path::new(&a.out);
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let grid_path = out.join("grid.png");
    let md_path = out.join("summary.md");
    for p in [&grid_path, &md_path] {
        if p.exists() && !a.force {
            anyhow::bail!("{} exists; pass --force to overwrite it", p.display());
        }
    }
    let device = a.device.parse::<DeviceSpec>()?.device()?;
    let (den, info) =
        vmlmap_models::registry::load_denoiser(&a.model, &device, Precision::F32, None)?;
    let shape = den.shape();
    let vml = build_solver(
        "vml-map",
        &SolverOptions {
            steps: Some(a.steps),
            ..Default::default()
        },
    )?;
    let pinv = build_solver("pinv", &SolverOptions::default())?;
    // Every (image, task, noise level) is one problem; VML-MAP solves them in batches that
    // share each network evaluation (each with the same seed, as single runs would).
    struct Case {
        name: &'static str,
        task: &'static str,
        sigma_y: f64,
        x: Vec<f64>,
        op: Box<dyn LinearOperator>,
        y: Vec<f64>,
    }
    let mut cases = Vec::new();
    for &pick in PICKS.iter().take(a.images) {
        let (name, png) = FASHION_TEST[pick];
        let tmp =
            std::env::temp_dir().join(format!("vmlmap-demo-{}-{name}.png", std::process::id()));
        std::fs::write(&tmp, png)?;
        let read = vmlmap_io::read_array(tmp.to_str().unwrap_or_default(), Some(shape), false);
        let _ = std::fs::remove_file(&tmp);
        let (x, _) = read?;
        for task in TASKS {
            for &sy in SIGMAS {
                let op = TaskSpec::new(task)?.build(shape)?;
                let eta = vmlmap_core::rng::normal_vec(
                    &mut vmlmap_core::rng::seeded(a.seed ^ pick as u64),
                    op.output_len(),
                );
                let y: Vec<f64> = op
                    .apply(&x)
                    .iter()
                    .zip(&eta)
                    .map(|(v, e)| v + sy * e)
                    .collect();
                cases.push(Case {
                    name,
                    task,
                    sigma_y: sy,
                    x: x.clone(),
                    op,
                    y,
                });
            }
        }
    }
    let batch = a.batch.min(cases.len());
    let batches = cases.len().div_ceil(batch);
    let bar = indicatif::ProgressBar::new((a.steps * batches) as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "demo {bar:30} {pos}/{len} reverse steps ({msg}) {elapsed} eta {eta}",
        )
        .expect("valid template"),
    );
    struct Ticks(indicatif::ProgressBar);
    impl vmlmap_solvers::Observer for Ticks {
        fn on_step(&mut self, _step: usize, _total: usize, _sigma: f64) {
            self.0.inc(1);
        }
    }
    let mut cells = Vec::new();
    let mut rows = Vec::new();
    let started = Instant::now();
    for (i, chunk) in cases.chunks(batch).enumerate() {
        bar.set_message(format!(
            "batch {}/{batches} of {} restorations",
            i + 1,
            chunk.len()
        ));
        let problems = chunk
            .iter()
            .map(|c| Problem::new(c.op.as_ref(), c.y.clone(), c.sigma_y))
            .collect::<Result<Vec<_>, _>>()?;
        let t = Instant::now();
        let seeds = vec![a.seed; chunk.len()];
        let sols = vml.solve_batch(&problems, &den, &seeds, &mut Ticks(bar.clone()))?;
        let secs = t.elapsed().as_secs_f64() / chunk.len() as f64;
        for ((c, problem), v) in chunk.iter().zip(&problems).zip(sols) {
            let p = pinv.solve(problem, &den, a.seed, &mut Silent)?;
            let m = |z: &[f64]| -> anyhow::Result<(f64, f64)> {
                Ok((
                    vmlmap_metrics::psnr(z, &c.x),
                    vmlmap_metrics::ssim(z, &c.x, shape)?,
                ))
            };
            rows.push(Row {
                name: c.name,
                task: c.task,
                sigma_y: c.sigma_y,
                pinv: m(&p.x)?,
                vml: m(&v.x)?,
                nfe: v.nfe,
                vjp: v.vjp,
                seconds: secs,
            });
            cells.extend([
                c.x.clone(),
                view(c.op.as_ref(), &c.y, shape, c.task),
                p.x,
                v.x,
            ]);
        }
    }
    bar.finish_and_clear();
    vmlmap_io::write_grid(
        grid_path.to_str().unwrap_or("grid.png"),
        &cells,
        shape,
        4,
        a.zoom.unwrap_or(vmlmap_io::legible_zoom(shape.w)),
        a.force,
    )?;
    let mut md = String::new();
    writeln!(md, "# vmlmap demo\n")?;
    writeln!(md, "Prior: {} ({} parameters). VML-MAP: N = {}, K = 5. Grid `grid.png`: rows are image x task x sigma_y in the order below; columns are ground truth, measurement, pseudo-inverse, VML-MAP. Seconds are wall time per restoration: VML-MAP ran {} restorations at a time, sharing each network evaluation, and each is given its batch's time divided by the batch size.\n", info.preset.as_deref().unwrap_or(&info.source), info.parameters, a.steps, a.batch.min(rows.len()))?;
    writeln!(md, "| image | task | sigma_y | pinv PSNR | pinv SSIM | VML-MAP PSNR | VML-MAP SSIM | NFE | VJP | seconds |")?;
    writeln!(md, "|---|---|---|---|---|---|---|---|---|---|")?;
    for r in &rows {
        writeln!(
            md,
            "| {} | {} | {:e} | {:.2} | {:.4} | {:.2} | {:.4} | {} | {} | {:.1} |",
            r.name,
            r.task,
            r.sigma_y,
            r.pinv.0,
            r.pinv.1,
            r.vml.0,
            r.vml.1,
            r.nfe,
            r.vjp,
            r.seconds
        )?;
    }
    writeln!(md, "\nMeans over images:\n\n| task | sigma_y | pinv PSNR | VML-MAP PSNR | pinv SSIM | VML-MAP SSIM |\n|---|---|---|---|---|---|")?;
    for task in TASKS {
        for &sy in SIGMAS {
            let sel: Vec<&Row> = rows
                .iter()
                .filter(|r| r.task == *task && r.sigma_y == sy)
                .collect();
            let mean =
                |f: fn(&Row) -> f64| sel.iter().map(|r| f(r)).sum::<f64>() / sel.len() as f64;
            writeln!(
                md,
                "| {task} | {sy:e} | {:.2} | {:.2} | {:.4} | {:.4} |",
                mean(|r| r.pinv.0),
                mean(|r| r.vml.0),
                mean(|r| r.pinv.1),
                mean(|r| r.vml.1)
            )?;
        }
    }
    vmlmap_io::write_atomic(md_path.to_str().unwrap_or("summary.md"), a.force, |tmp| {
        std::fs::write(tmp, &md).map_err(|e| e.to_string())
    })?;
    print!("{md}");
    eprintln!(
        "{} restorations in {:.0} s -> {}, {}",
        rows.len(),
        started.elapsed().as_secs_f64(),
        grid_path.display(),
        md_path.display()
    );
    Ok(ExitCode::SUCCESS)
}
