//! Measurements on disk: the `NAME.png` + `NAME.npy` + `NAME.json` that `vmlmap degrade`
//! writes (the sidecar records the task, its options and the noise), and raw measurement
//! files (an image or `.npy` that is `y` itself) given with their task.

use crate::measurement::check_sigma_y;
use crate::{Measurement, RestoreError};
use std::path::Path;
use vmlmap_core::Shape;
use vmlmap_io::sidecar::{sibling_paths, MeasurementSidecar};
use vmlmap_operators::TaskSpec;

fn path_str(p: &Path) -> Result<&str, RestoreError> {
    p.to_str().ok_or_else(|| {
        RestoreError::Invalid(format!("{} is not a UTF-8 path", p.to_string_lossy()))
    })
}

impl Measurement {
    /// The measurement described by a sidecar `NAME.json` (its `.npy` beside it).
    pub fn read_sidecar(json: &Path) -> Result<Self, RestoreError> {
        let side = MeasurementSidecar::read(json)?;
        let shape = Shape::new(
            side.image_shape[0],
            side.image_shape[1],
            side.image_shape[2],
        )?;
        let opts: Vec<String> = side
            .options
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let task = TaskSpec::parse(&side.task, &opts)?;
        let op = task.build(shape)?;
        let recorded = json.with_file_name(&side.measurement);
        let beside = json.with_extension("npy");
        let y = read_values(&recorded, op.output_len())
            .or_else(|_| read_values(&beside, op.output_len()))?;
        let name = json
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "measurement".into());
        let mut m = Measurement::new(name, &task, shape, y, side.sigma_y)?;
        m.noise_seed = Some(side.seed);
        Ok(m)
    }

    /// A raw measurement file of `task` on images of `shape`: an image or `.npy` of the
    /// operator's output size, or for inpainting the full-size image (its observed pixels
    /// are taken) or a `.npy` of the observed values. `slack` is how far outside `[-1, 1]`
    /// a `.npy` may reach before a warning (measurement noise); the warnings are returned.
    pub fn read_raw(
        path: &Path,
        task: &TaskSpec,
        shape: Shape,
        sigma_y: f64,
    ) -> Result<(Self, Vec<String>), RestoreError> {
        check_sigma_y(sigma_y)?;
        let task = task.resolved(shape)?;
        let op = task.build(shape)?;
        let file = path_str(path)?;
        let mask = task.name.starts_with("inpaint");
        let wrong_size = |found: &str| {
            let want = match op.output_shape() {
                Some(s) => format!("{s} ({}x{} pixels, WxH)", s.w, s.h),
                None if mask => format!(
                    "the full {shape} image ({}x{} pixels, WxH), or a .npy of its {} observed values",
                    shape.w,
                    shape.h,
                    op.output_len()
                ),
                None => format!("a .npy of {} values", op.output_len()),
            };
            RestoreError::Invalid(format!(
                "{file} is {found}; a {} measurement of the model's {shape} images is {want}",
                task.name
            ))
        };
        let slack = 6.0 * sigma_y;
        let mut notes = Vec::new();
        let mut read = |expected: Shape| -> Result<Vec<f64>, RestoreError> {
            match vmlmap_io::read_array_noting(file, Some(expected), false, slack) {
                Ok((v, _, n)) => {
                    notes.extend(n);
                    Ok(v)
                }
                Err(vmlmap_io::IoError::Shape { found, .. }) => Err(wrong_size(&found)),
                Err(e) => Err(e.into()),
            }
        };
        let is_npy = file.to_ascii_lowercase().ends_with(".npy");
        let y = match op.output_shape() {
            Some(s) => read(s)?,
            None if is_npy => {
                let (v, s) = vmlmap_io::read_npy(file)?;
                if v.len() == op.output_len() {
                    v
                } else if mask && s == shape {
                    op.apply(&v)
                } else {
                    return Err(wrong_size(&s.to_string()));
                }
            }
            None if mask => op.apply(&read(shape)?),
            None => return Err(wrong_size("an image")),
        };
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "measurement".into());
        Ok((Measurement::new(name, &task, shape, y, sigma_y)?, notes))
    }

    /// Writes `NAME.png` (a picture of the measurement, [`Measurement::view`]),
    /// `NAME.npy` (the exact values) and the sidecar `NAME.json`, for `output` any of the
    /// three; each atomically, none over an existing file unless `force`. `source` is
    /// recorded as where the clean image came from. Returns the three paths.
    pub fn write(
        &self,
        output: &Path,
        source: &str,
        force: bool,
    ) -> Result<[std::path::PathBuf; 3], RestoreError> {
        let (png, npy, json) = sibling_paths(path_str(output)?);
        for p in [&png, &npy, &json] {
            if p.exists() && !force {
                return Err(vmlmap_io::IoError::Exists {
                    path: p.display().to_string(),
                }
                .into());
            }
        }
        let ys = self.op.output_shape().unwrap_or(Shape {
            c: 1,
            h: 1,
            w: self.op.output_len(),
        });
        let (view, view_shape) = self.view();
        vmlmap_io::write_npy(path_str(&npy)?, &self.y, ys, force)?;
        vmlmap_io::write_png(path_str(&png)?, &view, view_shape, force)?;
        let sidecar = MeasurementSidecar {
            task: self.task.name.clone(),
            options: self.task.options.clone(),
            sigma_y: self.sigma_y,
            seed: self.noise_seed.unwrap_or(0),
            image_shape: [self.shape.c, self.shape.h, self.shape.w],
            measurement: npy
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string(),
            measurement_len: self.y.len(),
            noise_convention: "minus-one-one".into(),
            source: source.to_string(),
        };
        sidecar.write(&json, force)?;
        Ok([png, npy, json])
    }
}

/// The `len` values of a measurement `.npy`.
fn read_values(path: &Path, len: usize) -> Result<Vec<f64>, RestoreError> {
    let file = path_str(path)?;
    let (y, _) = vmlmap_io::read_npy(file)?;
    if y.len() != len {
        return Err(RestoreError::Invalid(format!(
            "{file} holds {} values, the operator gives {len}",
            y.len()
        )));
    }
    Ok(y)
}
