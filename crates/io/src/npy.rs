//! `.npy` arrays: float32 or float64, C order, shape `C x H x W` (or `1 x C x H x W`).

use crate::{write_atomic, IoError};
use npyz::WriterBuilder;
use std::path::Path;
use vmlmap_core::Shape;

fn read_err(path: &Path, reason: impl ToString) -> IoError {
    IoError::Read {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Reads a float array of shape `C x H x W` (a leading batch of 1 is accepted).
pub fn read_npy(path: impl AsRef<Path>) -> Result<(Vec<f64>, Shape), IoError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| read_err(path, e))?;
    let npy = npyz::NpyFile::new(&bytes[..]).map_err(|e| read_err(path, e))?;
    if npy.order() != npyz::Order::C {
        return Err(read_err(
            path,
            "Fortran-order arrays are not supported; save with np.ascontiguousarray",
        ));
    }
    let dims: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let dims = match dims.as_slice() {
        [1, c, h, w] | [c, h, w] => [*c, *h, *w],
        [h, w] => [1, *h, *w],
        other => {
            return Err(read_err(
                path,
                format!("shape {other:?}; expected C x H x W"),
            ))
        }
    };
    let shape = Shape::new(dims[0], dims[1], dims[2]).map_err(|e| read_err(path, e))?;
    let descr = npy.dtype().descr().trim_matches('\'').to_string();
    let count: usize = dims.iter().product();
    let width = match descr.as_str() {
        "<f4" => 4,
        "<f8" => 8,
        _ => 0, // refused below, by dtype
    };
    let have = npy_data_len(&bytes);
    if have < count * width {
        return Err(read_err(
            path,
            format!(
                "truncated: the header promises {count} values ({} bytes), the file holds {have} bytes of data",
                count * width
            ),
        ));
    }
    let data: Vec<f64> = match descr.as_str() {
        "<f4" => npy
            .into_vec::<f32>()
            .map_err(|e| read_err(path, e))?
            .into_iter()
            .map(f64::from)
            .collect(),
        "<f8" => npy.into_vec::<f64>().map_err(|e| read_err(path, e))?,
        other => {
            return Err(read_err(
                path,
                format!("dtype {other}; expected float32 (<f4) or float64 (<f8)"),
            ))
        }
    };
    if data.iter().any(|v| !v.is_finite()) {
        return Err(read_err(path, "array holds NaN or infinite values"));
    }
    Ok((data, shape))
}

/// Bytes after the `.npy` header (the header length is in bytes 8..10 for version 1, 8..12
/// for versions 2 and 3).
fn npy_data_len(bytes: &[u8]) -> usize {
    let header_end = match bytes.get(6) {
        Some(1) if bytes.len() >= 10 => 10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize,
        Some(2 | 3) if bytes.len() >= 12 => {
            12 + u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize
        }
        _ => return bytes.len(),
    };
    bytes.len().saturating_sub(header_end)
}

/// Writes a float64 `C x H x W` array atomically (every value exactly as computed: a
/// noise-free measurement needs more than float32's 7 digits).
pub fn write_npy(
    path: impl AsRef<Path>,
    data: &[f64],
    shape: Shape,
    force: bool,
) -> Result<(), IoError> {
    let path = path.as_ref();
    write_atomic(path, force, |tmp| {
        let file = std::fs::File::create(tmp).map_err(|e| e.to_string())?;
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&[shape.c as u64, shape.h as u64, shape.w as u64])
            .writer(std::io::BufWriter::new(file))
            .begin_nd()
            .map_err(|e| e.to_string())?;
        w.extend(data.iter().copied()).map_err(|e| e.to_string())?;
        w.finish().map_err(|e| e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_errors() {
        let dir = std::env::temp_dir().join(format!("vmlmap-npy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("x.npy");
        let ps = p.to_str().unwrap();
        let s = Shape::new(2, 3, 4).unwrap();
        // Values that float32 would round (1e-9 apart): they come back exactly.
        let data: Vec<f64> = (0..24)
            .map(|i| i as f64 * 0.25 - 1.0 + 1e-9 / 3.0)
            .collect();
        write_npy(ps, &data, s, false).unwrap();
        let (back, shape) = read_npy(ps).unwrap();
        assert_eq!((back, shape), (data, s));
        std::fs::write(&p, b"not an npy").unwrap();
        assert!(read_npy(ps).unwrap_err().to_string().contains("x.npy"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
