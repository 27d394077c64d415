//! `vmlmap bench`: the grid solvers × tasks × noise levels × images × seeds on one model
//! (flags, or `--config bench.toml` with flags overriding it), into `results.jsonl`,
//! `report.md`, plots and grids (see [`vmlmap_bench::harness`]); `--resume` goes on after
//! a kill, `--shard i/n` runs one part; `vmlmap bench merge` joins shards and
//! `vmlmap bench report` redraws a report from its results.

use super::progress::Progress;
use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use vmlmap_bench::harness::{
    self, batches, open_out, BenchConfig, BenchImage, BenchProgress, BenchState, PerceptualMetric,
    RunMeta, SeedsFor, Shard,
};
use vmlmap_core::{Denoiser, Shape};
use vmlmap_models::DeviceSpec;

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    sub: Option<Sub>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Join the results folders of shards into one, and write its report.
    Merge {
        /// Results folders of `vmlmap bench --shard i/n`.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Folder of the joined results and report.
        #[arg(long)]
        out: PathBuf,
        /// Replace the joined results if there are some.
        #[arg(long)]
        force: bool,
    },
    /// Write the report and figures of a results folder again.
    Report {
        /// A results folder of `vmlmap bench`.
        dir: PathBuf,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// A TOML file with any of the settings below (flags override it); see benches/.
    #[arg(long)]
    config: Option<String>,
    /// A folder of images (PNG, JPEG or .npy, the model's size), or `shipped` or
    /// `shipped:N` (the first N of the 20 shipped Fashion-MNIST test images). Default: shipped.
    #[arg(long)]
    images: Option<String>,
    /// Tasks, comma-separated (`vmlmap tasks`). Default: inpaint-box,sr4,deblur-gaussian.
    #[arg(long, value_delimiter = ',')]
    tasks: Option<Vec<String>>,
    /// Solvers (or variants of the config file), comma-separated. Default: pinv,tikhonov,vml-map.
    #[arg(long, value_delimiter = ',')]
    solvers: Option<Vec<String>>,
    /// Measurement noise levels on the [-1, 1] image scale, comma-separated. Default: 1e-9,0.05.
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    sigma_y: Option<Vec<f64>>,
    /// Seeds per solver that uses randomness (seeds 0..N). Default: 1.
    #[arg(long, allow_negative_numbers = true)]
    seeds: Option<u64>,
    /// Which solvers run every seed: all (default) or samplers (point estimators: seed 0).
    #[arg(long)]
    seeds_for: Option<SeedsFor>,
    /// The prior (default: the embedded model).
    #[arg(long)]
    model: Option<String>,
    /// Results folder (default: bench-out).
    #[arg(long)]
    out: Option<String>,
    /// Runs of one solver that share each network evaluation (default 8). Part of the
    /// settings: a resumed bench keeps it.
    #[arg(long, allow_negative_numbers = true)]
    batch: Option<usize>,
    /// Images per task drawn in the report's grids (default 4).
    #[arg(long, allow_negative_numbers = true)]
    grid_images: Option<usize>,
    /// LPIPS networks: alex=BACKBONE and/or vgg=BACKBONE, comma-separated (torchvision's
    /// ImageNet file, alexnet-owt-7be5be79.pth or vgg16-397923af.pth), or none. Default:
    /// both, from the cache that `vmlmap metrics fetch-weights` fills (a resumed bench
    /// keeps its own setting); without them LPIPS is left out of the report.
    #[arg(long)]
    lpips: Option<String>,
    /// The lpips package's linear layers (weights/v0.1/alex.pth or vgg.pth; default: the
    /// embedded copy of them).
    #[arg(long)]
    lpips_lin: Option<String>,
    /// A solver's hyperparameter, `SOLVER:key=value` (repeatable), e.g. vml-map:steps=30.
    #[arg(long = "solver-opt")]
    solver_opt: Vec<String>,
    /// A task's option, `TASK:key=value` (repeatable), e.g. inpaint-box:size=12.
    #[arg(long = "task-opt")]
    task_opt: Vec<String>,
    /// Run only shard i of n (`0/4`): every n-th batch; join the shards with `bench merge`.
    #[arg(long)]
    shard: Option<Shard>,
    /// Go on with the runs a stopped bench in --out had not recorded.
    #[arg(long, conflicts_with = "force")]
    resume: bool,
    /// Start over, deleting the results in --out.
    #[arg(long)]
    force: bool,
    /// cpu, cuda, cuda:N, wgpu or wgpu:N (cuda and wgpu need a build with `--features cuda`
    /// or `--features wgpu`; networks there run on burn, the rest on the CPU).
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// `SOLVER:key=value` flags grouped by solver.
pub(crate) fn grouped(
    flag: &str,
    pairs: &[String],
) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in pairs {
        let Some((name, kv)) = p.split_once(':').filter(|(_, kv)| kv.contains('=')) else {
            bail!("--{flag} {p:?}: expected NAME:key=value (for example vml-map:steps=30)");
        };
        out.entry(name.to_string())
            .or_default()
            .push(kv.to_string());
    }
    Ok(out)
}

