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

use crate::dense::{DenseOperator, DENSE_MAX_N};
use crate::factor::Factor;
use crate::fft_conv::FftConvOperator;
use crate::kernels;
use crate::kronecker::KroneckerOperator;
use crate::mask::MaskOperator;
use crate::{LinearOperator, OperatorError};
use nalgebra::DMatrix;
use rand::seq::SliceRandom;
use std::collections::BTreeMap;
use vmlmap_core::Shape;

/// Every task name, in the order reports list them.
pub const TASK_NAMES: &[&str] = &[
    "inpaint-box",
    "inpaint-random",
    "inpaint-half",
    "inpaint-mask",
    "sr2",
    "sr4",
    "sr8",
    "sr2-bicubic",
    "sr4-bicubic",
    "deblur-gaussian",
    "deblur-uniform",
    "deblur-motion",
    "colorize",
    "denoise",
    "cs",
];

/// The options each task accepts, with a description of the default.
pub fn task_options(name: &str) -> &'static [(&'static str, &'static str)] {
    match name {
        "inpaint-box" => &[
            ("size", "box side in pixels (default: half the image side)"),
            ("top", "top row of the box (default: centred)"),
            ("left", "left column of the box (default: centred)"),
        ],
        "inpaint-random" => &[
            ("fraction", "fraction of pixels missing (default 0.7)"),
            ("seed", "mask seed (default 0)"),
        ],
        "inpaint-half" => &[(
            "missing",
            "which half is missing: left, right, top, bottom (default right)",
        )],
        "inpaint-mask" => &[
            ("path", "PNG mask, white (>= 128) = observed (required)"),
            ("invert", "true: black = observed (default false)"),
            (
                "sha256",
                "SHA-256 of the mask file; a file that differs is refused (degrade records it)",
            ),
        ],
        "deblur-gaussian" => &[
            ("size", "kernel taps (default: size rule)"),
            ("std", "standard deviation in pixels (default: size rule)"),
        ],
        "deblur-uniform" => &[("size", "kernel taps (default: size rule)")],
        "deblur-motion" => &[
            ("size", "kernel side (default: size rule)"),
            (
                "intensity",
                "trajectory erraticness in [0, 1] (default 0.5)",
            ),
            ("seed", "trajectory seed (default 0)"),
            (
                "kernel",
                "kernel file instead of a random one: PNG (grey) or text matrix",
            ),
            (
                "sha256",
                "SHA-256 of the kernel file; a file that differs is refused (degrade records it)",
            ),
        ],
        "cs" => &[
            ("ratio", "measurements per unknown, in (0, 1] (default 0.5)"),
            ("seed", "matrix seed (default 0)"),
        ],
        _ => &[],
    }
}

/// Size-dependent blur defaults (see the module documentation for the rule).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlurDefaults {
    pub gaussian_size: usize,
    pub gaussian_std: f64,
    pub uniform_size: usize,
    pub motion_size: usize,
}

fn nearest_odd(x: f64) -> usize {
    let k = (2.0 * ((x - 1.0) / 2.0).round() + 1.0) as i64;
    k.max(3) as usize
}

