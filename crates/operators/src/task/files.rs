//! Files a task reads: masks (PNG) and blur kernels (text or image), and their hashes.

use crate::OperatorError;
use vmlmap_core::Shape;

pub(super) fn file_error(path: &str, reason: impl ToString) -> OperatorError {
    OperatorError::File {
        path: path.to_string(),
        reason: reason.to_string(),
    }
}

/// The option naming a task's input file.
pub(super) fn file_key(task: &str) -> &'static str {
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
