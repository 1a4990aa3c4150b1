//! The multi-crop pipeline on top of the image core: recipes and their parameter sampling,
//! per-crop rendering, and the batching loader. Plain Rust (no pyo3, no tch).

pub mod augment;
pub mod loader;
pub mod recipe;
