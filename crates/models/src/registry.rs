//! Models by name or path: a preset name (random weights, for benchmarks), a guided-
//! diffusion checkpoint file (`.pt`, `.pth`, `.safetensors`, with an optional `NAME.json`
//! configuration beside it) or a diffusers `UNet2DModel` folder.

use crate::adm::config::PRESETS;
use crate::adm::load::{config_for, load_unet, random_unet, LoadError};
use crate::adm::AdmConfig;
use crate::autodiff_denoiser::{AutodiffDenoiser, Precision};
use crate::checkpoint::Checkpoint;
use crate::ddpm::load::{load_ddpm, weights_file};
use crate::eps_denoiser::{Adm, Ddpm, EpsDenoiser, EpsNetwork};
use crate::native::{NativeAdm, NativeEpsDenoiser};
use burn::tensor::{DType, Device, Tensor};
use std::path::Path;
use vmlmap_core::{Denoiser, DenoiserError, Linearization, Shape};

/// What `vmlmap models inspect` reports.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ModelInfo {
    pub source: String,
    pub architecture: String,
    pub preset: Option<String>,
    pub format: String,
    pub tensors: usize,
    pub parameters: usize,
    pub dtypes: Vec<String>,
    pub image: [usize; 3],
    pub learn_sigma: bool,
    /// Channels of the first (full-resolution) level: with the image size, what sets the
    /// memory an image takes in a forward and VJP (see [`ModelInfo::vjp_bytes_per_image`]).
    pub base_channels: usize,
}

impl EpsNetwork for Box<dyn EpsNetwork> {
    fn raw(&self, x_vp: Tensor<4>, ts: &[usize]) -> Tensor<4> {
        (**self).raw(x_vp, ts)
    }
    fn as_adm(&self) -> Option<&Adm> {
        (**self).as_adm()
    }
    fn shape(&self) -> Shape {
        (**self).shape()
    }
}

/// The burn network as a denoiser (autodiff VJP): the reference implementation.
pub type BurnDenoiser = AutodiffDenoiser<EpsDenoiser<Box<dyn EpsNetwork>>>;

/// Which implementation evaluates a network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Engine {
    /// The native CPU kernels ([`crate::native`]) for guided-diffusion UNets in f32 on the
    /// CPU; burn everywhere else (f64, CUDA, diffusers UNets).
    #[default]
    Native,
    /// burn's tensor operations and autodiff everywhere.
    Burn,
}

impl Engine {
    /// `VMLMAP_ENGINE` (`native`, the default, or `burn`).
    pub fn from_env() -> Result<Self, LoadError> {
        match std::env::var("VMLMAP_ENGINE") {
            Err(_) => Ok(Self::Native),
            Ok(v) => v.parse(),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Burn => "burn",
        }
    }
}

impl std::str::FromStr for Engine {
    type Err = LoadError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "native" => Ok(Self::Native),
            "burn" => Ok(Self::Burn),
            other => Err(LoadError::ConfigFile {
                path: "VMLMAP_ENGINE".into(),
                reason: format!("unknown engine {other:?}: expected native or burn"),
            }),
        }
    }
}

/// A loaded model as a denoiser: the burn network, and the native engine built from the
/// same weights when it applies (then it does the work).
pub struct NetworkDenoiser {
    burn: BurnDenoiser,
    native: Option<NativeEpsDenoiser>,
}

impl NetworkDenoiser {
    /// Wraps a burn denoiser; with [`Engine::Native`], a guided-diffusion network in f32 on
    /// the CPU runs on the native kernels.
    pub fn new(burn: BurnDenoiser, engine: Engine) -> Self {
        let native = (engine == Engine::Native
            && burn.precision() == Precision::F32
            && *burn.device() == Device::flex())
        .then(|| burn.network().net.as_adm())
        .flatten()
        .map(|adm| {
            NativeEpsDenoiser::new(
                NativeAdm::from_burn(&adm.net),
                adm.config.image_shape(),
                burn.network().name.clone(),
            )
        });
        Self { burn, native }
    }

    /// The burn network (for benchmarks of burn itself and for training).
    pub fn network(&self) -> &EpsDenoiser<Box<dyn EpsNetwork>> {
        self.burn.network()
    }

    /// The engine that evaluates it.
    pub fn engine(&self) -> Engine {
        if self.native.is_some() {
            Engine::Native
        } else {
            Engine::Burn
        }
    }

    fn active(&self) -> &dyn Denoiser {
        match &self.native {
            Some(n) => n,
            None => &self.burn,
        }
    }
}

