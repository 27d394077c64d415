//! `vmlmap restore`: solve the inverse problems of measurements written by `degrade`, one
//! or many; many are run in batches that share each network evaluation.

use super::progress::Progress;
use anyhow::{bail, Context};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use vmlmap_core::{NoiseConvention, Shape};
use vmlmap_io::sidecar::{sibling_paths, MeasurementSidecar};
use vmlmap_models::DeviceSpec;
use vmlmap_operators::TaskSpec;
use vmlmap_restore::{restore_batch, Cancel, Measurement, Prior, Restoration, SolverSpec};
use vmlmap_solvers::{Observer, SolverOptions};

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
    /// The solver (`vmlmap solvers` lists each with its options and defaults).
    #[arg(long, default_value = "vml-map",
          value_parser = clap::builder::PossibleValuesParser::new(vmlmap_solvers::solver_names()))]
    solver: String,
    /// A solver hyperparameter, `key=value` (repeat): e.g. `zeta=0.5` for dps, `lambda=0.01`
    /// for tikhonov; unknown keys are errors that list the solver's keys (`vmlmap solvers`).
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
    /// cpu, cuda, cuda:N, wgpu or wgpu:N (cuda and wgpu need a build with `--features cuda`
    /// or `--features wgpu`; networks there run on burn, the rest on the CPU).
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
    fn on_step(&mut self, step: usize, total: usize, sigma: f64) -> ControlFlow<()> {
        let msg = format!("{} sigma {sigma:.3}", self.label);
        self.progress.set(step as u64 + 1, total as u64, &msg);
        ControlFlow::Continue(())
    }
}

