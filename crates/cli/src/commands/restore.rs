//! `vmlmap restore`: solve the inverse problems of measurements written by `degrade`, one
//! or many; many are run in batches that share each network evaluation.

use super::progress::Progress;
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use vmlmap_core::{NoiseConvention, Shape};
use vmlmap_io::sidecar::{sibling_paths, MeasurementSidecar};
use vmlmap_models::{DeviceSpec, Precision};
use vmlmap_operators::{LinearOperator, TaskSpec};
use vmlmap_solvers::{build_solver, Observer, Problem, SolverOptions};

#[derive(clap::Args)]
pub struct Args {
    /// A measurement, or a folder of them; repeat for several. Two kinds:
    /// written by `vmlmap degrade` (`NAME.png`, `NAME.npy` or `NAME.json`): its `NAME.json`
    /// sidecar defines the operator and the noise; or any image or `.npy` without a sidecar,
    /// with --task: the file is the measurement y itself, of the operator's output size
    /// (8x8 for sr4 on the 32x32 default model; the full-size image for inpainting, with
    /// --task-opt path=mask.png for inpaint-mask; a `.npy` of m values for cs). A folder
    /// gives its `NAME.json` measurements, or with --task its images and `.npy` files.
    #[arg(long, required = true)]
    input: Vec<String>,
    /// One input: the restored image (`.png`) or array (`.npy`). Several inputs: a folder
    /// (created if missing) that receives `NAME.png` (or `NAME.npy`, see --format) for
    /// each measurement `NAME`.
    #[arg(long)]
    output: String,
    /// Extension of the files written into an output folder.
    #[arg(long, default_value = "png", value_parser = ["png", "npy"])]
    format: String,
    /// Task of a measurement without a sidecar (see `vmlmap tasks`); must agree with the
    /// sidecars when given.
    #[arg(long)]
    task: Option<String>,
    /// Task option `key=value` of a measurement without a sidecar (repeat); a sidecar
    /// records its own.
    #[arg(long = "task-opt")]
    task_opts: Vec<String>,
    /// vml-map (default), vml-map-plain, pinv, tikhonov, ddnm, ddrm, diffpir, pigdm, dps, daps,
    /// red-diff
    /// (README: the solver table with each one's defaults).
    #[arg(long, default_value = "vml-map")]
    solver: String,
    /// A solver hyperparameter, `key=value` (repeat): e.g. `zeta=0.5` for dps, `lambda=0.01`
    /// for tikhonov; unknown keys are errors that list the solver's keys.
    #[arg(long = "solver-opt")]
    solver_opt: Vec<String>,
    /// `default` (the embedded prior), a checkpoint file, a diffusers folder or a preset
    /// (not loaded for pinv and tikhonov, which use no prior).
    #[arg(long, default_value = "default")]
    model: String,
    /// Measurement noise of a measurement without a sidecar (default 1e-9: noise-free);
    /// must agree with the sidecars when given.
    #[arg(long, allow_negative_numbers = true)]
    sigma_y: Option<f64>,
    /// Unit of --sigma-y: minus-one-one (images in [-1, 1]) or zero-one (doubled).
    #[arg(long, default_value = "minus-one-one")]
    noise_convention: String,
    /// Reverse steps N (default: the solver's own: vml-map 10, from the Tikhonov estimate
    /// at sigma 1, 110 network passes (the paper's setting: --steps 100 --solver-opt
    /// start=noise --solver-opt sigma_max=80, 1,100 passes); ddrm 20, ddnm/diffpir/pigdm 100,
    /// dps/red-diff 1000, daps 200 annealing levels; pinv and tikhonov take none).
    #[arg(long, allow_negative_numbers = true)]
    steps: Option<usize>,
    /// VML-MAP: inner gradient steps K per noise level (default 5).
    #[arg(long, allow_negative_numbers = true)]
    inner: Option<usize>,
    /// Step size: VML-MAP's preconditioned step (default 1.5), RED-diff's Adam rate
    /// (default 0.1), DAPS's Langevin step (default 1e-4; 5e-5 box inpainting, motion blur).
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f64>,
    /// VML-MAP: return D(x, sigma_min) itself, without the final data step (the paper's
    /// output; the step is a no-op at the fixed point and completes the data fit short of it).
    #[arg(long)]
    no_final_data_step: bool,
    /// Seed of every restoration (each measurement gets this seed, so a batch gives what
    /// single runs give).
    #[arg(long, allow_negative_numbers = true, default_value_t = 0)]
    seed: u64,
    /// Measurements restored together, sharing each network evaluation (default: as many
    /// as fit in half the available memory, at most 16).
    #[arg(long, allow_negative_numbers = true)]
    batch: Option<usize>,
    /// Clean image: adds PSNR and SSIM. Repeat in the order of --input, or give a folder
    /// holding `NAME.png` for each measurement `NAME`.
    #[arg(long)]
    ground_truth: Vec<String>,
    /// One JSON line per restoration on stdout.
    #[arg(long)]
    json: bool,
    /// Overwrite existing output files (never done unasked).
    #[arg(long)]
    force: bool,
    /// cpu, cuda or cuda:N (cuda needs a build with `--features cuda`).
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// Progress of the batch under way: one tick per reverse step.
struct Bar {
    progress: Progress,
    /// `batch i/n` of the batch under way.
    label: String,
}

impl Observer for Bar {
    fn on_step(&mut self, step: usize, total: usize, sigma: f64) {
        let msg = format!("{} sigma {sigma:.3}", self.label);
        self.progress.set(step as u64 + 1, total as u64, &msg);
    }
}

/// One measurement to restore.
struct Measurement {
    name: String,
    side: MeasurementSidecar,
    op: Box<dyn LinearOperator>,
    y: Vec<f64>,
    shape: Shape,
    output: String,
    /// The clean image's path and values, read and checked before any work.
    ground_truth: Option<(String, Vec<f64>)>,
}

/// Whether two paths name the same file (also when neither exists yet).
fn same_file(a: &str, b: &str) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => std::path::absolute(a).ok() == std::path::absolute(b).ok(),
    }
}

