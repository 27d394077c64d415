//! One module per command.

pub mod tasks;
pub mod validate;
