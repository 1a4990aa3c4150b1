//! trex: the Rust core of the t-ReX package.
//!
//! `image` is plain Rust (no pyo3, no tch) and is tested with a plain `cargo test`; `bank` uses
//! tch (feature `torch`); `py` is the only module that touches pyo3 (feature `python`).

pub mod image;

#[cfg(feature = "torch")]
pub mod bank;

#[cfg(feature = "python")]
mod py;

#[cfg(feature = "python")]
#[pyo3::pymodule]
fn _trex(m: &pyo3::Bound<'_, pyo3::types::PyModule>) -> pyo3::PyResult<()> {
    py::register(m)
}
