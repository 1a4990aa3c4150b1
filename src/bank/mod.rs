//! The prototype memory bank and the prototype logits, written with tch ops so they run on the
//! device of their tensors (CPU or CUDA) and stay differentiable through PyTorch autograd.
//!
//! No pyo3 here: `src/py/bank.rs` binds it. Every tch call is a fallible `f_*` method; errors
//! are `BankError`.

mod check;
pub mod error;
pub mod logits;
pub mod memory;

pub use error::{BankError, Result};
pub use logits::{prototype_logits, prototype_loss};
pub use memory::{Memory, STATE};

#[cfg(test)]
mod tests;
