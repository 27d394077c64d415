//! Training the project's own prior: the epsilon-prediction DDPM objective (Ho et al. 2020)
//! on the guided-diffusion UNet, with AdamW (Loshchilov & Hutter 2019), an exponential
//! moving average of the weights, and atomically written resumable checkpoints.

pub mod adamw;
pub mod data;
pub mod eval;
pub mod lr;
pub mod plot;
pub mod trainer;

/// A training failure.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("data: {0}")]
    Data(String),
    #[error("training checkpoint {path}: {reason}")]
    Checkpoint { path: String, reason: String },
    #[error("export {path}: {reason}")]
    Export { path: String, reason: String },
    #[error("invalid training setting {field} = {value}: {reason}")]
    Config {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error(transparent)]
    Model(#[from] vmlmap_models::adm::ConfigError),
}