impl Denoiser for NetworkDenoiser {
    fn shape(&self) -> Shape {
        self.burn.shape()
    }
    fn name(&self) -> String {
        self.burn.name()
    }
    fn round_sigma(&self, sigma: f64) -> f64 {
        self.burn.round_sigma(sigma)
    }
    fn denoise(&self, x: &[f64], sigma: f64) -> Result<Vec<f64>, DenoiserError> {
        self.active().denoise(x, sigma)
    }
    fn linearize<'a>(
        &'a self,
        x: &[f64],
        sigma: f64,
    ) -> Result<Box<dyn Linearization + 'a>, DenoiserError> {
        self.active().linearize(x, sigma)
    }
    fn denoise_batch(&self, xs: &[f64], sigmas: &[f64]) -> Result<Vec<f64>, DenoiserError> {
        self.active().denoise_batch(xs, sigmas)
    }
    fn linearize_batch<'a>(
        &'a self,
        xs: &[f64],
        sigmas: &[f64],
    ) -> Result<Box<dyn Linearization + 'a>, DenoiserError> {
        self.active().linearize_batch(xs, sigmas)
    }
}

impl ModelInfo {
    /// A summary with the file's format and dtypes (`None`: random weights).
    #[allow(clippy::too_many_arguments)]
    fn new(
        source: &str,
        architecture: &str,
        preset: Option<&str>,
        ck: Option<&Checkpoint>,
        tensors: usize,
        parameters: usize,
        image: Shape,
        learn_sigma: bool,
        base_channels: usize,
    ) -> Self {
        Self {
            source: source.to_string(),
            architecture: architecture.to_string(),
            preset: preset.map(str::to_string),
            format: ck
                .map(|c| c.format.clone())
                .unwrap_or_else(|| "random weights".into()),
            tensors,
            parameters,
            dtypes: ck
                .map(|c| c.dtypes().into_iter().collect())
                .unwrap_or_else(|| vec!["f32".into()]),
            image: [image.c, image.h, image.w],
            learn_sigma,
            base_channels,
        }
    }

    /// An estimate of the memory one image takes in a forward pass kept for a VJP and its
    /// backward: the activations saved for backward amount to about 80 full-resolution
    /// `base_channels` f32 feature maps (measured: `adm-ffhq256` batch 1 peaks at 2.9 GB,
    /// 374 MB of it weights; 2.5 GB / (256² · 128 · 4 B) = 75).
    pub fn vjp_bytes_per_image(&self) -> usize {
        80 * 4 * self.image[1] * self.image[2] * self.base_channels.max(1)
    }

    /// A guided-diffusion model read from checkpoint `ck` with configuration `cfg`.
    fn adm(source: &str, preset: Option<&str>, ck: &Checkpoint, cfg: &AdmConfig) -> Self {
        Self::new(
            source,
            "guided-diffusion UNetModel",
            preset,
            Some(ck),
            ck.tensors.len(),
            ck.parameter_count(),
            cfg.image_shape(),
            cfg.learn_sigma(),
            cfg.model_channels,
        )
    }
}

