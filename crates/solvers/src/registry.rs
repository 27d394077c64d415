//! Solvers by name, with the options shared by the command line: flags for the common
//! settings and `--solver-opt key=value` for every solver's own hyperparameters, checked
//! here so that a misspelt or misplaced key is a typed error naming the solver.

use crate::daps::Daps;
use crate::ddnm::Ddnm;
use crate::ddrm::Ddrm;
use crate::diffpir::DiffPir;
use crate::dps::Dps;
use crate::pigdm::PiGdm;
use crate::pinv::PseudoInverse;
use crate::red_diff::RedDiff;
use crate::tikhonov::Tikhonov;
use crate::vml_map::{Preconditioning, VmlMapConfig};
use crate::{Solver, SolverError};
use std::collections::BTreeMap;

/// Every solver name.
pub const SOLVER_NAMES: &[&str] = &[
    "vml-map",
    "vml-map-plain",
    "pinv",
    "tikhonov",
    "ddnm",
    "ddrm",
    "diffpir",
    "pigdm",
    "dps",
    "daps",
    "red-diff",
];

/// The `--solver-opt` keys each solver takes.
pub fn solver_keys(name: &str) -> &'static [&'static str] {
    match name {
        "vml-map" | "vml-map-plain" => &[
            "steps",
            "inner",
            "lr",
            "eta",
            "sigma_max",
            "sigma_min",
            "final_data_step",
            "start",
            "inner_tol",
            "guide_below",
            "lr_end",
            "optimizer",
        ],
        "tikhonov" => &["lambda"],
        "ddnm" | "pigdm" => &["steps", "eta"],
        "ddrm" => &["steps", "eta", "eta_b", "sv_threshold"],
        "diffpir" => &["steps", "lambda", "zeta", "clip"],
        "dps" => &["steps", "zeta", "clip"],
        "daps" => &[
            "steps",
            "ode_steps",
            "langevin_steps",
            "lr",
            "lr_min_ratio",
            "tau",
        ],
        "red-diff" => &["steps", "lambda", "lr"],
        _ => &[],
    }
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

/// The `--solver-opt` pairs of one solver, parsed and checked against its keys.
struct Extra {
    solver: String,
    values: BTreeMap<String, String>,
}

impl Extra {
    fn new(solver: &str, pairs: &[String]) -> Result<Self, SolverError> {
        let keys = solver_keys(solver);
        let mut values = BTreeMap::new();
        for pair in pairs {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| SolverError::MalformedOption(pair.clone()))?;
            let k = k.trim().replace('-', "_");
            if !keys.contains(&k.as_str()) {
                return Err(SolverError::UnknownOption {
                    solver: solver.to_string(),
                    key: k,
                    known: if keys.is_empty() {
                        "none".into()
                    } else {
                        keys.join(", ")
                    },
                });
            }
            values.insert(k, v.trim().to_string());
        }
        Ok(Self {
            solver: solver.to_string(),
            values,
        })
    }

    fn parse<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, SolverError> {
        match self.values.get(key) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| SolverError::InvalidOption {
                solver: self.solver.clone(),
                key: key.to_string(),
                value: v.clone(),
            }),
        }
    }

    /// The flag's value, else the `--solver-opt` value, else `default`.
    fn get<T: std::str::FromStr + Copy>(
        &self,
        key: &str,
        flag: Option<T>,
        default: T,
    ) -> Result<T, SolverError> {
        Ok(flag.or(self.parse(key)?).unwrap_or(default))
    }
}