impl BlurDefaults {
    pub fn for_side(side: usize) -> Self {
        let s = side as f64;
        let size = |small: f64, large: f64| -> usize {
            if side >= 256 {
                large as usize
            } else if side >= 32 {
                nearest_odd(small + (large - small) * (s / 32.0).log2() / 3.0)
            } else {
                nearest_odd(small * s / 32.0)
            }
        };
        Self {
            gaussian_size: size(9.0, 61.0),
            gaussian_std: 1.5 * (s.min(256.0) / 32.0).cbrt(),
            uniform_size: size(5.0, 9.0),
            motion_size: size(9.0, 61.0),
        }
    }
}

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

    /// Builds the operator for images of `shape`.
    pub fn build(&self, shape: Shape) -> Result<Box<dyn LinearOperator>, OperatorError> {
        let label = self.label();
        let d = BlurDefaults::for_side(shape.side());
        let id = |n| Factor::Identity(n);
        let op: Box<dyn LinearOperator> = match self.name.as_str() {
            "inpaint-box" => {
                let size: usize = self.get("size", shape.side() / 2, "a box side in pixels")?;
                if size == 0 || size > shape.side() {
                    return Err(self.invalid(
                        "size",
                        &size.to_string(),
                        format!("must be in 1..={}", shape.side()),
                    ));
                }
                let top: usize = self.get("top", (shape.h - size) / 2, "a row index")?;
                let left: usize = self.get("left", (shape.w - size) / 2, "a column index")?;
                if top + size > shape.h {
                    return Err(self.invalid(
                        "top",
                        &top.to_string(),
                        format!("box rows {top}..{} exceed height {}", top + size, shape.h),
                    ));
                }
                if left + size > shape.w {
                    return Err(self.invalid(
                        "left",
                        &left.to_string(),
                        format!(
                            "box columns {left}..{} exceed width {}",
                            left + size,
                            shape.w
                        ),
                    ));
                }
                let obs: Vec<bool> = (0..shape.pixels())
                    .map(|p| {
                        let (r, c) = (p / shape.w, p % shape.w);
                        !(r >= top && r < top + size && c >= left && c < left + size)
                    })
                    .collect();
                Box::new(MaskOperator::new(label, shape, &obs))
            }
            "inpaint-random" => {
                let fraction: f64 = self.get("fraction", 0.7, "a fraction in [0, 1)")?;
                if !(0.0..1.0).contains(&fraction) {
                    return Err(self.invalid(
                        "fraction",
                        &fraction.to_string(),
                        "must be in [0, 1): at least one pixel must be observed",
                    ));
                }
                let seed: u64 = self.get("seed", 0, "an unsigned integer")?;
                let p = shape.pixels();
                let n_missing = ((fraction * p as f64).round() as usize).min(p - 1);
                let mut idx: Vec<usize> = (0..p).collect();
                idx.shuffle(&mut vmlmap_core::rng::seeded(seed));
                let mut obs = vec![true; p];
                for &i in &idx[..n_missing] {
                    obs[i] = false;
                }
                Box::new(MaskOperator::new(label, shape, &obs))
            }
            "inpaint-half" => {
                let missing = self
                    .options
                    .get("missing")
                    .map(String::as_str)
                    .unwrap_or("right");
                let obs: Vec<bool> = (0..shape.pixels())
                    .map(|p| {
                        let (r, c) = (p / shape.w, p % shape.w);
                        match missing {
                            "left" => c >= shape.w / 2,
                            "right" => c < shape.w / 2,
                            "top" => r >= shape.h / 2,
                            _ => r < shape.h / 2,
                        }
                    })
                    .collect();
                if !["left", "right", "top", "bottom"].contains(&missing) {
                    return Err(self.invalid(
                        "missing",
                        missing,
                        "expected left, right, top or bottom",
                    ));
                }
                if shape.w < 2 || shape.h < 2 {
                    return Err(self.shape_error(shape, "an image at least 2x2"));
                }
                Box::new(MaskOperator::new(label, shape, &obs))
            }
            "inpaint-mask" => {
                let path = self.options.get("path").ok_or_else(|| {
                    self.invalid(
                        "path",
                        "",
                        "a PNG mask file is required (--task-opt path=FILE)",
                    )
                })?;
                let invert: bool = self.get("invert", false, "true or false")?;
                self.check_hash(path)?;
                let obs = read_mask(path, shape, invert)?;
                if !obs.iter().any(|&o| o) {
                    return Err(self.invalid("path", path, "the mask observes no pixel"));
                }
                Box::new(MaskOperator::new(label, shape, &obs))
            }
            "sr2" | "sr4" | "sr8" | "sr2-bicubic" | "sr4-bicubic" => {
                let f: usize = self.name[2..3].parse().expect("factor digit");
                if !shape.h.is_multiple_of(f)
                    || !shape.w.is_multiple_of(f)
                    || shape.h < f
                    || shape.w < f
                {
                    return Err(
                        self.shape_error(shape, format!("height and width divisible by {f}"))
                    );
                }
                let mat = |n| {
                    if self.name.ends_with("bicubic") {
                        kernels::bicubic_down(n, f)
                    } else {
                        kernels::block_average(n, f)
                    }
                };
                Box::new(KroneckerOperator::new(
                    label,
                    id(shape.c),
                    Factor::dense(mat(shape.h)),
                    Factor::dense(mat(shape.w)),
                ))
            }
            "deblur-gaussian" | "deblur-uniform" => {
                let k1 = if self.name == "deblur-gaussian" {
                    let size = self.odd_size("size", d.gaussian_size, shape)?;
                    let std: f64 = self.get("std", d.gaussian_std, "a positive number")?;
                    if !(std > 0.0 && std.is_finite()) {
                        return Err(self.invalid("std", &std.to_string(), "must be positive"));
                    }
                    kernels::gaussian_1d(size, std)
                } else {
                    kernels::uniform_1d(self.odd_size("size", d.uniform_size, shape)?)
                };
                Box::new(KroneckerOperator::new(
                    label,
                    id(shape.c),
                    Factor::dense(kernels::circulant(shape.h, &k1)),
                    Factor::dense(kernels::circulant(shape.w, &k1)),
                ))
            }
            "deblur-motion" => {
                let (kernel, k) = if let Some(path) = self.options.get("kernel") {
                    self.check_hash(path)?;
                    let (kern, k) = read_kernel(path)?;
                    if k > shape.side() {
                        return Err(self.invalid(
                            "kernel",
                            path,
                            format!("{k}x{k} kernel larger than the image side {}", shape.side()),
                        ));
                    }
                    (kern, k)
                } else {
                    let k = self.odd_size("size", d.motion_size, shape)?;
                    let intensity: f64 = self.get("intensity", 0.5, "a number in [0, 1]")?;
                    if !(0.0..=1.0).contains(&intensity) {
                        return Err(self.invalid(
                            "intensity",
                            &intensity.to_string(),
                            "must be in [0, 1]",
                        ));
                    }
                    let seed: u64 = self.get("seed", 0, "an unsigned integer")?;
                    (kernels::motion_kernel(k, intensity, seed), k)
                };
                Box::new(FftConvOperator::new(label, shape, &kernel, k, k))
            }
            "colorize" => {
                if shape.c != 3 {
                    return Err(self.shape_error(shape, "3 channels"));
                }
                let avg = DMatrix::from_element(1, 3, 1.0 / 3.0);
                Box::new(KroneckerOperator::new(
                    label,
                    Factor::dense(avg),
                    id(shape.h),
                    id(shape.w),
                ))
            }
            "denoise" => Box::new(KroneckerOperator::new(
                label,
                id(shape.c),
                id(shape.h),
                id(shape.w),
            )),
            "cs" => {
                let n = shape.numel();
                if n > DENSE_MAX_N {
                    return Err(self.shape_error(
                        shape,
                        format!("at most {DENSE_MAX_N} values C*H*W (a dense sensing matrix with its full SVD, whose cost grows as n^3)"),
                    ));
                }
                let ratio: f64 = self.get("ratio", 0.5, "a number in (0, 1]")?;
                if !(ratio > 0.0 && ratio <= 1.0) {
                    return Err(self.invalid("ratio", &ratio.to_string(), "must be in (0, 1]"));
                }
                let seed: u64 = self.get("seed", 0, "an unsigned integer")?;
                let m = ((ratio * n as f64).round() as usize).max(1);
                Box::new(DenseOperator::gaussian(label, shape, m, seed))
            }
            other => return Err(OperatorError::UnknownTask(other.to_string())),
        };
        if op.output_len() == 0 {
            return Err(self.shape_error(
                shape,
                "at least one observed value (these options observe nothing)",
            ));
        }
        Ok(op)
    }
}

