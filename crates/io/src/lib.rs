//! Files: `.npy` arrays (float32 `C x H x W`, the model's `[-1, 1]` units, no rescaling),
//! PNG/JPEG images mapped to `[-1, 1]`, and atomic writes that never overwrite unasked.

pub mod atomic;
pub mod images;
pub mod npy;
pub mod sidecar;

pub use atomic::write_atomic;
pub use images::{legible_zoom, read_image, read_image_noting, write_grid, write_png};
pub use npy::{read_npy, write_npy};

use std::path::Path;
use vmlmap_core::Shape;

/// A file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    #[error("{path} exists; pass --force to overwrite it")]
    Exists { path: String },
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("cannot write {path}: {reason}")]
    Write { path: String, reason: String },
    #[error("{path} is {found}, expected {expected}{hint}")]
    Shape {
        path: String,
        expected: Shape,
        found: String,
        hint: String,
    },
}

/// Whether a path names a `.npy` file (by its extension, in any case).
fn is_npy(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
}

/// An array from `.npy` (raw values) or an image (mapped to `[-1, 1]`), checked against
/// `expected` when given (images are resized only when `resize` is set).
pub fn read_array(
    path: impl AsRef<Path>,
    expected: Option<Shape>,
    resize: bool,
) -> Result<(Vec<f64>, Shape), IoError> {
    let path = path.as_ref();
    if is_npy(path) {
        let (v, shape) = read_npy(path)?;
        if let Some(e) = expected {
            if shape != e {
                return Err(IoError::Shape {
                    path: path.display().to_string(),
                    expected: e,
                    found: shape.to_string(),
                    hint: String::new(),
                });
            }
        }
        Ok((v, shape))
    } else {
        read_image(path, expected, resize)
    }
}

/// [`read_array`], with a note for each change made to the file's content (see
/// [`read_image_noting`]) and for `.npy` values outside `[-1 - slack, 1 + slack]` (vmlmap's
/// arrays are in the model's `[-1, 1]` units; `slack` leaves room for measurement noise).
pub fn read_array_noting(
    path: impl AsRef<Path>,
    expected: Option<Shape>,
    resize: bool,
    slack: f64,
) -> Result<(Vec<f64>, Shape, Vec<String>), IoError> {
    let path = path.as_ref();
    if !is_npy(path) {
        return read_image_noting(path, expected, resize);
    }
    let (v, shape) = read_array(path, expected, resize)?;
    let (lo, hi) = v
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    let mut notes = Vec::new();
    if lo < -1.0 - slack || hi > 1.0 + slack {
        notes.push(format!(
            "values span [{lo:.4}, {hi:.4}], outside the [-1, 1] of vmlmap's arrays: a [0, 1] or [0, 255] array must be rescaled (x = 2 p - 1)"
        ));
    }
    Ok((v, shape, notes))
}

/// Writes `.npy` (raw values) or a PNG (values in `[-1, 1]` mapped to 0..255) atomically.
pub fn write_array(
    path: impl AsRef<Path>,
    data: &[f64],
    shape: Shape,
    force: bool,
) -> Result<(), IoError> {
    let path = path.as_ref();
    if is_npy(path) {
        write_npy(path, data, shape, force)
    } else {
        write_png(path, data, shape, force)
    }
}
