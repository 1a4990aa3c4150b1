//! The Python bindings: argument extraction, one released-GIL call into the core, result
//! conversion. No image or bank logic lives here.

mod bank;
mod convert;
mod errors;
mod loader;
mod ops;

use pyo3::prelude::*;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("build_profile", env!("TREX_BUILD_PROFILE"))?;
    ops::register(m)?;
    loader::register(m)?;
    bank::register(m)?;
    Ok(())
}
