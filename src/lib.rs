//! trex: the Rust core of the t-ReX package.
//!
//! `image` (decode, geometry, colour, sampling) and `pipeline` (recipes, multi-crop loader) are
//! plain Rust (no pyo3, no tch), tested with a plain `cargo test`; `bank` (the prototype memory)
//! and `augment` (the colour stage as batched device ops) use tch (feature `torch`); `py` is the
//! only module that touches pyo3 (feature `python`).

pub mod image;
pub mod pipeline;

#[cfg(feature = "torch")]
pub mod augment;
#[cfg(feature = "torch")]
pub mod bank;

#[cfg(feature = "python")]
mod py;

#[cfg(feature = "python")]
#[pyo3::pymodule]
fn _trex(m: &pyo3::Bound<'_, pyo3::types::PyModule>) -> pyo3::PyResult<()> {
    py::register(m)
}
