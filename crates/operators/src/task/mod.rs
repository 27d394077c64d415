//! Tasks by name: the operators every command uses, their parameters (`key=value`, as
//! `--task-opt` on the command line) and their size-dependent defaults.
//!
//! Blur defaults follow the literature at 256² (DPS/DAPS Gaussian 61 taps, std 3.0; DDRM
//! uniform 9x9; DPS motion 61, intensity 0.5) and scale down with the image side `s =
//! min(H, W)` by one rule ([`BlurDefaults::for_side`]):
//! - Gaussian std `= 1.5 * (s/32)^(1/3)` for `s <= 256` (1.5 at 32², 3.0 at 256²), 3.0 above;
//! - kernel sizes interpolate linearly in `log2 s` between the 32² values (Gaussian 9,
//!   uniform 5, motion 9) and the 256² values (61, 9, 61), are proportional to `s` below
//!   32² and stay at the 256² values above; sizes are rounded to the nearest odd number
//!   (at least 3).

//!
//! The parts: [`catalogue`] (the names and each task's options), [`defaults`] (the
//! size rule), this module (a [`TaskSpec`]: parsing, checking, resolving), [`build`] (the
//! operator of a spec) and [`files`] (mask and kernel files).

mod build;
pub mod catalogue;
pub mod defaults;
pub mod files;
#[cfg(test)]
mod tests;

pub use catalogue::{task_options, TASK_NAMES};
pub use defaults::BlurDefaults;
use files::{file_error, file_key};
pub use files::{file_sha256, read_kernel, read_mask};

use crate::OperatorError;
use std::collections::BTreeMap;
use vmlmap_core::Shape;

/// A task name with its options, validated when built for an image shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskSpec {
    pub name: String,
    pub options: BTreeMap<String, String>,
}

impl TaskSpec {
    /// A task with default options.
    pub fn new(name: &str) -> Result<Self, OperatorError> {
        Self::parse(name, &[] as &[&str])
    }

    /// A task and `key=value` options; unknown names and keys are errors.
    pub fn parse<S: AsRef<str>>(name: &str, options: &[S]) -> Result<Self, OperatorError> {
        if !TASK_NAMES.contains(&name) {
            return Err(OperatorError::UnknownTask(name.to_string()));
        }
        let known = task_options(name);
        let mut map = BTreeMap::new();
        for o in options {
            let o = o.as_ref();
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| OperatorError::MalformedOption(o.to_string()))?;
            if !known.iter().any(|(key, _)| *key == k) {
                return Err(OperatorError::UnknownOption {
                    task: name.to_string(),
                    key: k.to_string(),
                    known: if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
                    },
                });
            }
            map.insert(k.to_string(), v.to_string());
        }
        Ok(Self {
            name: name.to_string(),
            options: map,
        })
    }

    /// With one more option (replacing an earlier value).
    pub fn with(mut self, key: &str, value: impl ToString) -> Result<Self, OperatorError> {
        let mut opts: Vec<String> = self
            .options
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        opts.push(format!("{key}={}", value.to_string()));
        self = Self::parse(&self.name, &opts)?;
        Ok(self)
    }

    fn invalid(&self, key: &str, value: &str, reason: impl Into<String>) -> OperatorError {
        OperatorError::InvalidOption {
            task: self.name.clone(),
            key: key.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    fn shape_error(&self, shape: Shape, reason: impl Into<String>) -> OperatorError {
        OperatorError::IncompatibleShape {
            task: self.name.clone(),
            shape,
            reason: reason.into(),
        }
    }

    fn get<T: std::str::FromStr>(
        &self,
        key: &str,
        default: T,
        what: &str,
    ) -> Result<T, OperatorError> {
        match self.options.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| self.invalid(key, v, format!("expected {what}"))),
        }
    }

    fn odd_size(&self, key: &str, default: usize, shape: Shape) -> Result<usize, OperatorError> {
        let k: usize = self.get(key, default, "a positive odd integer")?;
        if k == 0 || k.is_multiple_of(2) {
            return Err(self.invalid(key, &k.to_string(), "kernel size must be odd and positive"));
        }
        if k > shape.side() {
            return Err(self.invalid(
                key,
                &k.to_string(),
                format!("kernel larger than the image side {}", shape.side()),
            ));
        }
        Ok(k)
    }

    /// Refuses a file whose SHA-256 differs from the `sha256` option, when there is one.
    fn check_hash(&self, path: &str) -> Result<(), OperatorError> {
        let Some(want) = self.options.get("sha256") else {
            return Ok(());
        };
        let got = file_sha256(path)?;
        if !got.eq_ignore_ascii_case(want) {
            return Err(self.invalid(
                "sha256",
                want,
                format!(
                    "{path} has SHA-256 {got}: the file changed since the measurement was made"
                ),
            ));
        }
        Ok(())
    }

    /// Every parameter that defines the operator for images of `shape`, defaults written
    /// out, file paths made absolute and files pinned by their SHA-256: what a measurement
    /// records so that it restores the same way after the defaults change or from another
    /// folder.
    /// Options are parsed here but validated by [`TaskSpec::build`].
    pub fn resolved(&self, shape: Shape) -> Result<Self, OperatorError> {
        let d = BlurDefaults::for_side(shape.side());
        let mut out = self.clone();
        let mut set = |k: &str, v: String| {
            out.options.entry(k.to_string()).or_insert(v);
        };
        match self.name.as_str() {
            "inpaint-box" => {
                let size: usize = self.get("size", shape.side() / 2, "a box side in pixels")?;
                set("size", size.to_string());
                let top = shape.h.saturating_sub(size) / 2;
                let left = shape.w.saturating_sub(size) / 2;
                set("top", self.get("top", top, "a row index")?.to_string());
                set(
                    "left",
                    self.get("left", left, "a column index")?.to_string(),
                );
            }
            "inpaint-random" => {
                set("fraction", "0.7".into());
                set("seed", "0".into());
            }
            "inpaint-half" => set("missing", "right".into()),
            "inpaint-mask" | "deblur-motion" if self.options.contains_key(file_key(&self.name)) => {
                let key = file_key(&self.name);
                let path = &self.options[key];
                let abs = std::path::absolute(path).map_err(|e| file_error(path, e))?;
                let hash = file_sha256(path)?;
                out.options
                    .insert(key.to_string(), abs.to_string_lossy().into_owned());
                out.options.insert("sha256".into(), hash);
                if self.name == "inpaint-mask" {
                    out.options
                        .entry("invert".into())
                        .or_insert_with(|| "false".into());
                }
            }
            "deblur-motion" => {
                set("size", d.motion_size.to_string());
                set("intensity", "0.5".into());
                set("seed", "0".into());
            }
            "deblur-gaussian" => {
                set("size", d.gaussian_size.to_string());
                set("std", d.gaussian_std.to_string());
            }
            "deblur-uniform" => set("size", d.uniform_size.to_string()),
            "cs" => {
                set("ratio", "0.5".into());
                set("seed", "0".into());
            }
            _ => {}
        }
        Ok(out)
    }

    /// A canonical description: name and options.
    pub fn label(&self) -> String {
        if self.options.is_empty() {
            self.name.clone()
        } else {
            let o: Vec<String> = self
                .options
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!("{}({})", self.name, o.join(","))
        }
    }
}
