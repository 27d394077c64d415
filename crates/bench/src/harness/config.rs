//! What a bench runs: `bench.toml` and the command-line flags (flags override the file),
//! resolved into [`BenchSettings`] and checked before any run starts.

use super::HarnessError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use vmlmap_operators::TaskSpec;
use vmlmap_solvers::{build_solver, SolverOptions};

/// Which solvers run every seed: all that use randomness, or only the posterior samplers
/// (the point estimators then run seed 0 alone). `pinv` and `tikhonov` always run once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SeedsFor {
    #[default]
    All,
    Samplers,
}

impl std::str::FromStr for SeedsFor {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "all" => Ok(Self::All),
            "samplers" => Ok(Self::Samplers),
            _ => Err(format!("{s:?} is not one of all, samplers")),
        }
    }
}

/// A named solver setting: `solver` with `opts` (`key=value`, as `--solver-opt`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub solver: String,
    #[serde(default)]
    pub opts: Vec<String>,
    /// Variants of one family are joined by a line in `psnr-vs-passes.png` (a sweep of
    /// one setting), in order of cost.
    #[serde(default)]
    pub family: Option<String>,
}

/// The file and the flags: every field optional; [`BenchConfig::overlay`] lets the flags
/// win.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchConfig {
    /// A folder of images, or `shipped` / `shipped:N` (the 20 shipped test images).
    pub images: Option<String>,
    pub tasks: Option<Vec<String>>,
    /// Solver names or names of `variants`.
    pub solvers: Option<Vec<String>>,
    pub sigma_y: Option<Vec<f64>>,
    pub seeds: Option<u64>,
    pub seeds_for: Option<SeedsFor>,
    pub model: Option<String>,
    pub out: Option<String>,
    pub batch: Option<usize>,
    /// Images per task drawn in the report's grids.
    pub grid_images: Option<usize>,
    /// LPIPS: `alex=BACKBONE`, `vgg=BACKBONE` or both, comma-separated (the backbone:
    /// torchvision's ImageNet file, or the cache's converted one), or `none`.
    pub lpips: Option<String>,
    /// The `lpips` package's linear layers for a single LPIPS network (default: the
    /// embedded v0.1 ones).
    pub lpips_lin: Option<String>,
    /// `--solver-opt` pairs per solver (or variant) name.
    #[serde(default)]
    pub solver_opts: BTreeMap<String, Vec<String>>,
    /// `--task-opt` pairs per task name.
    #[serde(default)]
    pub task_opts: BTreeMap<String, Vec<String>>,
    /// Named solver settings, usable in `solvers`.
    #[serde(default)]
    pub variants: BTreeMap<String, Variant>,
}

/// One solver of the bench: its label in the report, the solver and its options.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SolverEntry {
    pub label: String,
    pub solver: String,
    pub opts: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
}

impl SolverEntry {
    /// Whether the solver evaluates the prior (`pinv` and `tikhonov` do not: they need no
    /// model and use no randomness).
    pub fn uses_prior(&self) -> bool {
        vmlmap_solvers::registry::declaration(&self.solver).is_ok_and(|d| d.uses_prior)
    }
}

/// One task of the bench: its label (the task name) and options.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskEntry {
    pub label: String,
    pub name: String,
    pub opts: Vec<String>,
}

/// A checked bench: what runs, and where its outputs go.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchSettings {
    pub images: String,
    pub tasks: Vec<TaskEntry>,
    pub solvers: Vec<SolverEntry>,
    pub sigma_y: Vec<f64>,
    pub seeds: u64,
    pub seeds_for: SeedsFor,
    pub model: String,
    pub batch: usize,
    pub grid_images: usize,
    /// The LPIPS networks scored (AlexNet's into `lpips`, VGG-16's into `lpips_vgg`).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "one_or_many"
    )]
    pub lpips: Vec<LpipsSpec>,
}

/// A list, or one item (settings written before a bench could score two LPIPS networks),
/// or null.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<LpipsSpec>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<LpipsSpec>),
        One(LpipsSpec),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::Many(v)) => v,
        Some(OneOrMany::One(x)) => vec![x],
    })
}

/// Which LPIPS and from which files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LpipsSpec {
    /// `alex` or `vgg`.
    pub net: String,
    pub backbone: String,
    pub lin: Option<String>,
}

/// Defaults: the three demo tasks, both noise levels, the 20 shipped images, one seed.
pub const DEFAULT_TASKS: &[&str] = &["inpaint-box", "sr4", "deblur-gaussian"];
pub const DEFAULT_SIGMAS: &[f64] = &[1e-9, 0.05];
pub const DEFAULT_BATCH: usize = 8;
pub const DEFAULT_GRID_IMAGES: usize = 4;
/// At most this many seeds per run (each is a full restoration).
pub const MAX_SEEDS: u64 = 1000;

