//! The prior of a restoration: a network by name (`default`, the embedded Fashion-MNIST
//! prior; a checkpoint file; a diffusers folder; a preset), loaded once and at the
//! measurements' image size (guided-diffusion UNets are fully convolutional), any other
//! [`Denoiser`] (the Python package's), or none for solvers that use no prior.

use crate::RestoreError;
use burn::tensor::Device;
use vmlmap_core::denoiser::NoPrior;
use vmlmap_core::{Denoiser, Shape};
use vmlmap_models::registry::{inspect, load_denoiser_on, Engine, ModelInfo};
use vmlmap_models::Precision;

/// A denoiser with where it came from.
pub struct Prior {
    pub denoiser: Box<dyn Denoiser>,
    /// What was loaded, for a network read by name or path.
    pub info: Option<ModelInfo>,
    /// The name or path it was loaded from (`none` without a prior, the denoiser's own
    /// name for one given as an object).
    pub model: String,
    /// Where a network read by name was put, to read it again at another size.
    loaded_on: Option<(Device, Engine)>,
}

impl std::fmt::Debug for Prior {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Prior({}, {})", self.model, self.denoiser.shape())
    }
}

/// The default batch: as many images as fit in half the available memory for one forward
/// and VJP of `info`'s network, at most 16.
pub fn auto_batch(info: &ModelInfo) -> usize {
    let available = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("MemAvailable:"))?;
            line.split_whitespace().nth(1)?.parse::<usize>().ok()
        })
        .map(|kb| kb * 1024)
        .unwrap_or(4 << 30);
    (available / 2 / info.vjp_bytes_per_image()).clamp(1, 16)
}

impl Prior {
    /// The network `model` on `device` in f32 on `engine` (the native kernels where they
    /// apply), at its configured size or, for a guided-diffusion UNet, at `size`.
    pub fn load(
        model: &str,
        device: &Device,
        engine: Engine,
        size: Option<usize>,
    ) -> Result<Self, RestoreError> {
        let (den, info) = load_denoiser_on(model, device, Precision::F32, size, engine)?;
        Ok(Self {
            denoiser: Box::new(den),
            info: Some(info),
            model: model.to_string(),
            loaded_on: Some((device.clone(), engine)),
        })
    }

    /// No prior, for solvers that evaluate none (`pinv`, `tikhonov`): images of `shape`.
    pub fn none(shape: Shape) -> Self {
        Self {
            denoiser: Box::new(NoPrior(shape)),
            info: None,
            model: "none".into(),
            loaded_on: None,
        }
    }

    /// Any denoiser as the prior.
    pub fn from_denoiser(denoiser: Box<dyn Denoiser>) -> Self {
        let model = denoiser.name();
        Self {
            denoiser,
            info: None,
            model,
            loaded_on: None,
        }
    }

    /// The image shape of a network by name, without building it.
    pub fn model_shape(model: &str) -> Result<Shape, RestoreError> {
        let info = inspect(model)?;
        Ok(Shape::new(info.image[0], info.image[1], info.image[2])?)
    }

    /// The images it denoises.
    pub fn shape(&self) -> Shape {
        self.denoiser.shape()
    }

    /// This prior for images of `shape`: itself when it fits; a network loaded by name is
    /// reloaded at the new size (same channels); anything else that does not fit is an
    /// error naming both shapes.
    pub fn fit(self, shape: Shape) -> Result<Self, RestoreError> {
        let have = self.shape();
        if have == shape {
            return Ok(self);
        }
        if let Some((device, engine)) = &self.loaded_on {
            if have.c == shape.c && shape.h == shape.w {
                let again = Self::load(&self.model, device, *engine, Some(shape.h))?;
                if again.shape() == shape {
                    return Ok(again);
                }
            }
        }
        Err(RestoreError::Invalid(format!(
            "model {} works on {have} images, the measurements are of {shape} images",
            self.model
        )))
    }

    /// The batch to use when none is given: what fits in memory for a network (at most
    /// 16), 16 otherwise.
    pub fn default_batch(&self) -> usize {
        self.info.as_ref().map(auto_batch).unwrap_or(16)
    }
}