/// Where a measurement comes from.
enum Source {
    /// A `NAME.json` written by `vmlmap degrade`.
    Sidecar(PathBuf),
    /// An image or `.npy` that is the measurement itself (with `--task`).
    Raw(PathBuf),
}

/// Whether a file is an image or array a raw measurement can be read from.
fn raw_kind(p: &Path) -> bool {
    p.extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .is_some_and(|e| ["png", "npy", "jpg", "jpeg"].contains(&e.as_str()))
}

/// The measurements of the inputs: files as given (with their sidecar when there is one),
/// folders expanded to their sorted `NAME.json` measurement descriptions, or with a task
/// to their images and arrays.
fn sources(inputs: &[String], task: Option<&str>) -> anyhow::Result<Vec<Source>> {
    let mut out = Vec::new();
    for input in inputs {
        let p = Path::new(input);
        if p.is_dir() {
            let files: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading the folder {input}"))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            let mut found: Vec<PathBuf> = files
                .iter()
                .filter(|f| f.extension().is_some_and(|e| e == "json"))
                .filter(|f| MeasurementSidecar::read(f).is_ok())
                .cloned()
                .collect();
            found.sort();
            if !found.is_empty() {
                out.extend(found.into_iter().map(Source::Sidecar));
                continue;
            }
            if task.is_none() {
                bail!("{input} holds no measurement description (NAME.json written by vmlmap degrade); give --task to restore its images as raw measurements");
            }
            let mut raw: Vec<PathBuf> = files.into_iter().filter(|f| raw_kind(f)).collect();
            if raw.is_empty() {
                bail!("{input} holds no image (.png, .jpg) or .npy measurement");
            }
            raw.sort();
            out.extend(raw.into_iter().map(Source::Raw));
        } else if p.extension().is_some_and(|e| e == "json") || sibling_paths(input).2.is_file() {
            out.push(Source::Sidecar(sibling_paths(input).2));
        } else if !p.is_file() {
            bail!("cannot read {input}: no such file or folder");
        } else if task.is_some() {
            if !raw_kind(p) {
                bail!("cannot read {input} as a measurement: expected .png, .jpg or .npy");
            }
            out.push(Source::Raw(p.to_path_buf()));
        } else {
            bail!(
                "{input} has no measurement description {} (written by vmlmap degrade): give --task (and --sigma-y, --task-opt) to restore it as a raw measurement y",
                sibling_paths(input).2.display()
            );
        }
    }
    Ok(out)
}