impl BenchConfig {
    /// Reads a TOML file; unknown keys and wrong types are errors naming the file.
    pub fn from_toml_file(path: &str) -> Result<Self, HarnessError> {
        let text = std::fs::read_to_string(path).map_err(|e| HarnessError::Config {
            source_name: path.to_string(),
            source: e.into(),
        })?;
        toml::from_str(&text).map_err(|e| HarnessError::Config {
            source_name: path.to_string(),
            source: e.into(),
        })
    }

    /// `self` with every field `flags` sets replaced (maps: the flags' keys replace).
    pub fn overlay(mut self, flags: BenchConfig) -> Self {
        macro_rules! take {
            ($($f:ident),*) => {$( if flags.$f.is_some() { self.$f = flags.$f; } )*};
        }
        take!(
            images,
            tasks,
            solvers,
            sigma_y,
            seeds,
            seeds_for,
            model,
            out,
            batch,
            grid_images,
            lpips,
            lpips_lin
        );
        self.solver_opts.extend(flags.solver_opts);
        self.task_opts.extend(flags.task_opts);
        self.variants.extend(flags.variants);
        self
    }

    /// Checks every setting that does not need the model: known solvers with valid
    /// options, known tasks with valid options, noise levels, seeds, batch.
    pub fn resolve(&self) -> Result<BenchSettings, HarnessError> {
        let bad = |field: &str, reason: String| HarnessError::Setting {
            field: field.to_string(),
            reason,
        };
        let solvers = self.resolve_solvers()?;
        let tasks = self.resolve_tasks()?;
        let sigma_y = self
            .sigma_y
            .clone()
            .unwrap_or_else(|| DEFAULT_SIGMAS.to_vec());
        if sigma_y.is_empty() {
            return Err(bad("sigma_y", "the list is empty".into()));
        }
        if let Some(s) = sigma_y.iter().find(|s| !(s.is_finite() && **s >= 0.0)) {
            return Err(bad("sigma_y", format!("{s} is not a finite value >= 0")));
        }
        let seeds = self.seeds.unwrap_or(1);
        if seeds == 0 || seeds > MAX_SEEDS {
            return Err(bad("seeds", format!("{seeds} is not in 1..={MAX_SEEDS}")));
        }
        let batch = self.batch.unwrap_or(DEFAULT_BATCH);
        if batch == 0 {
            return Err(bad("batch", "must be at least 1".into()));
        }
        let lpips = self.resolve_lpips()?;
        Ok(BenchSettings {
            lpips,
            images: self.images.clone().unwrap_or_else(|| "shipped".into()),
            tasks,
            solvers,
            sigma_y,
            seeds,
            seeds_for: self.seeds_for.unwrap_or_default(),
            model: self.model.clone().unwrap_or_else(|| "default".into()),
            batch,
            grid_images: self.grid_images.unwrap_or(DEFAULT_GRID_IMAGES),
        })
    }

    /// The solvers (or variants), each with its options checked by building it.
    fn resolve_solvers(&self) -> Result<Vec<SolverEntry>, HarnessError> {
        let bad = |field: &str, reason: String| HarnessError::Setting {
            field: field.to_string(),
            reason,
        };
        let names = self
            .solvers
            .clone()
            .unwrap_or_else(|| vec!["pinv".into(), "tikhonov".into(), "vml-map".into()]);
        if names.is_empty() {
            return Err(bad("solvers", "the list is empty".into()));
        }
        let mut solvers = Vec::new();
        for label in &names {
            let (solver, mut opts, family) = match self.variants.get(label) {
                Some(v) => (v.solver.clone(), v.opts.clone(), v.family.clone()),
                None => (label.clone(), Vec::new(), None),
            };
            opts.extend(self.solver_opts.get(label).cloned().unwrap_or_default());
            build_solver(
                &solver,
                &SolverOptions {
                    extra: opts.clone(),
                    ..Default::default()
                },
            )
            .map_err(|e| bad("solvers", format!("{label}: {e}")))?;
            if solvers.iter().any(|s: &SolverEntry| &s.label == label) {
                return Err(bad("solvers", format!("{label} is listed twice")));
            }
            solvers.push(SolverEntry {
                label: label.clone(),
                solver,
                opts,
                family,
            });
        }
        // Variants are definitions (a file may hold more than a run lists); options are not.
        for k in self.solver_opts.keys() {
            if !names.contains(k) {
                return Err(bad(
                    "solver_opts (--solver-opt)",
                    format!(
                        "options for {k}, which is not among the solvers ({})",
                        names.join(", ")
                    ),
                ));
            }
        }
        Ok(solvers)
    }

