//! One module per command.

pub mod bench_nfe;
pub mod denoise;
pub mod models;
pub mod tasks;
pub mod train;
pub mod validate;
