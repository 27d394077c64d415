//! The solvers by name, built from the declarations each solver's file makes
//! ([`Declaration`]): its name, what it computes, whether it evaluates the prior, a
//! one-line summary, and its serde settings struct (`#[serde(default,
//! deny_unknown_fields)]`, documented fields). The command line's help, `vmlmap solvers`,
//! `validate`, the bench config and the Python package read this list; adding a solver is
//! its file, its `mod` line in lib.rs and its line in [`SOLVERS`].
//!
//! Options arrive as the common flags of [`SolverOptions`] and `key=value` pairs; both go
//! through the settings struct (a flag wins over a pair of the same key), so a misspelt or
//! misplaced key is an error naming the solver and the key.

use crate::settings::{from_pairs, option_docs, OptionDoc, Pairs};
use crate::{Computes, Solver, SolverError};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A solver's settings struct: read from `key=value` text, documented by its schema, and
/// turned into the validated solver.
pub trait Settings: Serialize + DeserializeOwned + schemars::JsonSchema + Default {
    /// The solver, or a typed error naming the first invalid setting.
    fn into_solver(self) -> Result<Box<dyn Solver>, SolverError>;

    /// Defaults of a variant that shares another solver's settings struct (vml-map-full's
    /// `probes=1`), as pairs under the user's; the struct's own defaults otherwise.
    fn variant_defaults() -> &'static [(&'static str, &'static str)] {
        &[]
    }
}

/// Builds a solver from its name and its `key=value` pairs.
type BuildFn = fn(&'static str, &Pairs) -> Result<Box<dyn Solver>, SolverError>;

/// What a solver's file declares about it.
pub struct Declaration {
    /// The name users type (`--solver`).
    pub name: &'static str,
    /// One line for the help.
    pub summary: &'static str,
    /// What it estimates.
    pub computes: Computes,
    /// Whether it evaluates the prior (`pinv` and `tikhonov` do not).
    pub uses_prior: bool,
    build: BuildFn,
    schema: fn() -> schemars::Schema,
    variant_defaults: fn() -> &'static [(&'static str, &'static str)],
}

impl Declaration {
    /// The declaration of the solver whose settings are `S`.
    pub const fn of<S: Settings>(
        name: &'static str,
        summary: &'static str,
        computes: Computes,
        uses_prior: bool,
    ) -> Self {
        Self {
            name,
            summary,
            computes,
            uses_prior,
            build: build_with::<S>,
            schema: schema_of::<S>,
            variant_defaults: S::variant_defaults,
        }
    }

    /// The solver with these options.
    pub fn build(&self, o: &SolverOptions) -> Result<Box<dyn Solver>, SolverError> {
        (self.build)(self.name, &o.pairs()?)
    }

    /// Its options, with their kinds, defaults and documentation.
    pub fn options(&self) -> Vec<OptionDoc> {
        let mut docs = option_docs(&(self.schema)());
        for (k, v) in (self.variant_defaults)() {
            if let Some(d) = docs.iter_mut().find(|d| d.key == *k) {
                d.default = v.to_string();
            }
        }
        docs
    }
}

impl std::fmt::Debug for Declaration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Declaration")
            .field("name", &self.name)
            .finish()
    }
}

fn build_with<S: Settings>(
    solver: &'static str,
    pairs: &Pairs,
) -> Result<Box<dyn Solver>, SolverError> {
    let mut all: Pairs = S::variant_defaults()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    all.extend(pairs.iter().map(|(k, v)| (k.clone(), v.clone())));
    from_pairs::<S>(&all)
        .map_err(|message| SolverError::Options {
            solver,
            // serde's words for a struct, in the words of the command line.
            message: message
                .replace("unknown field", "unknown option")
                .replace("expected one of", "its options are")
                .replace("there are no fields", "it takes no options"),
        })?
        .into_solver()
}

fn schema_of<S: schemars::JsonSchema>() -> schemars::Schema {
    schemars::schema_for!(S)
}

/// Every solver, in the order help texts list them.
pub static SOLVERS: &[&Declaration] = &[
    &crate::vml_map::DECLARATION,
    &crate::vml_map::PLAIN_DECLARATION,
    &crate::vml_map::FULL_DECLARATION,
    &crate::pinv::DECLARATION,
    &crate::tikhonov::DECLARATION,
    &crate::ddnm::DECLARATION,
    &crate::ddrm::DECLARATION,
    &crate::diffpir::DECLARATION,
    &crate::pigdm::DECLARATION,
    &crate::dps::DECLARATION,
    &crate::daps::DECLARATION,
    &crate::red_diff::DECLARATION,
    &crate::map_ga::DECLARATION,
    &crate::map_ga::PGDM_DECLARATION,
];

/// Every solver name, in [`SOLVERS`]' order.
pub fn solver_names() -> Vec<&'static str> {
    SOLVERS.iter().map(|d| d.name).collect()
}

/// The declaration of a solver.
pub fn declaration(name: &str) -> Result<&'static Declaration, SolverError> {
    SOLVERS
        .iter()
        .copied()
        .find(|d| d.name == name)
        .ok_or_else(|| SolverError::UnknownSolver(name.to_string()))
}

/// A validated solver.
pub fn build_solver(name: &str, o: &SolverOptions) -> Result<Box<dyn Solver>, SolverError> {
    declaration(name)?.build(o)
}

/// Options a user may set; `None` keeps the solver's default.
#[derive(Clone, Debug, Default)]
pub struct SolverOptions {
    pub steps: Option<usize>,
    pub inner: Option<usize>,
    pub lr: Option<f64>,
    pub eta: Option<f64>,
    pub sigma_max: Option<f64>,
    pub sigma_min: Option<f64>,
    pub final_data_step: Option<bool>,
    /// `key=value` pairs of `--solver-opt`.
    pub extra: Vec<String>,
}

