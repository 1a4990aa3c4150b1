//! Errors of the prototype memory and the prototype logits. Messages say what was expected and
//! what arrived; `src/py/errors.rs` maps them to `trex.MemoryBankError` (a `ValueError`).

use thiserror::Error;

#[derive(Debug, Error)]
pub enum BankError {
    /// A tensor has the wrong number of dimensions or the wrong size along one of them.
    #[error("{name} must be a {expected} tensor, got shape {got}")]
    Shape { name: &'static str, expected: String, got: String },
    /// A tensor has a dtype the operation cannot use.
    #[error("{name} must have a {expected} dtype, got {got}")]
    Dtype { name: &'static str, expected: &'static str, got: String },
    /// Two tensors that pair row by row have different lengths.
    #[error("batch sizes differ: {first} has {first_rows} rows, {second} has {second_rows}")]
    BatchMismatch { first: &'static str, first_rows: i64, second: &'static str, second_rows: i64 },
    /// A label outside [0, num_classes).
    #[error("labels must lie in [0, {num_classes}), got values from {min} to {max}")]
    LabelRange { min: i64, max: i64, num_classes: i64 },
    /// NaN or infinite values where finite ones are needed.
    #[error("{name} must be finite, got {count} NaN or infinite values")]
    NonFinite { name: &'static str, count: i64 },
    /// Tensors that must share a device do not.
    #[error("{name} is on {got} but {other} is on {expected}; move them to one device")]
    Device { name: &'static str, got: String, other: &'static str, expected: String },
    /// A scalar argument out of its range (sizes, temperature).
    #[error("{0}")]
    Parameter(String),
    /// A torch operation failed (out of memory, for instance).
    #[error("torch operation failed: {0}")]
    Tch(#[from] tch::TchError),
}

pub type Result<T> = std::result::Result<T, BankError>;
