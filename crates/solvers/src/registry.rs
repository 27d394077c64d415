//! Solvers by name, with the options shared by the command line.

use crate::pinv::PseudoInverse;
use crate::vml_map::{Preconditioning, VmlMapConfig};
use crate::{Solver, SolverError};

/// Every solver name.
pub const SOLVER_NAMES: &[&str] = &["vml-map", "vml-map-plain", "pinv"];

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
}

/// A validated solver.
pub fn build_solver(name: &str, o: &SolverOptions) -> Result<Box<dyn Solver>, SolverError> {
    match name {
        "vml-map" | "vml-map-plain" => {
            let d = VmlMapConfig::default();
            let cfg = VmlMapConfig {
                steps: o.steps.unwrap_or(d.steps),
                inner: o.inner.unwrap_or(d.inner),
                lr: o.lr.unwrap_or(d.lr),
                eta: o.eta.unwrap_or(d.eta),
                sigma_max: o.sigma_max.unwrap_or(d.sigma_max),
                sigma_min: o.sigma_min.unwrap_or(d.sigma_min),
                rho: d.rho,
                final_data_step: o.final_data_step.unwrap_or(d.final_data_step),
                preconditioning: if name == "vml-map" {
                    Preconditioning::Gram
                } else {
                    Preconditioning::Plain
                },
            };
            Ok(Box::new(cfg.check()?))
        }
        "pinv" => Ok(Box::new(PseudoInverse)),
        other => Err(SolverError::UnknownSolver(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_settings_name_the_field_and_value() {
        let bad = |o: SolverOptions, field: &str| {
            let e = build_solver("vml-map", &o).err().expect("must fail");
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