/// One measurement to restore, with where its result goes.
struct Item {
    m: Measurement,
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
    let spec = SolverSpec::new(
        a.solver.clone(),
        SolverOptions {
            steps: a.steps,
            inner: a.inner,
            lr: a.lr,
            final_data_step: a.no_final_data_step.then_some(false),
            extra: a.solver_opt.clone(),
            ..Default::default()
        },
    );
    let solver = spec.build()?;
    let task = a
        .task
        .as_deref()
        .map(|t| TaskSpec::parse(t, &a.task_opts))
        .transpose()?;
    let jsons = sources(&a.input, a.task.as_deref())?;
    let many = jsons.len() > 1 || Path::new(&a.output).is_dir();
    let any_raw = jsons.iter().any(|s| matches!(s, Source::Raw(_)));
    if !a.task_opts.is_empty() && !any_raw {
        bail!("--task-opt applies to raw measurements; the sidecars of these measurements record their operators");
    }
    if any_raw && a.sigma_y.is_none() {
        eprintln!("note: no --sigma-y: the measurements without a sidecar are taken as noise-free (sigma_y 1e-9)");
    }
    // The model is read once, here, when the solver uses it: a raw measurement is of its
    // image size, and a sidecar's image must have its channels. (It is read again only
    // for measurements of another size, which a fully convolutional network takes.)
    let device = a.device.parse::<DeviceSpec>()?.device()?;
    let loaded = if solver.uses_prior() {
        Some(Prior::load(
            &a.model,
            &device,
            vmlmap_models::registry::Engine::from_env()?,
            None,
        )?)
    } else {
        None
    };
    let model_shape = match &loaded {
        Some(p) => Some(p.shape()),
        None if any_raw => Some(Prior::model_shape(&a.model)?),
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
    let sigma_y = a.sigma_y.map(|s| convention.to_internal(s));
    let sidecar_shape = model_shape.filter(|_| loaded.is_some());
    let mut items = items(&a, &jsons, &task, model_shape, sidecar_shape, sigma_y, many)?;
    check_outputs(&items, &a, many)?;
    let shape = items[0].m.shape;
    if let Some(it) = items.iter().find(|it| it.m.shape != shape) {
        bail!(
            "{} is of a {} image, {} of a {shape} image: one run restores images of one size",
            it.m.name,
            it.m.shape,
            items[0].m.name
        );
    }
    if many {
        std::fs::create_dir_all(&a.output).with_context(|| format!("creating {}", a.output))?;
    }
    read_ground_truths(&mut items)?;
    let lpips = if items.iter().any(|it| it.ground_truth.is_some()) {
        super::perceptual::CachedLpips::load()?
    } else {
        super::perceptual::CachedLpips::none()
    };
    // pinv and tikhonov use no prior: no model is loaded (nor required).
    let prior = match loaded {
        Some(p) => p.fit(shape)?,
        None => Prior::none(shape),
    };
    let batch = a.batch.unwrap_or(prior.default_batch()).min(items.len());
    let batches = items.len().div_ceil(batch);
    let mut observer = Bar {
        progress: Progress::new("restore", 0, "steps"),
        label: String::new(),
    };
    let cancel = Cancel::new();
    for (i, chunk) in items.chunks(batch).enumerate() {
        observer.label = format!("batch {}/{batches} ({} images)", i + 1, chunk.len());
        let ms: Vec<&Measurement> = chunk.iter().map(|it| &it.m).collect();
        let sols = restore_batch(
            &ms,
            solver.as_ref(),
            prior.denoiser.as_ref(),
            a.seed,
            &cancel,
            &mut observer,
        )?;
        for (it, sol) in chunk.iter().zip(&sols) {
            report(it, sol, solver.name(), shape, &a, &lpips, &mut observer)?;
        }
    }
    observer.progress.finish();
    Ok(ExitCode::SUCCESS)
}

/// Each measurement to restore with its output path and ground-truth path (read later).
fn items(
    a: &Args,
    jsons: &[Source],
    task: &Option<TaskSpec>,
    model_shape: Option<Shape>,
    sidecar_shape: Option<Shape>,
    sigma_y: Option<f64>,
    many: bool,
) -> anyhow::Result<Vec<Item>> {
    let mut items = Vec::with_capacity(jsons.len());
    for (i, source) in jsons.iter().enumerate() {
        let m = match (source, model_shape, task) {
            (Source::Raw(path), Some(shape), Some(task)) => {
                let (m, notes) = Measurement::read_raw(path, task, shape, sigma_y.unwrap_or(1e-9))?;
                for n in notes {
                    eprintln!("warning: {}: {n}", path.display());
                }
                m
            }
            (Source::Sidecar(json), ..) | (Source::Raw(json), ..) => {
                read_sidecar(json, a, sigma_y, sidecar_shape)?
            }
        };
        let output = if many {
            Path::new(&a.output)
                .join(format!("{}.{}", m.name, a.format))
                .to_string_lossy()
                .into_owned()
        } else {
            a.output.clone()
        };
        let ground_truth = match a.ground_truth.as_slice() {
            [] => None,
            [one] if Path::new(one).is_dir() => Some((
                Path::new(one)
                    .join(format!("{}.png", m.name))
                    .to_string_lossy()
                    .into_owned(),
                Vec::new(),
            )),
            all => Some((all[i].clone(), Vec::new())),
        };
        items.push(Item {
            m,
            output,
            ground_truth,
        });
    }
    Ok(items)
}

/// No two outputs in one file, and none overwritten unasked.
fn check_outputs(items: &[Item], a: &Args, many: bool) -> anyhow::Result<()> {
    let mut names = std::collections::BTreeSet::new();
    for it in items {
        if !names.insert(&it.output) {
            bail!(
                "two measurements would both be written to {}: give them different names",
                it.output
            );
        }
        if !many {
            super::check_output(&it.output, &["png", "npy"], a.force)?;
        } else if Path::new(&it.output).exists() && !a.force {
            bail!("{} exists; pass --force to overwrite it", it.output);
        }
    }
    Ok(())
}

/// Reads each ground truth (checked against its measurement's image shape).
fn read_ground_truths(items: &mut [Item]) -> anyhow::Result<()> {
    for it in items.iter_mut() {
        if let Some((gt, _)) = &it.ground_truth {
            if same_file(gt, &it.output) {
                bail!(
                    "--ground-truth {gt} is also the output file: the score would compare the output with itself"
                );
            }
            let (g, gs) = super::read_input(gt, Some(it.m.shape), false, 0.0)
                .with_context(|| format!("reading the ground truth {gt}"))?;
            vmlmap_metrics::check_shapes(gs, it.m.shape)
                .with_context(|| format!("ground truth {gt} for {}", it.m.name))?;
            it.ground_truth = Some((gt.clone(), g));
        }
    }
    Ok(())
}

/// Writes one restoration and prints its line (or JSON line), with scores against its
/// ground truth: of the float output and, for a PNG, of the 8-bit file as written.
fn report(
    it: &Item,
    sol: &Restoration,
    solver: &str,
    shape: Shape,
    a: &Args,
    lpips: &super::perceptual::CachedLpips,
    observer: &mut Bar,
) -> anyhow::Result<()> {
    let m = &it.m;
    vmlmap_io::write_array(&it.output, &sol.x, shape, a.force)?;
    let mut out = serde_json::json!({"input": m.name, "solver": solver, "task": m.task.name, "sigma_y": m.sigma_y, "nfe": sol.nfe, "vjp": sol.vjp, "seconds": sol.seconds, "batch": sol.batch, "output": it.output, "measurement_residual": sol.residual});
    let mut scores = Vec::new();
    if let Some((_, g)) = &it.ground_truth {
        let score = |x: &[f64]| -> anyhow::Result<_> {
            Ok((
                vmlmap_metrics::psnr(x, g),
                vmlmap_metrics::ssim(x, g, shape).ok(),
                lpips.scores(x, g, shape)?.map(|v| v[0]),
            ))
        };
        let (p, q, l) = score(&sol.x)?;
        out["psnr"] = p.into();
        out["ssim"] = q.into();
        if let Some([la, lv]) = l {
            out["lpips_alex"] = la.into();
            out["lpips_vgg"] = lv.into();
        }
        scores.push(("float output", p, q, l));
        if !it.output.to_ascii_lowercase().ends_with(".npy") {
            let (written, _) = vmlmap_io::read_array(&it.output, Some(shape), false)
                .with_context(|| format!("reading back {}", it.output))?;
            let (p, q, l) = score(&written)?;
            out["psnr_png"] = p.into();
            out["ssim_png"] = q.into();
            if let Some([la, lv]) = l {
                out["lpips_alex_png"] = la.into();
                out["lpips_vgg_png"] = lv.into();
            }
            scores.push(("written PNG", p, q, l));
        }
    }
    if a.json {
        observer.progress.suspend(|| println!("{out}"));
    } else {
        observer.progress.suspend(|| {
            eprintln!(
                "{solver} on {} ({}): {} NFE, {} VJP, {:.1} s -> {}",
                m.name, m.task.name, sol.nfe, sol.vjp, sol.seconds, it.output
            );
            for (what, p, q, l) in &scores {
                let q = q.map(|q| format!("{q:.4}")).unwrap_or_else(|| "n/a".into());
                let l = l
                    .map(|[a, v]| format!(", LPIPS-alex {a:.4}, LPIPS-vgg {v:.4}"))
                    .unwrap_or_default();
                eprintln!("  {what}: PSNR {p:.2} dB, SSIM {q}{l}");
            }
        });
    }
    Ok(())
}

/// Reads a sidecar's measurement and checks it against the flags and the model.
fn read_sidecar(
    json: &Path,
    a: &Args,
    sigma_y: Option<f64>,
    model: Option<Shape>,
) -> anyhow::Result<Measurement> {
    let m = Measurement::read_sidecar(json).with_context(|| {
        format!(
            "reading the measurement description {} (written by vmlmap degrade)",
            json.display()
        )
    })?;
    if let Some(t) = &a.task {
        if t != &m.task.name {
            bail!(
                "--task {t} contradicts {} (task {})",
                json.display(),
                m.task.name
            );
        }
    }
    if let Some(s) = sigma_y {
        if (s - m.sigma_y).abs() > 1e-12 * m.sigma_y.max(1e-300) {
            bail!(
                "--sigma-y {s:e} contradicts {} (sigma_y {:e})",
                json.display(),
                m.sigma_y
            );
        }
    }
    if let Some(ms) = model {
        if ms.c != m.shape.c {
            bail!(
                "{} is a measurement of {} images; model {} works on {} channel(s)",
                json.display(),
                m.shape,
                a.model,
                ms.c
            );
        }
    }
    Ok(m)
}
