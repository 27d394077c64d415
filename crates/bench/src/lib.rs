//! Validation harness.
