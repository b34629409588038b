//! Synthetic region generator (placeholder: being written).
pub mod cli;
