//! The Python bindings: argument extraction, one released-GIL call into the core, result
//! conversion. No image or bank logic lives here.

mod bank;
mod convert;
mod device;
mod errors;
mod loader;
mod ops;
mod spec;

use pyo3::prelude::*;

use crate::image::resize::Interpolation;
use crate::image::Named;
use crate::pipeline::loader::{OnError, OutDtype};
use crate::pipeline::recipe::{Recipe, CROP_PARAMS};
use spec::{names, Wrap};

/// The (height, width, crops) of each output tensor of `recipe` (a `MultiCropRecipe`): consecutive
/// groups of the same size share one.
#[pyfunction]
fn recipe_outputs(recipe: Wrap<Recipe>) -> Vec<(usize, usize, usize)> {
    recipe.0.outputs()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("build_profile", env!("TREX_BUILD_PROFILE"))?;
    // The documented limits (README, "Guarantees and limits").
    m.add("MAX_FILE_BYTES", crate::image::file::MAX_FILE_BYTES)?;
    m.add("MAX_OUTPUT_PIXELS", crate::image::MAX_OUTPUT_PIXELS)?;
    m.add("MAX_PREFETCH", crate::pipeline::loader::MAX_PREFETCH)?;
    m.add("MAX_THREADS", crate::pipeline::loader::MAX_THREADS)?;
    m.add("MAX_CROPS", crate::pipeline::recipe::MAX_CROPS)?;
    // The valid names of the named options, and the fields of a `return_params` row.
    m.add("INTERPOLATIONS", names::<Interpolation>())?;
    m.add("DTYPES", names::<OutDtype>())?;
    m.add("ON_ERRORS", names::<OnError>())?;
    m.add("CROP_PARAMS", CROP_PARAMS.map(|(name, kind)| (name, kind.name())).to_vec())?;
    m.add_function(wrap_pyfunction!(recipe_outputs, m)?)?;
    ops::register(m)?;
    loader::register(m)?;
    bank::register(m)?;
    Ok(())
}