/// Loads `spec` (preset, file or folder) as a denoiser on `engine` (the command-line edge
/// passes what `VMLMAP_ENGINE` says: [`Engine::from_env`]). `size` overrides the image
/// size of a guided-diffusion model (the network is fully convolutional).
pub fn load_denoiser_on(
    spec: &str,
    device: &Device,
    precision: Precision,
    size: Option<usize>,
    engine: Engine,
) -> Result<(NetworkDenoiser, ModelInfo), LoadError> {
    let dtype = match precision {
        Precision::F32 => DType::F32,
        Precision::F64 => DType::F64,
    };
    let path = Path::new(spec);
    let cfg_err = |source| LoadError::Config {
        path: spec.to_string(),
        error: source,
    };
    let (net, info): (Box<dyn EpsNetwork>, ModelInfo) = if spec == "default" {
        let (net, cfg, ck) = crate::default_model::load(device, dtype)?;
        let info = ModelInfo::adm(
            "default (embedded fashion32)",
            Some("adm-fashion32"),
            &ck,
            &cfg,
        );
        (Box::new(Adm { net, config: cfg }), info)
    } else if PRESETS.contains(&spec) && !path.exists() {
        let mut cfg = AdmConfig::preset(spec).map_err(cfg_err)?;
        if let Some(s) = size {
            cfg.image_size = s;
        }
        let net = random_unet(&cfg, 0, false, device, dtype).map_err(cfg_err)?;
        let info = preset_info(spec, &cfg)?;
        (Box::new(Adm { net, config: cfg }), info)
    } else if path.is_dir() {
        let (net, cfg, ck) = load_ddpm(path, device, dtype)?;
        let image = cfg.image_shape();
        let file = weights_file(path)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let info = ModelInfo::new(
            &file,
            "diffusers UNet2DModel",
            None,
            Some(&ck),
            ck.tensors.len(),
            ck.parameter_count(),
            image,
            cfg.out_channels == 2 * cfg.in_channels,
            cfg.block_out_channels.first().copied().unwrap_or(1),
        );
        (Box::new(Ddpm { net, config: cfg }), info)
    } else if path.is_file() {
        let ck = Checkpoint::open(path)?;
        let mut cfg = config_for(path, &ck)?;
        if let Some(s) = size {
            cfg.image_size = s;
        }
        let net = load_unet(path, &ck, &cfg, device, dtype)?;
        let info = ModelInfo::adm(spec, cfg.preset_name(), &ck, &cfg);
        (Box::new(Adm { net, config: cfg }), info)
    } else {
        return Err(LoadError::ConfigFile {
            path: spec.to_string(),
            reason: format!(
                "no such file or folder, and not a preset ({})",
                PRESETS.join(", ")
            ),
        });
    };
    let name = info.preset.clone().unwrap_or_else(|| info.source.clone());
    let burn = AutodiffDenoiser::new(EpsDenoiser::new(net, name), device.clone(), precision);
    Ok((NetworkDenoiser::new(burn, engine), info))
}

/// What a preset (random weights) is, from its parameter shapes.
fn preset_info(spec: &str, cfg: &AdmConfig) -> Result<ModelInfo, LoadError> {
    let shapes = crate::adm::unet::parameter_shapes(cfg).map_err(|source| LoadError::Config {
        path: spec.to_string(),
        error: source,
    })?;
    Ok(ModelInfo::new(
        spec,
        "guided-diffusion UNetModel",
        Some(spec),
        None,
        shapes.len(),
        shapes
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum(),
        cfg.image_shape(),
        cfg.learn_sigma(),
        cfg.model_channels,
    ))
}

/// Describes a checkpoint file or folder without building the network; also the embedded
/// prior (`default`) and the presets (random weights), as every other command names them.
pub fn inspect(spec: &str) -> Result<ModelInfo, LoadError> {
    let path = Path::new(spec);
    if spec == "default" && !path.exists() {
        let (_, cfg, ck) = crate::default_model::load(&Device::flex(), DType::F32)?;
        return Ok(ModelInfo::adm(
            "default (embedded fashion32)",
            Some("adm-fashion32"),
            &ck,
            &cfg,
        ));
    }
    if PRESETS.contains(&spec) && !path.exists() {
        let cfg = AdmConfig::preset(spec).map_err(|source| LoadError::Config {
            path: spec.to_string(),
            error: source,
        })?;
        return preset_info(spec, &cfg);
    }
    if path.is_dir() {
        let (_, info) =
            load_denoiser_on(spec, &Device::flex(), Precision::F32, None, Engine::Native)?;
        return Ok(info);
    }
    if !path.is_file() {
        return Err(LoadError::ConfigFile {
            path: spec.to_string(),
            reason: "no such file or folder".into(),
        });
    }
    let ck = Checkpoint::open(path)?;
    let cfg = config_for(path, &ck)?;
    // Check that the weights fit, without allocating the network twice.
    let shapes = crate::adm::unet::parameter_shapes(&cfg).map_err(|source| LoadError::Config {
        path: spec.to_string(),
        error: source,
    })?;
    let mut report = crate::checkpoint::MismatchReport::default();
    for (name, shape) in &shapes {
        match ck.shape(name) {
            None => report.missing.push((name.clone(), shape.clone())),
            Some(s)
                if s != shape.as_slice()
                    && s.iter()
                        .filter(|&&d| d != 1)
                        .ne(shape.iter().filter(|&&d| d != 1)) =>
            {
                report.shape.push((name.clone(), shape.clone(), s.to_vec()))
            }
            _ => {}
        }
    }
    report.unexpected = ck
        .tensors
        .keys()
        .filter(|k| !shapes.iter().any(|(n, _)| n == *k))
        .cloned()
        .collect();
    if !report.is_empty() {
        return Err(crate::checkpoint::CheckpointError::Mismatch {
            architecture: "guided-diffusion UNetModel".into(),
            report,
        }
        .into());
    }
    Ok(ModelInfo::adm(spec, cfg.preset_name(), &ck, &cfg))
}
