//! `vmlmap demo`: the main job, offline, with the embedded default prior: shipped
//! Fashion-MNIST test images degraded by box inpainting, 4x super-resolution and Gaussian
//! deblurring (noise-free and sigma_y = 0.05), restored by the pseudo-inverse and by
//! VML-MAP (or any list of solvers, `--solvers`); an image grid (rows: image and task;
//! columns: ground truth, measurement, then each solver) and a Markdown summary with PSNR,
//! SSIM, network passes and seconds per image, per restoration and as means per task and
//! noise level. With `--images 20 --solvers ...` it writes the comparison table of every
//! solver over the 20 shipped images.

use crate::assets::FASHION_TEST;
use anyhow::Context;
use std::fmt::Write as _;
use std::ops::ControlFlow;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;
use vmlmap_core::Denoiser;
use vmlmap_models::DeviceSpec;
use vmlmap_operators::TaskSpec;
use vmlmap_restore::{restore_batch, Cancel, Measurement};
use vmlmap_solvers::{build_solver, SolverOptions};

#[derive(clap::Args)]
pub struct Args {
    /// Output folder (created if missing).
    #[arg(long, default_value = "demo-out")]
    out: String,
    /// Prior (default: the embedded model).
    #[arg(long, default_value = "default")]
    model: String,
    /// Shipped test images to use (1-20).
    #[arg(long, allow_negative_numbers = true, default_value_t = 3)]
    images: usize,
    /// VML-MAP reverse steps (its default; the other solvers run at their defaults).
    #[arg(long, allow_negative_numbers = true, default_value_t = 10)]
    steps: usize,
    /// A solver's hyperparameter, `SOLVER:key=value` (repeatable), e.g.
    /// vml-map:start=noise for the paper's pure-noise start.
    #[arg(long = "solver-opt")]
    solver_opt: Vec<String>,
    /// Solvers to compare, comma-separated (`vmlmap restore --help` lists them).
    #[arg(long, value_delimiter = ',', default_value = "pinv,tikhonov,vml-map")]
    solvers: Vec<String>,
    /// Seed of the measurement noise and of every restoration.
    #[arg(long, allow_negative_numbers = true, default_value_t = 0)]
    seed: u64,
    /// Restorations run together, sharing each network evaluation.
    #[arg(long, allow_negative_numbers = true, default_value_t = 18)]
    batch: usize,
    /// Grid pixels per image pixel (default: enough to draw each image 96 pixels wide).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=64))]
    zoom: Option<u64>,
    /// Overwrite existing outputs.
    #[arg(long)]
    force: bool,
    /// cpu, cuda, cuda:N, wgpu or wgpu:N (cuda and wgpu need a build with `--features cuda`
    /// or `--features wgpu`; networks there run on burn, the rest on the CPU).
    #[arg(long, default_value = "cpu")]
    device: String,
}

const TASKS: &[&str] = &["inpaint-box", "sr4", "deblur-gaussian"];
const SIGMAS: &[f64] = &[1e-9, 0.05];
/// Images shown by default: a T-shirt, a dress, an ankle boot.
const PICKS: &[usize] = &[
    0, 6, 18, 2, 10, 14, 4, 8, 12, 16, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19,
];

/// One solver's scores on one restoration.
#[derive(Clone, Copy, Default)]
struct Score {
    psnr: f64,
    ssim: f64,
    /// LPIPS-alex and LPIPS-vgg, when the cache holds their weights.
    lpips: Option<[f64; 2]>,
    nfe: usize,
    vjp: usize,
    seconds: f64,
}

/// One restoration (image, task, noise level) and each solver's scores.
struct Row {
    name: &'static str,
    task: &'static str,
    sigma_y: f64,
    scores: Vec<Score>,
}

/// The label of a solver in the summary.
fn label(solver: &str) -> &str {
    match solver {
        "vml-map" => "VML-MAP",
        other => other,
    }
}

/// One (image, task, noise level): the clean image and its measurement.
struct Case {
    name: &'static str,
    task: &'static str,
    sigma_y: f64,
    x: Vec<f64>,
    m: Measurement,
}

/// Reverse steps of the batch under way, as the progress message.
struct Ticks<'a> {
    progress: &'a mut super::progress::Progress,
    done: u64,
    total: u64,
    label: String,
}