/// The default batch: what fits in half the available memory, at most 16.
fn auto_batch(info: &vmlmap_models::registry::ModelInfo) -> usize {
    let available = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("MemAvailable:"))?;
            line.split_whitespace().nth(1)?.parse::<usize>().ok()
        })
        .map(|kb| kb * 1024)
        .unwrap_or(4 << 30);
    (available / 2 / info.vjp_bytes_per_image()).clamp(1, 16)
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let convention = a.noise_convention.parse::<NoiseConvention>()?;
    if let Some(s) = a.sigma_y {
        if !(s > 0.0 && s.is_finite()) {
            bail!("invalid --sigma-y {s}: must be positive and finite (use 1e-9 for noise-free)");
        }
    }
    if a.batch == Some(0) {
        bail!("--batch must be at least 1");
    }
    let solver = build_solver(
        &a.solver,
        &SolverOptions {
            steps: a.steps,
            inner: a.inner,
            lr: a.lr,
            final_data_step: a.no_final_data_step.then_some(false),
            extra: a.solver_opt.clone(),
            ..Default::default()
        },
    )?;
    if let Some(t) = &a.task {
        TaskSpec::new(t)?;
    }
    let jsons = sources(&a.input, a.task.as_deref())?;
    let many = jsons.len() > 1 || Path::new(&a.output).is_dir();
    let any_raw = jsons.iter().any(|s| matches!(s, Source::Raw(_)));
    if !a.task_opts.is_empty() && !any_raw {
        bail!("--task-opt applies to raw measurements; the sidecars of these measurements record their operators");
    }
    if any_raw && a.sigma_y.is_none() {
        eprintln!("note: no --sigma-y: the measurements without a sidecar are taken as noise-free (sigma_y 1e-9)");
    }
    // The model's image shape, before any operator is built: a raw measurement is of its
    // size, and a sidecar's image must have its channels.
    // The model is read once, here, when the solver uses it (and read again below only
    // for measurements of another size than its configuration, which a fully
    // convolutional guided-diffusion network takes).
    let device = a.device.parse::<DeviceSpec>()?.device()?;
    let mut loaded = if solver.uses_prior() {
        Some(vmlmap_models::registry::load_denoiser(
            &a.model,
            &device,
            Precision::F32,
            None,
        )?)
    } else {
        None
    };
    let model_shape = match &loaded {
        Some((den, _)) => Some(vmlmap_core::Denoiser::shape(den)),
        None if any_raw => {
            let info = vmlmap_models::registry::inspect(&a.model)?;
            Some(Shape::new(info.image[0], info.image[1], info.image[2])?)
        }
        None => None,
    };
    if !a.ground_truth.is_empty()
        && a.ground_truth.len() != jsons.len()
        && !(a.ground_truth.len() == 1 && Path::new(&a.ground_truth[0]).is_dir())
    {
        bail!(
            "{} --ground-truth for {} measurements: give one per measurement, in order, or a folder",
            a.ground_truth.len(),
            jsons.len()
        );
    }
    let mut items = Vec::with_capacity(jsons.len());
    for (i, source) in jsons.iter().enumerate() {
        let json = match source {
            Source::Sidecar(p) | Source::Raw(p) => p,
        };
        let name = json
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("measurement{i}"));
        let output = if many {
            Path::new(&a.output)
                .join(format!("{name}.{}", a.format))
                .to_string_lossy()
                .into_owned()
        } else {
            a.output.clone()
        };
        let ground_truth = match a.ground_truth.as_slice() {
            [] => None,
            [one] if Path::new(one).is_dir() => Some((
                Path::new(one)
                    .join(format!("{name}.png"))
                    .to_string_lossy()
                    .into_owned(),
                Vec::new(),
            )),
            all => Some((all[i].clone(), Vec::new())),
        };
        items.push(match (source, model_shape) {
            (Source::Raw(path), Some(shape)) => {
                read_raw(path, name, output, ground_truth, &a, convention, shape)?
            }
            _ => read_measurement_of(
                json,
                name,
                output,
                ground_truth,
                &a,
                convention,
                model_shape.filter(|_| solver.uses_prior()),
            )?,
        });
    }
    let mut names = std::collections::BTreeSet::new();
    for m in &items {
        if !names.insert(&m.output) {
            bail!(
                "two measurements would both be written to {}: give them different names",
                m.output
            );
        }
        if !many {
            super::check_output(&m.output, &["png", "npy"], a.force)?;
        } else if Path::new(&m.output).exists() && !a.force {
            bail!("{} exists; pass --force to overwrite it", m.output);
        }
    }
    let shape = items[0].shape;
    if let Some(m) = items.iter().find(|m| m.shape != shape) {
        bail!(
            "{} is of a {} image, {} of a {shape} image: one run restores images of one size",
            m.name,
            m.shape,
            items[0].name
        );
    }
    if many {
        std::fs::create_dir_all(&a.output).with_context(|| format!("creating {}", a.output))?;
    }
    for m in &mut items {
        if let Some((gt, _)) = &m.ground_truth {
            if same_file(gt, &m.output) {
                bail!(
                    "--ground-truth {gt} is also the output file: the score would compare the output with itself"
                );
            }
            let (g, gs) = super::read_input(gt, Some(m.shape), false, 0.0)
                .with_context(|| format!("reading the ground truth {gt}"))?;
            vmlmap_metrics::check_shapes(gs, m.shape)
                .with_context(|| format!("ground truth {gt} for {}", m.name))?;
            m.ground_truth = Some((gt.clone(), g));
        }
    }
    // pinv and tikhonov use no prior: no model is loaded (nor required).
    let (den, default_batch): (Box<dyn vmlmap_core::Denoiser>, usize) = if solver.uses_prior() {
        let (den, info) = match loaded.take() {
            Some((den, info)) if vmlmap_core::Denoiser::shape(&den).h == shape.h => (den, info),
            _ => vmlmap_models::registry::load_denoiser(
                &a.model,
                &device,
                Precision::F32,
                Some(shape.h),
            )?,
        };
        if vmlmap_core::Denoiser::shape(&den) != shape {
            bail!(
                "model {} works on {} images, the measurements are of {shape} images",
                a.model,
                vmlmap_core::Denoiser::shape(&den)
            );
        }
        (Box::new(den), auto_batch(&info))
    } else {
        (Box::new(vmlmap_core::denoiser::NoPrior(shape)), 16)
    };
    let batch = a.batch.unwrap_or(default_batch).min(items.len());
    let batches = items.len().div_ceil(batch);
    let mut observer = Bar {
        progress: Progress::new("restore", 0, "steps"),
        label: String::new(),
    };
    for (i, chunk) in items.chunks(batch).enumerate() {
        observer.label = format!("batch {}/{batches} ({} images)", i + 1, chunk.len());
        let problems = chunk
            .iter()
            .map(|m| Problem::new(m.op.as_ref(), m.y.clone(), m.side.sigma_y))
            .collect::<Result<Vec<_>, _>>()?;
        let t = Instant::now();
        let seeds = vec![a.seed; chunk.len()];
        let sols = solver.solve_batch(&problems, den.as_ref(), &seeds, &mut observer)?;
        let seconds = t.elapsed().as_secs_f64() / chunk.len() as f64;
        for ((m, sol), problem) in chunk.iter().zip(&sols).zip(&problems) {
            vmlmap_io::write_array(&m.output, &sol.x, shape, a.force)?;
            let mut out = serde_json::json!({"input": m.name, "solver": solver.name(), "task": m.side.task, "sigma_y": m.side.sigma_y, "nfe": sol.nfe, "vjp": sol.vjp, "seconds": seconds, "batch": chunk.len(), "output": m.output, "measurement_residual": problem.residual(&sol.x)});
            // Scores of the float output and, for a PNG, of the 8-bit file as written.
            let mut scores = Vec::new();
            if let Some((_, g)) = &m.ground_truth {
                let score = |x: &[f64]| {
                    (
                        vmlmap_metrics::psnr(x, g),
                        vmlmap_metrics::ssim(x, g, shape).ok(),
                    )
                };
                let (p, q) = score(&sol.x);
                out["psnr"] = p.into();
                out["ssim"] = q.into();
                scores.push(("float output", p, q));
                if !m.output.to_ascii_lowercase().ends_with(".npy") {
                    let (written, _) = vmlmap_io::read_array(&m.output, Some(shape), false)
                        .with_context(|| format!("reading back {}", m.output))?;
                    let (p, q) = score(&written);
                    out["psnr_png"] = p.into();
                    out["ssim_png"] = q.into();
                    scores.push(("written PNG", p, q));
                }
            }
            if a.json {
                observer.progress.suspend(|| println!("{out}"));
            } else {
                observer.progress.suspend(|| {
                    eprintln!(
                        "{} on {} ({}): {} NFE, {} VJP, {seconds:.1} s -> {}",
                        solver.name(),
                        m.name,
                        m.side.task,
                        sol.nfe,
                        sol.vjp,
                        m.output
                    );
                    for (what, p, q) in &scores {
                        let q = q.map(|q| format!("{q:.4}")).unwrap_or_else(|| "n/a".into());
                        eprintln!("  {what}: PSNR {p:.2} dB, SSIM {q}");
                    }
                });
            }
        }
    }
    observer.progress.finish();
    Ok(ExitCode::SUCCESS)
}