/// The images of `source`, read at `shape` when it is known (else the first image's).
fn read_images(source: &str, shape: Option<Shape>) -> anyhow::Result<(Vec<BenchImage>, Shape)> {
    if let Some(rest) = source.strip_prefix("shipped") {
        let n = match rest.strip_prefix(':') {
            None if rest.is_empty() => crate::assets::FASHION_TEST.len(),
            Some(n) => n
                .parse()
                .ok()
                .filter(|n| (1..=crate::assets::FASHION_TEST.len()).contains(n))
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "--images {source}: N must be in 1..={}",
                        crate::assets::FASHION_TEST.len()
                    )
                })?,
            None => bail!("--images {source}: expected shipped or shipped:N"),
        };
        let images = (0..n)
            .map(|i| {
                let (name, x) = crate::assets::shipped_image(i)?;
                Ok(BenchImage {
                    name: name.to_string(),
                    x,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let shipped = Shape::new(1, 32, 32)?;
        if let Some(s) = shape.filter(|s| *s != shipped) {
            bail!("the shipped images are {shipped}; the model works on {s} images");
        }
        return Ok((images, shipped));
    }
    let dir = Path::new(source);
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read the image folder {source}"))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension().is_some_and(|e| {
                    ["png", "jpg", "jpeg", "npy"]
                        .contains(&e.to_string_lossy().to_lowercase().as_str())
                })
        })
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("the image folder {source} holds no .png, .jpg or .npy file");
    }
    let mut shape = shape;
    let mut out = Vec::new();
    for f in files {
        let path = f.to_string_lossy().to_string();
        let (x, s) = super::read_input(&path, shape, false, 0.0)
            .with_context(|| format!("reading the image {path}"))?;
        shape.get_or_insert(s);
        let name = f
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or(path);
        if out.iter().any(|im: &BenchImage| im.name == name) {
            bail!("two images in {source} are named {name} (they would share their results)");
        }
        out.push(BenchImage { name, x });
    }
    let shape = shape.ok_or_else(|| anyhow::anyhow!("no image read from {source}"))?;
    Ok((out, shape))
}

/// The SHA-256 of a model: the embedded weights, a file, or a folder's files in order.
fn model_sha256(spec: &str) -> anyhow::Result<String> {
    use vmlmap_models::default_model::sha256_hex;
    let p = Path::new(spec);
    if spec == "default" {
        return Ok(vmlmap_models::default_model::SHA256.trim().to_string());
    }
    if p.is_file() {
        return Ok(sha256_hex(
            &std::fs::read(p).with_context(|| format!("reading {spec}"))?,
        ));
    }
    if p.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(p)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        let mut all = String::new();
        for f in files {
            all.push_str(&sha256_hex(&std::fs::read(&f)?));
        }
        return Ok(sha256_hex(all.as_bytes()));
    }
    Ok(format!("random weights of preset {spec} (seed 0)"))
}

/// The CPU's model name, as /proc/cpuinfo gives it.
fn machine() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// Today's date (UTC), from the system clock.
fn today() -> String {
    civil_date(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    )
}

