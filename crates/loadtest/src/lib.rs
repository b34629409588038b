//! Load harness (placeholder: being written).
pub mod cli;