/// Reads a sidecar and its measurement, checks them against the flags and rebuilds the
/// operator.
fn read_measurement_of(
    json: &Path,
    name: String,
    output: String,
    ground_truth: Option<(String, Vec<f64>)>,
    a: &Args,
    convention: NoiseConvention,
    model: Option<Shape>,
) -> anyhow::Result<Measurement> {
    let side = MeasurementSidecar::read(json).with_context(|| {
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
        let s = convention.to_internal(s);
        if (s - side.sigma_y).abs() > 1e-12 * side.sigma_y.max(1e-300) {
            bail!(
                "--sigma-y {s:e} contradicts {} (sigma_y {:e})",
                json.display(),
                side.sigma_y
            );
        }
    }
    let shape = Shape::new(
        side.image_shape[0],
        side.image_shape[1],
        side.image_shape[2],
    )?;
    if let Some(m) = model {
        if m.c != shape.c {
            bail!(
                "{} is a measurement of {shape} images; model {} works on {} channel(s)",
                json.display(),
                a.model,
                m.c
            );
        }
    }
    let opts: Vec<String> = side
        .options
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let op = TaskSpec::parse(&side.task, &opts)?.build(shape)?;
    let npy_path = json.with_file_name(&side.measurement);
    let npy = json.with_extension("npy");
    let y = read_measurement(npy_path.to_str().unwrap_or_default(), op.output_len())
        .or_else(|_| read_measurement(npy.to_str().unwrap_or_default(), op.output_len()))?;
    Ok(Measurement {
        name,
        side,
        op,
        y,
        shape,
        output,
        ground_truth,
    })
}

fn read_measurement(path: &str, len: usize) -> anyhow::Result<Vec<f64>> {
    let (y, _) = vmlmap_io::read_npy(path)?;
    if y.len() != len {
        bail!("{path} holds {} values, the operator gives {len}", y.len());
    }
    Ok(y)
}

/// A measurement without a sidecar: the file is y itself, of the operator's output size
/// for images of the model's `shape` (for masks, the full image, whose observed pixels are
/// taken).
fn read_raw(
    path: &Path,
    name: String,
    output: String,
    ground_truth: Option<(String, Vec<f64>)>,
    a: &Args,
    convention: NoiseConvention,
    shape: Shape,
) -> anyhow::Result<Measurement> {
    let task = a.task.as_deref().unwrap_or_default();
    let spec = TaskSpec::parse(task, &a.task_opts)?.resolved(shape)?;
    let op = spec.build(shape)?;
    let file = path.to_string_lossy().into_owned();
    let mask = task.starts_with("inpaint");
    let wrong_size = |found: &str| {
        let want = match op.output_shape() {
            Some(s) => format!("{s} ({}x{} pixels, WxH)", s.w, s.h),
            None if mask => format!(
                "the full {shape} image ({}x{} pixels, WxH), or a .npy of its {} observed values",
                shape.w,
                shape.h,
                op.output_len()
            ),
            None => format!("a .npy of {} values", op.output_len()),
        };
        anyhow::anyhow!(
            "{file} is {found}; a {task} measurement of the model's {shape} images is {want}"
        )
    };
    let read = |expected: Shape| {
        super::read_input(
            &file,
            Some(expected),
            false,
            6.0 * convention.to_internal(a.sigma_y.unwrap_or(0.0)),
        )
        .map_err(|e| match e {
            vmlmap_io::IoError::Shape { found, .. } => wrong_size(&found),
            e => e.into(),
        })
    };
    let is_npy = file.to_ascii_lowercase().ends_with(".npy");
    let y = match op.output_shape() {
        Some(s) => read(s)?.0,
        // A .npy: the m measured values, or for a mask the full image (read once).
        None if is_npy => {
            let (v, s) = vmlmap_io::read_npy(&file)?;
            if v.len() == op.output_len() {
                v
            } else if mask && s == shape {
                op.apply(&v)
            } else {
                return Err(wrong_size(&s.to_string()));
            }
        }
        None if mask => op.apply(&read(shape)?.0),
        None => return Err(wrong_size("an image")),
    };
    let sigma_y = convention.to_internal(a.sigma_y.unwrap_or(1e-9));
    let side = MeasurementSidecar {
        task: spec.name.clone(),
        options: spec.options.clone(),
        sigma_y,
        seed: 0,
        image_shape: [shape.c, shape.h, shape.w],
        measurement: file.clone(),
        measurement_len: y.len(),
        noise_convention: "minus-one-one".into(),
        source: file,
    };
    Ok(Measurement {
        name,
        side,
        op,
        y,
        shape,
        output,
        ground_truth,
    })
}
