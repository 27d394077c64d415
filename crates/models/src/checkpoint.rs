//! Checkpoint files as a map from state-dict names to f32 tensors: PyTorch `.pt`/`.pth`
//! (zip and legacy pickles, via `pytorch-reader`, also nested under `state_dict`/`model`/
//! `ema`) and `.safetensors`; f32, f64, f16 and bf16 entries. Architectures take their
//! weights from a [`Checkpoint`] by name through a [`WeightLoader`], which collects every
//! missing key, shape mismatch and unused key and reports them together.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

/// One tensor of a checkpoint, converted to f32.
#[derive(Clone, Debug)]
pub struct RawTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
    /// The dtype in the file (`f32`, `f16`, ...).
    pub source_dtype: String,
}

/// A checkpoint's tensors by name.
#[derive(Clone, Debug, Default)]
pub struct Checkpoint {
    pub tensors: BTreeMap<String, RawTensor>,
    /// The file format (`safetensors`, `pytorch-zip`, ...).
    pub format: String,
}

/// A checkpoint that cannot be read or does not fit an architecture.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("cannot write {path}: {reason}")]
    Write { path: String, reason: String },
    #[error("{path}: tensor {name} has unsupported dtype {dtype} (expected a float type)")]
    UnsupportedDtype {
        path: String,
        name: String,
        dtype: String,
    },
    #[error("{path}: unknown checkpoint extension (expected .pt, .pth, .bin or .safetensors)")]
    UnknownFormat { path: String },
    #[error("weights do not fit {architecture}:\n{report}")]
    Mismatch {
        architecture: String,
        report: MismatchReport,
    },
}

/// Everything wrong between a checkpoint and an architecture.
#[derive(Debug, Default, Clone)]
pub struct MismatchReport {
    pub missing: Vec<(String, Vec<usize>)>,
    pub unexpected: Vec<String>,
    pub shape: Vec<(String, Vec<usize>, Vec<usize>)>,
}

impl MismatchReport {
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.shape.is_empty()
    }
}

impl fmt::Display for MismatchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOW: usize = 20;
        for (name, shape) in self.missing.iter().take(SHOW) {
            writeln!(f, "  missing key {name} (expected shape {shape:?})")?;
        }
        if self.missing.len() > SHOW {
            writeln!(
                f,
                "  ... and {} more missing keys",
                self.missing.len() - SHOW
            )?;
        }
        for (name, want, found) in self.shape.iter().take(SHOW) {
            writeln!(
                f,
                "  shape mismatch for {name}: expected {want:?}, found {found:?}"
            )?;
        }
        if self.shape.len() > SHOW {
            writeln!(
                f,
                "  ... and {} more shape mismatches",
                self.shape.len() - SHOW
            )?;
        }
        for name in self.unexpected.iter().take(SHOW) {
            writeln!(f, "  unexpected key {name}")?;
        }
        if self.unexpected.len() > SHOW {
            writeln!(
                f,
                "  ... and {} more unexpected keys",
                self.unexpected.len() - SHOW
            )?;
        }
        write!(
            f,
            "  ({} missing, {} shape mismatches, {} unexpected)",
            self.missing.len(),
            self.shape.len(),
            self.unexpected.len()
        )
    }
}