impl vmlmap_solvers::Observer for Ticks<'_> {
    fn on_step(&mut self, step: usize, total: usize, _sigma: f64) -> ControlFlow<()> {
        let msg = format!("({}: step {}/{total})", self.label, step + 1);
        self.progress.set(self.done, self.total, &msg);
        ControlFlow::Continue(())
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
    if out.exists() && !out.is_dir() {
        anyhow::bail!("--out {} exists and is not a folder", out.display());
    }
    let grid_path = out.join("grid.png");
    let md_path = out.join("summary.md");
    for p in [&grid_path, &md_path] {
        if p.exists() && !a.force {
            anyhow::bail!("{} exists; pass --force to overwrite it", p.display());
        }
    }
    let device = a.device.parse::<DeviceSpec>()?.device()?;
    let (den, info) = super::load_model(&a.model, &device)?;
    let solvers = solvers(&a)?;
    let cases = cases(&a, den.shape())?;
    let batch = a.batch.min(cases.len());
    let started = Instant::now();
    let (mut rows, outputs) = restore_all(&a, &solvers, &cases, &den, batch)?;
    score_lpips(&mut rows, &cases, &outputs, den.shape())?;
    let names: Vec<&str> = solvers.iter().map(|s| label(s.name())).collect();
    let grid = grid(&a, &cases, &outputs, &names, den.shape());
    // The folder is made only now, when there is something to put in it.
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    vmlmap_io::write_atomic(&grid_path, a.force, |tmp| {
        grid.save_with_format(tmp, image::ImageFormat::Png)
            .map_err(|e| e.to_string())
    })?;
    let prior = info.preset.as_deref().unwrap_or(&info.source);
    let md = summary(&a, &rows, &names, prior, info.parameters, batch)?;
    vmlmap_io::write_atomic(&md_path, a.force, |tmp| {
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

/// The solvers of `--solvers` with their `--solver-opt`s (`--steps` first for VML-MAP, so
/// that a `--solver-opt steps=...` after it wins).
fn solvers(a: &Args) -> anyhow::Result<Vec<Box<dyn vmlmap_solvers::Solver>>> {
    let mut extra = super::bench::grouped("solver-opt", &a.solver_opt)?;
    if let Some(name) = extra.keys().find(|k| !a.solvers.contains(k)) {
        anyhow::bail!(
            "--solver-opt names {name}, which is not in --solvers ({})",
            a.solvers.join(",")
        );
    }
    let solvers = a
        .solvers
        .iter()
        .map(|name| {
            let mut opts: Vec<String> = name
                .starts_with("vml-map")
                .then(|| format!("steps={}", a.steps))
                .into_iter()
                .collect();
            opts.extend(extra.remove(name).unwrap_or_default());
            build_solver(
                name,
                &SolverOptions {
                    extra: opts,
                    ..Default::default()
                },
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    if solvers.is_empty() {
        anyhow::bail!("--solvers is empty");
    }
    Ok(solvers)
}

/// Every (image, task, noise level), its measurement seeded by `--seed` and the image.
fn cases(a: &Args, shape: vmlmap_core::Shape) -> anyhow::Result<Vec<Case>> {
    let mut cases = Vec::new();
    for &pick in PICKS.iter().take(a.images) {
        let (name, x) = crate::assets::shipped_image(pick)?;
        if x.len() != shape.numel() {
            anyhow::bail!(
                "model {} works on {shape} images; the shipped images are 1x32x32",
                a.model
            );
        }
        for task in TASKS {
            for &sy in SIGMAS {
                let spec = TaskSpec::new(task)?;
                let m = Measurement::degrade(name, &x, shape, &spec, sy, a.seed ^ pick as u64)?;
                cases.push(Case {
                    name,
                    task,
                    sigma_y: sy,
                    x: x.clone(),
                    m,
                });
            }
        }
    }
    Ok(cases)
}

/// Every solver on every case, `batch` cases at a time sharing each network evaluation
/// (each with the same seed, as single runs would): the scores per case, and each case's
/// outputs in solver order.
#[allow(clippy::type_complexity)]
fn restore_all(
    a: &Args,
    solvers: &[Box<dyn vmlmap_solvers::Solver>],
    cases: &[Case],
    den: &dyn Denoiser,
    batch: usize,
) -> anyhow::Result<(Vec<Row>, Vec<Vec<Vec<f64>>>)> {
    let shape = den.shape();
    let batches = cases.len().div_ceil(batch);
    let total = (solvers.len() * batches) as u64;
    let mut progress = super::progress::Progress::new("demo", total, "solver batches");
    let mut outputs: Vec<Vec<Vec<f64>>> = vec![Vec::new(); cases.len()];
    let mut rows: Vec<Row> = cases
        .iter()
        .map(|c| Row {
            name: c.name,
            task: c.task,
            sigma_y: c.sigma_y,
            scores: Vec::new(),
        })
        .collect();
    let mut done = 0;
    let cancel = Cancel::new();
    for solver in solvers {
        for (i, chunk) in cases.chunks(batch).enumerate() {
            let ms: Vec<&Measurement> = chunk.iter().map(|c| &c.m).collect();
            let mut ticks = Ticks {
                done: done as u64,
                total,
                label: format!("{} batch {}/{batches}", solver.name(), i + 1),
                progress: &mut progress,
            };
            let sols = restore_batch(&ms, solver.as_ref(), den, a.seed, &cancel, &mut ticks)?;
            for (k, (c, sol)) in chunk.iter().zip(sols).enumerate() {
                let at = i * batch + k;
                rows[at].scores.push(Score {
                    psnr: vmlmap_metrics::psnr(&sol.x, &c.x),
                    ssim: vmlmap_metrics::ssim(&sol.x, &c.x, shape)?,
                    lpips: None,
                    nfe: sol.nfe,
                    vjp: sol.vjp,
                    seconds: sol.seconds,
                });
                outputs[at].push(sol.x);
            }
            done += 1;
            progress.set(done as u64, total, "");
        }
    }
    progress.finish();
    Ok((rows, outputs))
}

/// LPIPS-alex and LPIPS-vgg of every output, one solver at a time, when the cache holds
/// the weights.
fn score_lpips(
    rows: &mut [Row],
    cases: &[Case],
    outputs: &[Vec<Vec<f64>>],
    shape: vmlmap_core::Shape,
) -> anyhow::Result<()> {
    let lpips = super::perceptual::CachedLpips::load()?;
    if !lpips.available() || cases.is_empty() {
        return Ok(());
    }
    let gts: Vec<f64> = cases.iter().flat_map(|c| c.x.iter().copied()).collect();
    for j in 0..outputs[0].len() {
        let xs: Vec<f64> = outputs.iter().flat_map(|o| o[j].iter().copied()).collect();
        if let Some(v) = lpips.scores(&xs, &gts, shape)? {
            for (row, l) in rows.iter_mut().zip(v) {
                row.scores[j].lpips = Some(l);
            }
        }
    }
    Ok(())
}

/// One block per task and noise level (a line of tasks noise-free, then one noisy); in a
/// block, a column per image and a row per ground truth, measurement and solver.
fn grid(
    a: &Args,
    cases: &[Case],
    outputs: &[Vec<Vec<f64>>],
    names: &[&str],
    shape: vmlmap_core::Shape,
) -> image::RgbImage {
    let tile = |v: Vec<f64>| {
        Some(vmlmap_plot::Tile {
            data: v,
            channels: shape.c,
            height: shape.h,
            width: shape.w,
        })
    };
    let mut blocks = Vec::new();
    for &sy in SIGMAS {
        for task in TASKS {
            let picked: Vec<usize> = (0..cases.len())
                .filter(|&i| cases[i].task == *task && cases[i].sigma_y == sy)
                .collect();
            let mut rows = vec![Vec::new(); 2 + names.len()];
            for &i in &picked {
                let c = &cases[i];
                rows[0].push(tile(c.x.clone()));
                rows[1].push(tile(vmlmap_bench::harness::runner::measurement_view(
                    c.m.op.as_ref(),
                    &c.m.y,
                    shape,
                    c.task,
                )));
                for (j, o) in outputs[i].iter().enumerate() {
                    rows[2 + j].push(tile(o.clone()));
                }
            }
            let noise = if sy < 1e-6 {
                "noise-free".to_string()
            } else {
                format!("sigma_y = {sy}")
            };
            blocks.push(vmlmap_plot::Block {
                title: format!("{task}, {noise}"),
                row_labels: ["ground truth", "measurement"]
                    .iter()
                    .chain(names)
                    .map(|s| s.to_string())
                    .collect(),
                col_labels: picked.iter().map(|&i| cases[i].name.to_string()).collect(),
                rows,
            });
        }
    }
    vmlmap_plot::LabelledGrid {
        blocks,
        block_cols: TASKS.len(),
        zoom: a
            .zoom
            .map_or(vmlmap_io::legible_zoom(shape.w), |z| z as usize),
    }
    .draw()
}

/// The Markdown summary: the means per task, noise level and solver, then each
/// restoration.
fn summary(
    a: &Args,
    rows: &[Row],
    names: &[&str],
    prior: &str,
    parameters: usize,
    batch: usize,
) -> anyhow::Result<String> {
    let mut md = String::new();
    writeln!(md, "# vmlmap demo\n")?;
    if !a.solver_opt.is_empty() {
        writeln!(md, "Solver options: {}.\n", a.solver_opt.join(", "))?;
    }
    writeln!(md, "Prior: {} ({} parameters). Solvers: {} (VML-MAP: N = {}, K = 5, from the Tikhonov estimate at sigma 1 unless --solver-opt says otherwise; the others at their defaults). Grid `grid.png`: one labelled block per task and noise level (noise-free on the first line, sigma_y = 0.05 on the second); in each, a column per image and a row per ground truth, measurement and solver. Seconds are wall time per restoration: each solver ran {} restorations at a time, sharing each network evaluation, and each is given its batch's time divided by the batch size.\n", prior, parameters, names.join(", "), a.steps, batch)?;
    writeln!(md, "Noise-free Gaussian deblurring at 32x32 is solved by the pseudo-inverse itself (about 70 dB: far below 8-bit quantisation), so there a difference under 1 dB between solvers is a tie.\n")?;
    let with_lpips = rows
        .iter()
        .all(|r| r.scores.iter().all(|s| s.lpips.is_some()));
    if with_lpips {
        writeln!(md, "{}\n", super::perceptual::LPIPS_INPUT_NOTE)?;
    } else {
        writeln!(
            md,
            "LPIPS is left out: run `vmlmap metrics fetch-weights` once to score it.\n"
        )?;
    }
    writeln!(md, "Means over images:\n")?;
    let (lp_head, lp_rule) = if with_lpips {
        (" LPIPS-alex | LPIPS-vgg |", "---|---|")
    } else {
        ("", "")
    };
    writeln!(
        md,
        "| task | sigma_y | solver | PSNR | SSIM |{lp_head} NFE | VJP | seconds per image |"
    )?;
    writeln!(md, "|---|---|---|---|---|{lp_rule}---|---|---|")?;
    for task in TASKS {
        for &sy in SIGMAS {
            let sel: Vec<&Row> = rows
                .iter()
                .filter(|r| r.task == *task && r.sigma_y == sy)
                .collect();
            for (j, name) in names.iter().enumerate() {
                let mean = |f: fn(&Score) -> f64| {
                    sel.iter().map(|r| f(&r.scores[j])).sum::<f64>() / sel.len() as f64
                };
                let lp = if with_lpips {
                    format!(
                        " {:.4} | {:.4} |",
                        mean(|s| s.lpips.map_or(f64::NAN, |l| l[0])),
                        mean(|s| s.lpips.map_or(f64::NAN, |l| l[1]))
                    )
                } else {
                    String::new()
                };
                writeln!(
                    md,
                    "| {task} | {sy:e} | {name} | {:.2} | {:.4} |{lp} {:.0} | {:.0} | {:.2} |",
                    mean(|s| s.psnr),
                    mean(|s| s.ssim),
                    mean(|s| s.nfe as f64),
                    mean(|s| s.vjp as f64),
                    mean(|s| s.seconds)
                )?;
            }
        }
    }
    writeln!(md, "\nEach restoration (PSNR dB / SSIM):\n")?;
    let header: Vec<String> = names
        .iter()
        .map(|n| format!("{n} PSNR | {n} SSIM"))
        .collect();
    writeln!(md, "| image | task | sigma_y | {} |", header.join(" | "))?;
    writeln!(md, "|---|---|---|{}", "---|---|".repeat(names.len()))?;
    for r in rows {
        let cells: Vec<String> = r
            .scores
            .iter()
            .map(|s| format!("{:.2} | {:.4}", s.psnr, s.ssim))
            .collect();
        writeln!(
            md,
            "| {} | {} | {:e} | {} |",
            r.name,
            r.task,
            r.sigma_y,
            cells.join(" | ")
        )?;
    }
    Ok(md)
}
