//! One module per command.

pub mod bench_nfe;
pub mod degrade;
pub mod demo;
pub mod denoise;
pub mod models;
pub mod restore;
pub mod sample;
pub mod tasks;
pub mod train;
pub mod validate;
