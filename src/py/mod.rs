//! The Python bindings: argument extraction, one released-GIL call into the core, result
//! conversion. No image or bank logic lives here.

mod bank;
mod convert;
mod device;
mod errors;
mod loader;
mod ops;

use pyo3::prelude::*;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("build_profile", env!("TREX_BUILD_PROFILE"))?;
    // The documented limits (README, "Guarantees and limits").
    m.add("MAX_FILE_BYTES", crate::image::file::MAX_FILE_BYTES)?;
    m.add("MAX_OUTPUT_PIXELS", crate::image::MAX_OUTPUT_PIXELS)?;
    m.add("MAX_PREFETCH", crate::pipeline::loader::MAX_PREFETCH)?;
    m.add("MAX_THREADS", crate::pipeline::loader::MAX_THREADS)?;
    m.add("MAX_CROPS", crate::pipeline::recipe::MAX_CROPS)?;
    ops::register(m)?;
    loader::register(m)?;
    bank::register(m)?;
    Ok(())
}