    /// The tasks, each with its options parsed.
    fn resolve_tasks(&self) -> Result<Vec<TaskEntry>, HarnessError> {
        let bad = |field: &str, reason: String| HarnessError::Setting {
            field: field.to_string(),
            reason,
        };
        let task_names = self
            .tasks
            .clone()
            .unwrap_or_else(|| DEFAULT_TASKS.iter().map(|s| s.to_string()).collect());
        if task_names.is_empty() {
            return Err(bad("tasks", "the list is empty".into()));
        }
        let mut tasks = Vec::new();
        for name in &task_names {
            let opts = self.task_opts.get(name).cloned().unwrap_or_default();
            TaskSpec::parse(name, &opts).map_err(|e| bad("tasks", e.to_string()))?;
            if tasks.iter().any(|t: &TaskEntry| &t.label == name) {
                return Err(bad("tasks", format!("{name} is listed twice")));
            }
            tasks.push(TaskEntry {
                label: name.clone(),
                name: name.clone(),
                opts,
            });
        }
        for k in self.task_opts.keys() {
            if !task_names.contains(k) {
                return Err(bad(
                    "task_opts",
                    format!("options for {k}, which is not among the tasks"),
                ));
            }
        }
        Ok(tasks)
    }

    /// The LPIPS networks' files: none, or AlexNet and/or VGG-16, each once.
    fn resolve_lpips(&self) -> Result<Vec<LpipsSpec>, HarnessError> {
        let bad = |field: &str, reason: String| HarnessError::Setting {
            field: field.to_string(),
            reason,
        };
        let specs = match self.lpips.as_deref().map(str::trim) {
            None | Some("none") => Vec::new(),
            Some(list) => list
                .split(',')
                .map(|spec| {
                    let (net, backbone) = spec.trim().split_once('=').ok_or_else(|| {
                        bad(
                            "lpips",
                            format!("{spec:?}: expected alex=BACKBONE or vgg=BACKBONE (torchvision's file), comma-separated, or none"),
                        )
                    })?;
                    if !["alex", "vgg"].contains(&net) {
                        return Err(bad("lpips", format!("{net:?} is not alex or vgg")));
                    }
                    Ok(LpipsSpec {
                        net: net.to_string(),
                        backbone: backbone.to_string(),
                        lin: self.lpips_lin.clone(),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        if self.lpips_lin.is_some() && specs.len() != 1 {
            return Err(bad(
                "lpips_lin",
                "needs exactly one LPIPS network (NET=BACKBONE) to go with".into(),
            ));
        }
        if specs.len() == 2 && specs[0].net == specs[1].net {
            return Err(bad("lpips", format!("{} is named twice", specs[0].net)));
        }
        Ok(specs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every configuration in the repository's `benches/` reads and resolves: no unknown
    /// key, solver, task or option (the images and model are checked when a bench runs).
    #[test]
    fn the_shipped_bench_configurations_resolve() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benches");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let cfg = BenchConfig::from_toml_file(path.to_str().unwrap())
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                cfg.resolve()
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                n += 1;
            }
        }
        assert!(n >= 4, "only {n} configurations in {}", dir.display());
    }

    #[test]
    fn flags_override_the_file_and_variants_resolve() {
        let file: BenchConfig = toml::from_str(
            r#"
            solvers = ["pinv", "vml-map-k1"]
            sigma_y = [0.05]
            seeds = 3
            seeds_for = "samplers"
            [variants.vml-map-k1]
            solver = "vml-map"
            opts = ["steps=20", "inner=1"]
            "#,
        )
        .unwrap();
        let flags = BenchConfig {
            seeds: Some(2),
            ..Default::default()
        };
        let s = file.overlay(flags).resolve().unwrap();
        assert_eq!(s.seeds, 2);
        assert_eq!(s.seeds_for, SeedsFor::Samplers);
        assert_eq!(s.sigma_y, vec![0.05]);
        assert_eq!(s.solvers[1].solver, "vml-map");
        assert_eq!(s.solvers[1].opts, vec!["steps=20", "inner=1"]);
        assert_eq!(s.tasks.len(), 3);
    }

    #[test]
    fn bad_settings_name_the_problem() {
        let err = |c: BenchConfig| c.resolve().unwrap_err().to_string();
        let e = err(BenchConfig {
            solvers: Some(vec!["dsp".into()]),
            ..Default::default()
        });
        assert!(e.contains("dsp"), "{e}");
        let e = err(BenchConfig {
            tasks: Some(vec!["blur".into()]),
            ..Default::default()
        });
        assert!(e.contains("unknown task \"blur\""), "{e}");
        let mut c = BenchConfig::default();
        c.solver_opts.insert("dps".into(), vec!["zeta=1".into()]);
        assert!(err(c).contains("options for dps"));
        let mut c = BenchConfig {
            solvers: Some(vec!["dps".into()]),
            ..Default::default()
        };
        c.solver_opts.insert("dps".into(), vec!["zeta=abc".into()]);
        assert!(err(c).contains("abc"));
        let e = err(BenchConfig {
            sigma_y: Some(vec![-1.0]),
            ..Default::default()
        });
        assert!(e.contains("sigma_y") && e.contains("-1"), "{e}");
        let e = toml::from_str::<BenchConfig>("solver = [\"pinv\"]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("solver"), "{e}");
    }
}