fn read_err(path: &Path, reason: impl ToString) -> CheckpointError {
    CheckpointError::Read {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

fn f32_from_bytes(
    path: &Path,
    name: &str,
    dtype: &str,
    bytes: &[u8],
) -> Result<Vec<f32>, CheckpointError> {
    let chunks = |n: usize| bytes.chunks_exact(n);
    Ok(match dtype {
        "f32" => chunks(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        "f64" => chunks(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
            .collect(),
        "f16" => chunks(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        "bf16" => chunks(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        other => {
            return Err(CheckpointError::UnsupportedDtype {
                path: path.display().to_string(),
                name: name.to_string(),
                dtype: other.to_string(),
            })
        }
    })
}

impl Checkpoint {
    /// Reads a checkpoint, choosing the format from the extension.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CheckpointError> {
        let path = path.as_ref();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        match ext.as_str() {
            "safetensors" => Self::open_safetensors(path),
            "pt" | "pth" | "bin" | "ckpt" => Self::open_pytorch(path),
            _ => Err(CheckpointError::UnknownFormat {
                path: path.display().to_string(),
            }),
        }
    }

    /// Reads a `.safetensors` file.
    pub fn open_safetensors(path: &Path) -> Result<Self, CheckpointError> {
        let bytes = std::fs::read(path).map_err(|e| read_err(path, e))?;
        Self::from_safetensors_bytes(path, &bytes)
    }

    /// Parses `.safetensors` bytes (`path` names them in errors).
    pub fn from_safetensors_bytes(path: &Path, bytes: &[u8]) -> Result<Self, CheckpointError> {
        let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| read_err(path, e))?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            let dtype = match view.dtype() {
                safetensors::Dtype::F32 => "f32",
                safetensors::Dtype::F64 => "f64",
                safetensors::Dtype::F16 => "f16",
                safetensors::Dtype::BF16 => "bf16",
                other => {
                    return Err(CheckpointError::UnsupportedDtype {
                        path: path.display().to_string(),
                        name,
                        dtype: format!("{other:?}"),
                    })
                }
            };
            let data = f32_from_bytes(path, &name, dtype, view.data())?;
            tensors.insert(
                name,
                RawTensor {
                    shape: view.shape().to_vec(),
                    data,
                    source_dtype: dtype.into(),
                },
            );
        }
        Ok(Self {
            tensors,
            format: "safetensors".into(),
        })
    }

    /// Reads a PyTorch pickle (zip or legacy); weights nested under `state_dict`, `model`,
    /// `ema` or `params` are found too.
    pub fn open_pytorch(path: &Path) -> Result<Self, CheckpointError> {
        let mut reader = pytorch_reader::PytorchReader::new(path).map_err(|e| read_err(path, e))?;
        if reader.is_empty() {
            for key in ["state_dict", "model", "ema", "params"] {
                if let Ok(r) = pytorch_reader::PytorchReader::with_top_level_key(path, key) {
                    if !r.is_empty() {
                        reader = r;
                        break;
                    }
                }
            }
        }
        let format = if reader.metadata().is_legacy_format() {
            "pytorch-legacy"
        } else {
            "pytorch-zip"
        };
        let mut tensors = BTreeMap::new();
        for (name, t) in reader.tensors() {
            use pytorch_reader::DType as D;
            let dtype = match t.dtype() {
                D::F32 => "f32",
                D::F64 => "f64",
                D::F16 => "f16",
                D::BF16 => "bf16",
                other => {
                    return Err(CheckpointError::UnsupportedDtype {
                        path: path.display().to_string(),
                        name: name.clone(),
                        dtype: format!("{other:?}"),
                    })
                }
            };
            let bytes = t
                .read()
                .map_err(|e| read_err(path, format!("tensor {name}: {e}")))?;
            let data = f32_from_bytes(path, name, dtype, &bytes)?;
            if data.len() != t.num_elements() {
                return Err(read_err(
                    path,
                    format!(
                        "tensor {name}: {} values for shape {:?}",
                        data.len(),
                        t.shape()
                    ),
                ));
            }
            tensors.insert(
                name.clone(),
                RawTensor {
                    shape: t.shape().to_vec(),
                    data,
                    source_dtype: dtype.into(),
                },
            );
        }
        Ok(Self {
            tensors,
            format: format.into(),
        })
    }

    /// Total number of values.
    pub fn parameter_count(&self) -> usize {
        self.tensors.values().map(|t| t.data.len()).sum()
    }

    /// The distinct dtypes in the file.
    pub fn dtypes(&self) -> BTreeSet<String> {
        self.tensors
            .values()
            .map(|t| t.source_dtype.clone())
            .collect()
    }

    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.tensors.get(name).map(|t| t.shape.as_slice())
    }

    /// Writes the tensors (f32) as `.safetensors`, atomically.
    pub fn save_safetensors(&self, path: &Path, force: bool) -> Result<(), CheckpointError> {
        let tensors: Vec<(String, RawTensor)> = self
            .tensors
            .iter()
            .map(|(n, t)| (n.clone(), t.clone()))
            .collect();
        write_safetensors(path, &tensors, None, force)
    }
}

/// Writes named f32 tensors (and optional string metadata) as `.safetensors`, atomically;
/// an existing file is replaced only when `force` is set.
pub fn write_safetensors(
    path: &Path,
    tensors: &[(String, RawTensor)],
    metadata: Option<std::collections::HashMap<String, String>>,
    force: bool,
) -> Result<(), CheckpointError> {
    let bytes: Vec<(&str, Vec<u8>, &[usize])> = tensors
        .iter()
        .map(|(n, t)| {
            (
                n.as_str(),
                t.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
                t.shape.as_slice(),
            )
        })
        .collect();
    let views: Vec<(&str, safetensors::tensor::TensorView)> = bytes
        .iter()
        .map(|(n, b, s)| {
            (
                *n,
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.to_vec(), b)
                    .expect("shape matches the data"),
            )
        })
        .collect();
    let write_err = |reason: String| CheckpointError::Write {
        path: path.display().to_string(),
        reason,
    };
    vmlmap_io::write_atomic(path, force, |tmp| {
        // Serialised in memory and written with std::fs (the file gets the mode the umask
        // gives its neighbours; serialize_to_file creates it 0600).
        let bytes = safetensors::serialize(views, metadata).map_err(|e| e.to_string())?;
        std::fs::write(tmp, sorted_header(bytes)?).map_err(|e| e.to_string())
    })
    .map_err(|e| write_err(e.to_string()))
}

/// The serialised file with its JSON header's keys (tensors and `__metadata__` entries) in
/// sorted order. `safetensors` writes the metadata from a `HashMap`, whose order changes
/// from run to run, so that the same state written twice differed in its header bytes;
/// sorted, the same tensors and metadata give the same file, bit for bit. The tensors'
/// data and offsets are untouched (an entry's offsets do not depend on its place in the
/// header), and the header is padded with spaces to a multiple of 8 bytes as before.
fn sorted_header(bytes: Vec<u8>) -> Result<Vec<u8>, String> {
    use std::collections::BTreeMap;
    let bad = |r: &str| format!("serialised safetensors: {r}");
    let n = bytes
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| bad("shorter than its header length"))? as usize;
    let header = bytes
        .get(8..8 + n)
        .ok_or_else(|| bad("header longer than the file"))?;
    let mut map: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(header).map_err(|e| bad(&e.to_string()))?;
    if let Some(meta) = map.get_mut("__metadata__") {
        let sorted: BTreeMap<String, serde_json::Value> =
            serde_json::from_value(meta.take()).map_err(|e| bad(&e.to_string()))?;
        *meta = serde_json::to_value(sorted).map_err(|e| bad(&e.to_string()))?;
    }
    let mut json = serde_json::to_vec(&map).map_err(|e| bad(&e.to_string()))?;
    json.resize(json.len().div_ceil(8) * 8, b' ');
    let mut out = Vec::with_capacity(8 + json.len() + bytes.len() - 8 - n);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&bytes[8 + n..]);
    Ok(out)
}