impl SolverOptions {
    /// The pairs, then the flags set (which win), keys with `-` read as `_`.
    fn pairs(&self) -> Result<Pairs, SolverError> {
        let mut out = Pairs::new();
        for pair in &self.extra {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| SolverError::MalformedOption(pair.clone()))?;
            out.insert(k.trim().replace('-', "_"), v.trim().to_string());
        }
        let flags = [
            ("steps", self.steps.map(|v| v.to_string())),
            ("inner", self.inner.map(|v| v.to_string())),
            ("lr", self.lr.map(|v| v.to_string())),
            ("eta", self.eta.map(|v| v.to_string())),
            ("sigma_max", self.sigma_max.map(|v| v.to_string())),
            ("sigma_min", self.sigma_min.map(|v| v.to_string())),
            (
                "final_data_step",
                self.final_data_step.map(|v| v.to_string()),
            ),
        ];
        for (k, v) in flags {
            if let Some(v) = v {
                out.insert(k.to_string(), v);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_settings_name_the_field_and_value() {
        let bad = |o: SolverOptions, field: &str| {
            let e = build_solver("vml-map", &o).expect_err("must fail");
            assert!(e.to_string().contains(field), "{e}");
        };
        bad(
            SolverOptions {
                steps: Some(0),
                ..Default::default()
            },
            "steps = 0",
        );
        bad(
            SolverOptions {
                inner: Some(0),
                ..Default::default()
            },
            "inner = 0",
        );
        bad(
            SolverOptions {
                lr: Some(-1.0),
                ..Default::default()
            },
            "lr = -1",
        );
        bad(
            SolverOptions {
                lr: Some(f64::NAN),
                ..Default::default()
            },
            "lr = NaN",
        );
        bad(
            SolverOptions {
                eta: Some(1.5),
                ..Default::default()
            },
            "eta = 1.5",
        );
        bad(
            SolverOptions {
                sigma_min: Some(0.0),
                ..Default::default()
            },
            "sigma_min = 0",
        );
        bad(
            SolverOptions {
                sigma_max: Some(0.001),
                ..Default::default()
            },
            "sigma_max = 0.001",
        );
        let opt = |extra: &[&str]| SolverOptions {
            extra: extra.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let e = build_solver("dps", &opt(&["zeta=-1"])).err().unwrap();
        assert!(e.to_string().contains("zeta = -1"), "{e}");
        let e = build_solver("dps", &opt(&["eta=0.5"])).err().unwrap();
        assert!(
            e.to_string().contains("dps") && e.to_string().contains("eta"),
            "{e}"
        );
        let e = build_solver("diffpir", &opt(&["zeta=abc"])).err().unwrap();
        assert!(
            e.to_string().contains("diffpir") && e.to_string().contains("abc"),
            "{e}"
        );
        let e = build_solver("pinv", &opt(&["steps=3"])).err().unwrap();
        assert!(e.to_string().contains("pinv"), "{e}");
        assert!(build_solver("diffpir", &opt(&["clip=true"])).is_ok());
        let e = build_solver("diffpir", &opt(&["clip=maybe"]))
            .err()
            .unwrap();
        assert!(e.to_string().contains("maybe"), "{e}");
        assert!(build_solver("daps", &opt(&["tau=0.05", "langevin_steps=10"])).is_ok());
        let e = build_solver("daps", &opt(&["langevin_steps=0"]))
            .err()
            .unwrap();
        assert!(e.to_string().contains("langevin_steps"), "{e}");
        let e = build_solver("ddnm", &opt(&["eta"])).err().unwrap();
        assert!(e.to_string().contains("key=value"), "{e}");
        let e = build_solver(
            "red-diff",
            &SolverOptions {
                inner: Some(3),
                ..Default::default()
            },
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("inner"), "{e}");
        assert!(build_solver("tikhonov", &opt(&["lambda=0.01"])).is_ok());
        assert!(build_solver("vml-map", &opt(&["inner=1", "final-data-step=false"])).is_ok());
        assert!(matches!(
            build_solver("dps2", &SolverOptions::default()),
            Err(SolverError::UnknownSolver(_))
        ));
        for n in solver_names() {
            assert_eq!(
                build_solver(n, &SolverOptions::default()).unwrap().name(),
                n
            );
        }
    }

    #[test]
    fn every_declared_solver_builds_and_takes_each_documented_default() {
        // No hand-kept list: every declaration in SOLVERS, and every option its schema
        // documents. Setting an option to its documented default gives the default solver.
        assert_eq!(solver_names().len(), SOLVERS.len());
        for d in SOLVERS {
            let default = d.build(&SolverOptions::default()).unwrap();
            assert_eq!(default.name(), d.name);
            assert_eq!(default.computes(), d.computes);
            assert_eq!(default.uses_prior(), d.uses_prior);
            assert!(!d.summary.is_empty(), "{} has no summary", d.name);
            for o in d.options() {
                assert!(
                    !o.doc.is_empty(),
                    "{}: option {} is undocumented",
                    d.name,
                    o.key
                );
                if o.default == "auto" {
                    continue;
                }
                let set = SolverOptions {
                    extra: vec![format!("{}={}", o.key, o.default)],
                    ..Default::default()
                };
                let built = d.build(&set).unwrap_or_else(|e| panic!("{}: {e}", d.name));
                assert_eq!(
                    format!("{built:?}"),
                    format!("{default:?}"),
                    "{} {}",
                    d.name,
                    o.key
                );
            }
        }
    }
}
