//! Where networks run: a runtime choice, parsed from `cpu`, `cuda`, `cuda:N`, `wgpu` or
//! `wgpu:N`. `wgpu` is burn's WebGPU backend (Vulkan, Metal, DX12 through `wgpu`), which
//! builds from crates.io alone and runs on any GPU, or on a software Vulkan driver
//! (Mesa's lavapipe) where there is none.

use std::str::FromStr;

/// A compute device request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeviceSpec {
    /// burn's `flex` CPU backend (rayon threads, SIMD).
    #[default]
    Cpu,
    /// A CUDA GPU by index (needs the `cuda` cargo feature).
    Cuda(usize),
    /// A wgpu adapter: the best one found (`None`), or the N-th discrete GPU (needs the
    /// `wgpu` cargo feature).
    Wgpu(Option<usize>),
}

/// An unusable device request.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeviceError {
    #[error("unknown device {0:?}: expected cpu, cuda, cuda:N, wgpu or wgpu:N")]
    Unknown(String),
    #[error("device {0:?} needs a build with the `cuda` feature (cargo build --release --features cuda)")]
    CudaNotBuilt(String),
    #[error("device {0:?} needs a build with the `wgpu` feature (cargo build --release --features wgpu)")]
    WgpuNotBuilt(String),
    #[error("device {device:?}: {reason}")]
    Unavailable { device: String, reason: String },
}

impl FromStr for DeviceSpec {
    type Err = DeviceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            "wgpu" => Ok(Self::Wgpu(None)),
            _ => {
                if let Some(i) = s.strip_prefix("cuda:").and_then(|i| i.parse().ok()) {
                    Ok(Self::Cuda(i))
                } else if let Some(i) = s.strip_prefix("wgpu:").and_then(|i| i.parse().ok()) {
                    Ok(Self::Wgpu(Some(i)))
                } else {
                    Err(DeviceError::Unknown(s.to_string()))
                }
            }
        }
    }
}

impl DeviceSpec {
    /// The burn device (without autodiff).
    pub fn device(self) -> Result<burn::tensor::Device, DeviceError> {
        match self {
            Self::Cpu => Ok(burn::tensor::Device::flex()),
            #[cfg(feature = "cuda")]
            Self::Cuda(i) => Ok(burn::tensor::Device::cuda(i)),
            #[cfg(not(feature = "cuda"))]
            Self::Cuda(i) => Err(DeviceError::CudaNotBuilt(format!("cuda:{i}"))),
            #[cfg(feature = "wgpu")]
            Self::Wgpu(i) => wgpu_device(i),
            #[cfg(not(feature = "wgpu"))]
            Self::Wgpu(i) => Err(DeviceError::WgpuNotBuilt(
                i.map_or("wgpu".to_string(), |i| format!("wgpu:{i}")),
            )),
        }
    }

    /// Whether networks on this device run on the CPU (the native engine's home).
    pub fn is_cpu(self) -> bool {
        matches!(self, Self::Cpu)
    }
}

/// A wgpu device, brought up now (one small computation) so that a missing adapter is an
/// error here rather than a panic inside the first network evaluation.
#[cfg(feature = "wgpu")]
fn wgpu_device(i: Option<usize>) -> Result<burn::tensor::Device, DeviceError> {
    use burn::tensor::{DeviceKind, Tensor};
    let name = i.map_or("wgpu".to_string(), |i| format!("wgpu:{i}"));
    let kind = i.map_or(DeviceKind::DefaultDevice, DeviceKind::DiscreteGpu);
    // The runtime reports a missing adapter by panicking; this function turns that into an
    // error, so the panic's own report (and backtrace) is kept off the terminal meanwhile.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let probe = std::panic::catch_unwind(move || {
        let d = burn::tensor::Device::wgpu(kind);
        let t = Tensor::<1>::from_floats([1.0f32, 2.0], &d);
        let v: Vec<f32> = t
            .mul_scalar(2.0)
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        (d, v)
    });
    std::panic::set_hook(hook);
    match probe {
        Ok((d, v)) if v == [2.0, 4.0] => Ok(d),
        Ok((_, v)) => Err(DeviceError::Unavailable {
            device: name,
            reason: format!("a test computation gave {v:?} instead of [2, 4]"),
        }),
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "the wgpu runtime panicked".into());
            Err(DeviceError::Unavailable {
                device: name,
                reason: format!(
                    "no usable GPU adapter ({msg}); on a machine without a GPU, Mesa's lavapipe (Debian: mesa-vulkan-drivers) provides a software Vulkan device"
                ),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_devices_and_rejects_others() {
        assert_eq!("cpu".parse(), Ok(DeviceSpec::Cpu));
        assert_eq!("cuda".parse(), Ok(DeviceSpec::Cuda(0)));
        assert_eq!("cuda:3".parse(), Ok(DeviceSpec::Cuda(3)));
        assert_eq!("wgpu".parse(), Ok(DeviceSpec::Wgpu(None)));
        assert_eq!("wgpu:1".parse(), Ok(DeviceSpec::Wgpu(Some(1))));
        assert!(matches!(
            "gpu".parse::<DeviceSpec>(),
            Err(DeviceError::Unknown(_))
        ));
        assert!(matches!(
            "cuda:x".parse::<DeviceSpec>(),
            Err(DeviceError::Unknown(_))
        ));
        assert!(DeviceSpec::Cpu.device().is_ok());
        #[cfg(not(feature = "cuda"))]
        assert!(matches!(
            DeviceSpec::Cuda(0).device(),
            Err(DeviceError::CudaNotBuilt(_))
        ));
        #[cfg(not(feature = "wgpu"))]
        assert!(matches!(
            DeviceSpec::Wgpu(None).device(),
            Err(DeviceError::WgpuNotBuilt(_))
        ));
    }
}