/// A validated solver.
pub fn build_solver(name: &str, o: &SolverOptions) -> Result<Box<dyn Solver>, SolverError> {
    if !SOLVER_NAMES.contains(&name) {
        return Err(SolverError::UnknownSolver(name.to_string()));
    }
    let x = Extra::new(name, &o.extra)?;
    let vml = name.starts_with("vml-map");
    let not_for = |flag: &'static str, set: bool| -> Result<(), SolverError> {
        if set && !solver_keys(name).contains(&flag) {
            return Err(SolverError::UnknownOption {
                solver: name.to_string(),
                key: flag.to_string(),
                known: solver_keys(name).join(", "),
            });
        }
        Ok(())
    };
    not_for("steps", o.steps.is_some())?;
    not_for("inner", o.inner.is_some())?;
    not_for("lr", o.lr.is_some())?;
    not_for("eta", o.eta.is_some())?;
    not_for("sigma_max", o.sigma_max.is_some())?;
    not_for("sigma_min", o.sigma_min.is_some())?;
    not_for("final_data_step", o.final_data_step.is_some() && !vml)?;
    match name {
        "vml-map" | "vml-map-plain" => {
            let d = VmlMapConfig::default();
            let cfg = VmlMapConfig {
                steps: x.get("steps", o.steps, d.steps)?,
                inner: x.get("inner", o.inner, d.inner)?,
                lr: x.get("lr", o.lr, d.lr)?,
                eta: x.get("eta", o.eta, d.eta)?,
                sigma_max: x.get("sigma_max", o.sigma_max, d.sigma_max)?,
                sigma_min: x.get("sigma_min", o.sigma_min, d.sigma_min)?,
                rho: d.rho,
                final_data_step: x.get("final_data_step", o.final_data_step, d.final_data_step)?,
                start: x.get("start", None, d.start)?,
                inner_tol: x.parse("inner_tol")?.or(d.inner_tol),
                guide_below: x.parse("guide_below")?.or(d.guide_below),
                lr_end: x.parse("lr_end")?.or(d.lr_end),
                optimizer: x.get("optimizer", None, d.optimizer)?,
                preconditioning: if name == "vml-map" {
                    Preconditioning::Gram
                } else {
                    Preconditioning::Plain
                },
            };
            Ok(Box::new(cfg.check()?))
        }
        "pinv" => Ok(Box::new(PseudoInverse)),
        "tikhonov" => Ok(Box::new(Tikhonov::new(x.parse("lambda")?)?)),
        "ddnm" => {
            let d = Ddnm::default();
            Ok(Box::new(
                Ddnm {
                    steps: x.get("steps", o.steps, d.steps)?,
                    eta: x.get("eta", o.eta, d.eta)?,
                }
                .check()?,
            ))
        }
        "ddrm" => {
            let d = Ddrm::default();
            Ok(Box::new(
                Ddrm {
                    steps: x.get("steps", o.steps, d.steps)?,
                    eta: x.get("eta", o.eta, d.eta)?,
                    eta_b: x.get("eta_b", None, d.eta_b)?,
                    sv_threshold: x.get("sv_threshold", None, d.sv_threshold)?,
                }
                .check()?,
            ))
        }
        "pigdm" => {
            let d = PiGdm::default();
            Ok(Box::new(
                PiGdm {
                    steps: x.get("steps", o.steps, d.steps)?,
                    eta: x.get("eta", o.eta, d.eta)?,
                }
                .check()?,
            ))
        }
        "diffpir" => {
            let d = DiffPir::default();
            Ok(Box::new(
                DiffPir {
                    steps: x.get("steps", o.steps, d.steps)?,
                    lambda: x.get("lambda", None, d.lambda)?,
                    zeta: x.parse("zeta")?,
                    clip: x.get("clip", None, d.clip)?,
                }
                .check()?,
            ))
        }
        "dps" => {
            let d = Dps::default();
            Ok(Box::new(
                Dps {
                    steps: x.get("steps", o.steps, d.steps)?,
                    zeta: x.parse("zeta")?,
                    clip: x.get("clip", None, d.clip)?,
                }
                .check()?,
            ))
        }
        "daps" => {
            let d = Daps::default();
            Ok(Box::new(
                Daps {
                    levels: x.get("steps", o.steps, d.levels)?,
                    ode_steps: x.get("ode_steps", None, d.ode_steps)?,
                    langevin_steps: x.get("langevin_steps", None, d.langevin_steps)?,
                    lr: o.lr.or(x.parse("lr")?),
                    lr_min_ratio: x.get("lr_min_ratio", None, d.lr_min_ratio)?,
                    tau: x.get("tau", None, d.tau)?,
                    ..d
                }
                .check()?,
            ))
        }
        "red-diff" => {
            let d = RedDiff::default();
            Ok(Box::new(
                RedDiff {
                    steps: x.get("steps", o.steps, d.steps)?,
                    lambda: x.get("lambda", None, d.lambda)?,
                    lr: x.get("lr", o.lr, d.lr)?,
                }
                .check()?,
            ))
        }
        other => Err(SolverError::UnknownSolver(other.to_string())),
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
        for n in SOLVER_NAMES {
            assert_eq!(
                build_solver(n, &SolverOptions::default()).unwrap().name(),
                *n
            );
        }
    }
}
