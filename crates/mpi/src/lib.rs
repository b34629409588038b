//! Master patient index (placeholder: being written).
pub mod cli;
