//! Where networks run: a runtime choice, parsed from `cpu`, `cuda` or `cuda:N`.

use std::str::FromStr;

/// A compute device request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeviceSpec {
    /// burn's `flex` CPU backend (rayon threads, SIMD).
    #[default]
    Cpu,
    /// A CUDA GPU by index (needs the `cuda` cargo feature).
    Cuda(usize),
}

/// An unusable device request.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeviceError {
    #[error("unknown device {0:?}: expected cpu, cuda or cuda:N")]
    Unknown(String),
    #[error("device {0:?} needs a build with the `cuda` feature (cargo build --release --features cuda)")]
    CudaNotBuilt(String),
}

impl FromStr for DeviceSpec {
    type Err = DeviceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|i| i.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| DeviceError::Unknown(s.to_string())),
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
    }
}