/// The UTC date `YYYY-MM-DD` of a Unix time.
fn civil_date(secs: u64) -> String {
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

struct Bar {
    progress: Progress,
    done: usize,
    total: usize,
    label: String,
}

impl BenchProgress for Bar {
    fn batch(&mut self, done: usize, total: usize, label: &str) {
        (self.done, self.total, self.label) = (done, total, label.to_string());
        self.progress.set(done as u64, total as u64, label);
    }
    fn step(&mut self, step: usize, steps: usize) {
        let msg = format!("({}: step {}/{steps})", self.label, step + 1);
        self.progress.set(self.done as u64, self.total as u64, &msg);
    }
}

/// LPIPS as the harness's perceptual metric.
struct LpipsMetric(vmlmap_models::lpips::Lpips);

impl PerceptualMetric for LpipsMetric {
    fn distances(
        &self,
        a: &[f64],
        b: &[f64],
        shape: Shape,
    ) -> Result<Vec<f64>, vmlmap_bench::harness::MetricError> {
        Ok(self.0.distances(a, b, shape)?)
    }
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    match a.sub {
        Some(Sub::Merge { dirs, out, force }) => {
            let s = harness::merge(&dirs, &out, force)?;
            let report = harness::write_report(&out)?;
            eprintln!(
                "merged {} folders: {} runs{}{} -> {}",
                dirs.len(),
                s.runs,
                if s.duplicates > 0 {
                    format!(", {} recorded twice (kept once)", s.duplicates)
                } else {
                    String::new()
                },
                if s.missing > 0 {
                    format!(
                        ", {} planned runs missing (a shard not run or not finished?)",
                        s.missing
                    )
                } else {
                    String::new()
                },
                report.report.display()
            );
            no_grids_note(&report, &out);
            Ok(ExitCode::SUCCESS)
        }
        Some(Sub::Report { dir }) => {
            let report = harness::write_report(&dir)?;
            eprintln!(
                "{} runs, {} image grids -> {}",
                report.runs,
                report.grids,
                report.report.display()
            );
            no_grids_note(&report, &dir);
            Ok(ExitCode::SUCCESS)
        }
        None => run_grid(a.run),
    }
}

fn run_grid(a: RunArgs) -> anyhow::Result<ExitCode> {
    let file = match &a.config {
        Some(p) => BenchConfig::from_toml_file(p)?,
        None => BenchConfig::default(),
    };
    let flags = flag_config(&a)?;
    let mut config = file.overlay(flags);
    let out = PathBuf::from(config.out.clone().unwrap_or_else(|| "bench-out".into()));
    if config.lpips.is_none() {
        config.lpips = default_lpips(&out, a.resume);
    }
    let settings = config.resolve()?;
    let shard = a.shard.unwrap_or(Shard::WHOLE);
    let uses_prior = settings.solvers.iter().any(|s| s.uses_prior());
    // The model first (its image shape decides how images are read), then the images,
    // then the operators: every setting is checked before the first run.
    let device = a.device.parse::<DeviceSpec>()?.device()?;
    let model = if uses_prior {
        let (den, _) = super::load_model(&settings.model, &device)
            .with_context(|| format!("loading the model {}", settings.model))?;
        Some(den)
    } else {
        None
    };
    let (images, shape) = read_images(&settings.images, model.as_ref().map(|m| m.shape()))?;
    let mut bench = harness::Bench::new(&settings, &images, shape)?;
    let lpips = lpips_metrics(&settings, &device)?;
    for m in &lpips {
        match m.0.net {
            vmlmap_models::lpips::LpipsNet::Alex => bench.lpips = Some(m),
            vmlmap_models::lpips::LpipsNet::Vgg => bench.lpips_vgg = Some(m),
        }
    }
    let state = BenchState {
        settings: settings.clone(),
        shard: shard.to_string(),
        images: images.iter().map(|im| im.name.clone()).collect(),
        shape: [shape.c, shape.h, shape.w],
    };
    let plan = batches(&settings, images.len());
    let mine: Vec<_> = plan.iter().filter(|b| shard.holds(b)).cloned().collect();
    let (done, note) = open_out(&out, &state, a.resume, a.force)?;
    if let Some(n) = note {
        eprintln!("note: {n}");
    }
    let todo = bench.pending(&mine, &done);
    let runs: usize = todo.iter().map(|b| b.runs.len()).sum();
    eprintln!(
        "bench: {} of {} runs to do{} ({} batches), {} already recorded -> {}",
        runs,
        state.expected_runs(),
        if shard == Shard::WHOLE {
            String::new()
        } else {
            format!(" in shard {shard}")
        },
        todo.len(),
        done.len(),
        out.display()
    );
    let meta = run_meta(&settings, uses_prior)?;
    let none = vmlmap_core::denoiser::NoPrior(shape);
    let den: &dyn Denoiser = match &model {
        Some(m) => m,
        None => &none,
    };
    let mut bar = Bar {
        progress: Progress::new("bench", todo.len() as u64, "batches"),
        done: 0,
        total: todo.len(),
        label: String::new(),
    };
    let failed = bench.run(&todo, &done, den, &meta, &out, &mut bar)?;
    bar.progress.finish();
    let report = harness::write_report(&out)?;
    eprintln!(
        "{runs} runs made{}{} -> {}",
        if failed > 0 {
            format!(", {failed} failed (recorded in results.jsonl and the report)")
        } else {
            String::new()
        },
        if report.runs != runs {
            format!("; the report has all {} recorded", report.runs)
        } else {
            String::new()
        },
        report.report.display()
    );
    no_grids_note(&report, &out);
    Ok(ExitCode::SUCCESS)
}

/// The settings the flags give (a config file's are overlaid by them).
fn flag_config(a: &RunArgs) -> anyhow::Result<BenchConfig> {
    Ok(BenchConfig {
        images: a.images.clone(),
        tasks: a.tasks.clone(),
        solvers: a.solvers.clone(),
        sigma_y: a.sigma_y.clone(),
        seeds: a.seeds,
        seeds_for: a.seeds_for,
        model: a.model.clone(),
        out: a.out.clone(),
        batch: a.batch,
        grid_images: a.grid_images,
        lpips: a.lpips.clone(),
        lpips_lin: a.lpips_lin.clone(),
        solver_opts: grouped("solver-opt", &a.solver_opt)?,
        task_opts: grouped("task-opt", &a.task_opt)?,
        variants: BTreeMap::new(),
    })
}

/// LPIPS when `--lpips` is not given: a resumed bench keeps the setting it was started
/// with; a new one scores LPIPS-alex and LPIPS-vgg when the cache holds their weights.
fn default_lpips(out: &Path, resume: bool) -> Option<String> {
    if resume && out.join("results.jsonl").exists() {
        if let Ok(old) = harness::BenchState::read(out) {
            let specs: Vec<String> = old
                .settings
                .lpips
                .iter()
                .map(|l| format!("{}={}", l.net, l.backbone))
                .collect();
            return Some(if specs.is_empty() {
                "none".into()
            } else {
                specs.join(",")
            });
        }
    }
    let cache = vmlmap_models::metric_weights::cache_dir().ok()?;
    let nets = [
        vmlmap_models::lpips::LpipsNet::Alex,
        vmlmap_models::lpips::LpipsNet::Vgg,
    ];
    let files: Vec<PathBuf> = nets
        .iter()
        .map(|&n| vmlmap_models::metric_weights::lpips_backbone_path(&cache, n))
        .collect();
    if files.iter().all(|f| f.is_file()) {
        Some(
            nets.iter()
                .zip(&files)
                .map(|(n, f)| format!("{}={}", n.name(), f.display()))
                .collect::<Vec<_>>()
                .join(","),
        )
    } else {
        None
    }
}

/// The LPIPS models the settings name (a note says when LPIPS is left out).
fn lpips_metrics(
    settings: &harness::BenchSettings,
    device: &burn::tensor::Device,
) -> anyhow::Result<Vec<LpipsMetric>> {
    if settings.lpips.is_empty() {
        eprintln!("note: LPIPS is left out (no weights: run `vmlmap metrics fetch-weights` once, or give --lpips)");
    }
    settings
        .lpips
        .iter()
        .map(|l| {
            let net = l.net.parse::<vmlmap_models::lpips::LpipsNet>()?;
            let m = vmlmap_models::lpips::Lpips::load(
                net,
                Path::new(&l.backbone),
                l.lin.as_deref().map(Path::new),
                device,
            )?;
            Ok(LpipsMetric(m))
        })
        .collect()
}

/// What every record of this run says of where it ran.
fn run_meta(settings: &harness::BenchSettings, uses_prior: bool) -> anyhow::Result<RunMeta> {
    Ok(RunMeta {
        model: settings.model.clone(),
        model_sha256: if uses_prior {
            model_sha256(&settings.model)?
        } else {
            "none (no solver uses a prior)".into()
        },
        machine: machine(),
        threads: rayon::current_num_threads(),
        vmlmap_version: env!("CARGO_PKG_VERSION").to_string(),
        date: today(),
    })
}

/// Says once why a report has no image grids, when it has runs and wanted grids but drew
/// none.
fn no_grids_note(report: &harness::ReportFiles, dir: &Path) {
    if report.grids == 0 && report.runs > 0 && report.grid_images > 0 {
        eprintln!(
            "note: no image grids: the runs' output images are not in {} (a report made from copied records has tables and plots only)",
            dir.join("outputs").display()
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_dates() {
        assert_eq!(super::civil_date(0), "1970-01-01");
        assert_eq!(super::civil_date(1_795_910_400), "2026-11-29");
        assert_eq!(super::civil_date(951_868_799), "2000-02-29");
    }
}
