//! The operator of a task specification for an image shape.

use crate::dense::{DenseOperator, DENSE_MAX_N};
use crate::factor::Factor;
use crate::fft_conv::FftConvOperator;
use crate::kernels;
use crate::kronecker::KroneckerOperator;
use crate::mask::MaskOperator;
use crate::{LinearOperator, OperatorError};
use nalgebra::DMatrix;
use rand::seq::SliceRandom;
use vmlmap_core::Shape;

use super::files::{read_kernel, read_mask};
use super::{BlurDefaults, TaskSpec};

impl TaskSpec {
    /// Builds the operator for images of `shape`.
    pub fn build(&self, shape: Shape) -> Result<Box<dyn LinearOperator>, OperatorError> {
        let label = self.label();
        let op: Box<dyn LinearOperator> = match self.name.as_str() {
            "inpaint-box" => self.box_mask(shape, label)?,
            "inpaint-random" => self.random_mask(shape, label)?,
            "inpaint-half" => self.half_mask(shape, label)?,
            "inpaint-mask" => self.file_mask(shape, label)?,
            "sr2" | "sr4" | "sr8" | "sr2-bicubic" | "sr4-bicubic" => {
                self.super_resolution(shape, label)?
            }
            "deblur-gaussian" | "deblur-uniform" => self.separable_blur(shape, label)?,
            "deblur-motion" => self.motion_blur(shape, label)?,
            "colorize" => self.colorize(shape, label)?,
            "denoise" => Box::new(KroneckerOperator::new(
                label,
                Factor::Identity(shape.c),
                Factor::Identity(shape.h),
                Factor::Identity(shape.w),
            )),
            "cs" => self.compressed_sensing(shape, label)?,
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

    /// A centred (or placed) square box missing.
    fn box_mask(
        &self,
        shape: Shape,
        label: String,
    ) -> Result<Box<dyn LinearOperator>, OperatorError> {
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
        Ok(Box::new(MaskOperator::new(label, shape, &obs)))
    }

    /// A seeded random fraction of the pixels missing.
    fn random_mask(
        &self,
        shape: Shape,
        label: String,
    ) -> Result<Box<dyn LinearOperator>, OperatorError> {
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
        Ok(Box::new(MaskOperator::new(label, shape, &obs)))
    }

    /// One half of the image missing.
    fn half_mask(
        &self,
        shape: Shape,
        label: String,
    ) -> Result<Box<dyn LinearOperator>, OperatorError> {
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
            return Err(self.invalid("missing", missing, "expected left, right, top or bottom"));
        }
        if shape.w < 2 || shape.h < 2 {
            return Err(self.shape_error(shape, "an image at least 2x2"));
        }
        Ok(Box::new(MaskOperator::new(label, shape, &obs)))
    }

    /// The pixels a PNG mask observes.
    fn file_mask(
        &self,
        shape: Shape,
        label: String,
    ) -> Result<Box<dyn LinearOperator>, OperatorError> {
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
        Ok(Box::new(MaskOperator::new(label, shape, &obs)))
    }

    /// Block averaging or bicubic downsampling by the factor in the name.
    fn super_resolution(
        &self,
        shape: Shape,
        label: String,
    ) -> Result<Box<dyn LinearOperator>, OperatorError> {
        let f: usize = self.name[2..3].parse().expect("factor digit");
        if !shape.h.is_multiple_of(f) || !shape.w.is_multiple_of(f) || shape.h < f || shape.w < f {
            return Err(self.shape_error(shape, format!("height and width divisible by {f}")));
        }
        let mat = |n| {
            if self.name.ends_with("bicubic") {
                kernels::bicubic_down(n, f)
            } else {
                kernels::block_average(n, f)
            }
        };
        Ok(same_on_rows_and_columns(label, shape, mat))
    }

    /// Gaussian or uniform blur: separable, circular.
    fn separable_blur(
        &self,
        shape: Shape,
        label: String,
    ) -> Result<Box<dyn LinearOperator>, OperatorError> {
        let d = BlurDefaults::for_side(shape.side());
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
        Ok(same_on_rows_and_columns(label, shape, |n| {
            kernels::circulant(n, &k1)
        }))
    }

    /// Motion blur: a seeded camera-shake kernel or a kernel file, by the FFT.
    fn motion_blur(
        &self,
        shape: Shape,
        label: String,
    ) -> Result<Box<dyn LinearOperator>, OperatorError> {
        let d = BlurDefaults::for_side(shape.side());
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
                return Err(self.invalid("intensity", &intensity.to_string(), "must be in [0, 1]"));
            }
            let seed: u64 = self.get("seed", 0, "an unsigned integer")?;
            (kernels::motion_kernel(k, intensity, seed), k)
        };
        Ok(Box::new(FftConvOperator::new(label, shape, &kernel, k, k)))
    }

    /// The average of the three channels.
    fn colorize(
        &self,
        shape: Shape,
        label: String,
    ) -> Result<Box<dyn LinearOperator>, OperatorError> {
        if shape.c != 3 {
            return Err(self.shape_error(shape, "3 channels"));
        }
        let avg = DMatrix::from_element(1, 3, 1.0 / 3.0);
        Ok(Box::new(KroneckerOperator::new(
            label,
            Factor::dense(avg),
            Factor::Identity(shape.h),
            Factor::Identity(shape.w),
        )))
    }

    /// A seeded Gaussian sensing matrix.
    fn compressed_sensing(
        &self,
        shape: Shape,
        label: String,
    ) -> Result<Box<dyn LinearOperator>, OperatorError> {
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
        Ok(Box::new(DenseOperator::gaussian(label, shape, m, seed)))
    }
}

/// `I_C ⊗ M(H) ⊗ M(W)`: one 1-D matrix (of the side's length) on the rows and the columns
/// of every channel: block averages, bicubic downsampling, separable blurs.
fn same_on_rows_and_columns(
    label: String,
    shape: Shape,
    mat: impl Fn(usize) -> DMatrix<f64>,
) -> Box<dyn LinearOperator> {
    Box::new(KroneckerOperator::new(
        label,
        Factor::Identity(shape.c),
        Factor::dense(mat(shape.h)),
        Factor::dense(mat(shape.w)),
    ))
}