/// Hands out a checkpoint's tensors by name and shape, recording every problem.
pub struct WeightLoader<'a> {
    ckpt: &'a Checkpoint,
    used: BTreeSet<String>,
    report: MismatchReport,
}

impl<'a> WeightLoader<'a> {
    pub fn new(ckpt: &'a Checkpoint) -> Self {
        Self {
            ckpt,
            used: BTreeSet::new(),
            report: MismatchReport::default(),
        }
    }

    /// The tensor `name` if it has `shape`; otherwise records the problem and returns zeros
    /// (so that construction continues and every problem is found in one pass).
    pub fn take(&mut self, name: &str, shape: &[usize]) -> Vec<f32> {
        let n: usize = shape.iter().product();
        match self.ckpt.tensors.get(name) {
            None => {
                self.report.missing.push((name.to_string(), shape.to_vec()));
                vec![0.0; n]
            }
            Some(t) => {
                self.used.insert(name.to_string());
                // PyTorch stores conv1d weights [out, in, 1]; a 2-D [out, in] is the same data.
                let squeeze =
                    |s: &[usize]| s.iter().copied().filter(|&d| d != 1).collect::<Vec<_>>();
                if t.shape != shape && squeeze(&t.shape) != squeeze(shape) {
                    self.report
                        .shape
                        .push((name.to_string(), shape.to_vec(), t.shape.clone()));
                    vec![0.0; n]
                } else {
                    t.data.clone()
                }
            }
        }
    }

    /// All problems, or `Ok` when every key was used with the right shape.
    pub fn finish(mut self, architecture: &str) -> Result<(), CheckpointError> {
        self.report.unexpected = self
            .ckpt
            .tensors
            .keys()
            .filter(|k| !self.used.contains(*k))
            .cloned()
            .collect();
        if self.report.is_empty() {
            Ok(())
        } else {
            Err(CheckpointError::Mismatch {
                architecture: architecture.to_string(),
                report: self.report,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The same tensors and metadata give the same bytes, whatever order the metadata's
    /// `HashMap` iterates in, and the file reads back as written.
    #[test]
    fn a_state_written_twice_is_the_same_file() {
        let dir = std::env::temp_dir().join(format!("vmlmap-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let tensors = vec![
            (
                "b.weight".to_string(),
                RawTensor {
                    shape: vec![2, 3],
                    data: (0..6).map(|v| v as f32 * 0.5).collect(),
                    source_dtype: "f32".into(),
                },
            ),
            (
                "a.bias".to_string(),
                RawTensor {
                    shape: vec![3],
                    data: vec![-1.0, 2.0, 7.5],
                    source_dtype: "f32".into(),
                },
            ),
        ];
        let meta = || -> HashMap<String, String> {
            // Each HashMap has its own random iteration order.
            (0..12)
                .map(|k| (format!("key{k}"), format!("v{}", k * k)))
                .collect()
        };
        let files: Vec<Vec<u8>> = (0..4)
            .map(|i| {
                let p = dir.join(format!("s{i}.safetensors"));
                write_safetensors(&p, &tensors, Some(meta()), false).unwrap();
                std::fs::read(p).unwrap()
            })
            .collect();
        for f in &files[1..] {
            assert!(f == &files[0], "the same state gave different bytes");
        }
        assert_eq!(
            (u64::from_le_bytes(files[0][..8].try_into().unwrap())) % 8,
            0
        );
        let st = safetensors::SafeTensors::deserialize(&files[0]).unwrap();
        let (_, m) = safetensors::SafeTensors::read_metadata(&files[0]).unwrap();
        assert_eq!(m.metadata().clone().unwrap(), meta());
        let a = st.tensor("a.bias").unwrap();
        assert_eq!(a.shape(), &[3]);
        let back: Vec<f32> = a
            .data()
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(back, vec![-1.0, 2.0, 7.5]);
        assert_eq!(st.tensor("b.weight").unwrap().shape(), &[2, 3]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