fn file_error(path: &str, reason: impl ToString) -> OperatorError {
    OperatorError::File {
        path: path.to_string(),
        reason: reason.to_string(),
    }
}

/// The option naming a task's input file.
fn file_key(task: &str) -> &'static str {
    if task == "inpaint-mask" {
        "path"
    } else {
        "kernel"
    }
}

/// The SHA-256 of a file, in lowercase hex.
pub fn file_sha256(path: &str) -> Result<String, OperatorError> {
    use sha2::Digest;
    let bytes = std::fs::read(path).map_err(|e| file_error(path, e))?;
    Ok(sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Reads an `H x W` PNG mask (any colour type; luminance >= 128 = observed).
pub fn read_mask(path: &str, shape: Shape, invert: bool) -> Result<Vec<bool>, OperatorError> {
    let img = image::open(path)
        .map_err(|e| file_error(path, e))?
        .to_luma8();
    if img.width() as usize != shape.w || img.height() as usize != shape.h {
        return Err(file_error(
            path,
            format!(
                "mask is {}x{} (WxH), image is {}x{}",
                img.width(),
                img.height(),
                shape.w,
                shape.h
            ),
        ));
    }
    Ok(img.pixels().map(|p| (p.0[0] >= 128) != invert).collect())
}

/// Reads a square blur kernel: a grey PNG, or a text file of whitespace/comma-separated
/// rows. Normalised to sum 1.
pub fn read_kernel(path: &str) -> Result<(Vec<f64>, usize), OperatorError> {
    let (values, rows, cols) = if path.to_ascii_lowercase().ends_with(".png") {
        let img = image::open(path)
            .map_err(|e| file_error(path, e))?
            .to_luma32f();
        let v: Vec<f64> = img.pixels().map(|p| p.0[0] as f64).collect();
        (v, img.height() as usize, img.width() as usize)
    } else {
        let text = std::fs::read_to_string(path).map_err(|e| file_error(path, e))?;
        let mut v = Vec::new();
        let mut rows = 0;
        let mut cols = None;
        for (ln, line) in text.lines().enumerate() {
            let row: Result<Vec<f64>, _> = line
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter(|s| !s.is_empty())
                .map(str::parse::<f64>)
                .collect();
            let row = row.map_err(|e| file_error(path, format!("line {}: {e}", ln + 1)))?;
            if row.is_empty() {
                continue;
            }
            if *cols.get_or_insert(row.len()) != row.len() {
                return Err(file_error(
                    path,
                    format!(
                        "line {} has {} values, expected {}",
                        ln + 1,
                        row.len(),
                        cols.unwrap_or(0)
                    ),
                ));
            }
            v.extend(row);
            rows += 1;
        }
        (v, rows, cols.unwrap_or(0))
    };
    if rows == 0 || rows != cols {
        return Err(file_error(
            path,
            format!("kernel must be square and non-empty, found {rows}x{cols}"),
        ));
    }
    if values.iter().any(|v| !v.is_finite() || *v < 0.0) {
        return Err(file_error(
            path,
            "kernel values must be finite and non-negative",
        ));
    }
    let s: f64 = values.iter().sum();
    if s <= 0.0 {
        return Err(file_error(path, "kernel sums to zero"));
    }
    Ok((values.iter().map(|v| v / s).collect(), rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_rule_hits_the_anchors() {
        let d32 = BlurDefaults::for_side(32);
        assert_eq!(
            (d32.gaussian_size, d32.uniform_size, d32.motion_size),
            (9, 5, 9)
        );
        assert!((d32.gaussian_std - 1.5).abs() < 1e-12);
        let d256 = BlurDefaults::for_side(256);
        assert_eq!(
            (d256.gaussian_size, d256.uniform_size, d256.motion_size),
            (61, 9, 61)
        );
        assert!((d256.gaussian_std - 3.0).abs() < 1e-12);
        let d16 = BlurDefaults::for_side(16);
        assert_eq!(
            (d16.gaussian_size, d16.uniform_size, d16.motion_size),
            (5, 3, 5)
        );
        let d64 = BlurDefaults::for_side(64);
        assert_eq!(
            (d64.gaussian_size, d64.uniform_size, d64.motion_size),
            (27, 7, 27)
        );
    }

    #[test]
    fn resolved_options_rebuild_the_same_operator_and_pin_files() {
        let shape = Shape::new(1, 16, 16).unwrap();
        let x: Vec<f64> = (0..shape.numel())
            .map(|i| (i as f64 * 0.37).sin())
            .collect();
        for &name in TASK_NAMES {
            if name == "inpaint-mask" || name == "colorize" {
                continue;
            }
            let spec = TaskSpec::new(name).unwrap();
            let full = spec.resolved(shape).unwrap();
            assert_eq!(full.resolved(shape).unwrap(), full, "{name}: idempotent");
            let mut keys: Vec<&str> = task_options(name)
                .iter()
                .map(|(k, _)| *k)
                .filter(|k| !["kernel", "sha256"].contains(k))
                .collect();
            keys.sort();
            assert_eq!(
                full.options.keys().map(String::as_str).collect::<Vec<_>>(),
                keys,
                "{name}: every parameter written out"
            );
            let (a, b) = (spec.build(shape).unwrap(), full.build(shape).unwrap());
            assert_eq!(a.apply(&x), b.apply(&x), "{name}");
        }
        let box_ = TaskSpec::new("inpaint-box")
            .unwrap()
            .resolved(shape)
            .unwrap();
        assert_eq!(box_.label(), "inpaint-box(left=4,size=8,top=4)");
        let dir = std::env::temp_dir().join(format!("vmlmap-task-hash-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mask = dir.join("m.png");
        image::GrayImage::from_fn(16, 16, |x, _| image::Luma([if x < 8 { 255 } else { 0 }]))
            .save(&mask)
            .unwrap();
        let spec = TaskSpec::parse("inpaint-mask", &[format!("path={}", mask.display())]).unwrap();
        let full = spec.resolved(shape).unwrap();
        assert_eq!(full.options["sha256"].len(), 64);
        assert!(std::path::Path::new(&full.options["path"]).is_absolute());
        assert_eq!(full.build(shape).unwrap().output_len(), 128);
        image::GrayImage::from_fn(16, 16, |x, _| image::Luma([if x < 9 { 255 } else { 0 }]))
            .save(&mask)
            .unwrap();
        let err = full.build(shape).unwrap_err().to_string();
        assert!(err.contains("sha256") && err.contains("changed"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_names_keys_and_values_are_typed_errors() {
        let s = Shape::new(1, 16, 16).unwrap();
        assert!(matches!(
            TaskSpec::new("blur"),
            Err(OperatorError::UnknownTask(_))
        ));
        assert!(matches!(
            TaskSpec::parse("sr4", &["size=3"]),
            Err(OperatorError::UnknownOption { .. })
        ));
        assert!(matches!(
            TaskSpec::parse("cs", &["ratio"]),
            Err(OperatorError::MalformedOption(_))
        ));
        let e = TaskSpec::parse("deblur-gaussian", &["size=4"])
            .unwrap()
            .build(s)
            .unwrap_err();
        assert!(e.to_string().contains("size=\"4\""), "{e}");
        let e = TaskSpec::parse("inpaint-random", &["fraction=1.5"])
            .unwrap()
            .build(s)
            .unwrap_err();
        assert!(e.to_string().contains("fraction"), "{e}");
        assert!(TaskSpec::new("sr8")
            .unwrap()
            .build(Shape::new(1, 12, 12).unwrap())
            .is_err());
        assert!(TaskSpec::new("colorize").unwrap().build(s).is_err());
        assert!(TaskSpec::parse("inpaint-box", &["size=10", "top=10"])
            .unwrap()
            .build(s)
            .is_err());
        assert!(
            TaskSpec::parse("deblur-motion", &["kernel=/nonexistent.txt"])
                .unwrap()
                .build(s)
                .is_err()
        );
        assert!(TaskSpec::new("cs")
            .unwrap()
            .build(Shape::new(3, 64, 64).unwrap())
            .is_err());
        assert!(TaskSpec::new("inpaint-mask").unwrap().build(s).is_err());
    }

    #[test]
    fn box_default_is_centred_half_side() {
        let s = Shape::new(1, 32, 32).unwrap();
        let op = TaskSpec::new("inpaint-box").unwrap().build(s).unwrap();
        assert_eq!(op.output_len(), 32 * 32 - 16 * 16);
        let x: Vec<f64> = (0..1024).map(|i| i as f64).collect();
        let back = op.adjoint(&op.apply(&x));
        assert_eq!(back[8 * 32 + 8], 0.0); // top-left corner of the hole
        assert_eq!(back[7 * 32 + 7], x[7 * 32 + 7]);
        assert_eq!(back[23 * 32 + 23], 0.0);
        assert_eq!(back[24 * 32 + 24], x[24 * 32 + 24]);
    }

    #[test]
    fn random_mask_fraction_and_seed() {
        let s = Shape::new(3, 16, 16).unwrap();
        let a = TaskSpec::new("inpaint-random").unwrap().build(s).unwrap();
        assert_eq!(a.output_len(), 3 * (256 - 179));
        let b = TaskSpec::parse("inpaint-random", &["seed=1"])
            .unwrap()
            .build(s)
            .unwrap();
        let x: Vec<f64> = (0..s.numel()).map(|i| i as f64).collect();
        assert_ne!(a.apply(&x), b.apply(&x));
    }

    #[test]
    fn text_kernel_file_roundtrip() {
        let dir = std::env::temp_dir().join(format!("vmlmap-kernel-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("k.txt");
        std::fs::write(&p, "0 1 0\n1 4 1\n0 1 0\n").unwrap();
        let (k, n) = read_kernel(p.to_str().unwrap()).unwrap();
        assert_eq!(n, 3);
        assert!((k[4] - 0.5).abs() < 1e-15);
        std::fs::write(&p, "0 1\n1 4 1\n").unwrap();
        assert!(read_kernel(p.to_str().unwrap()).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
