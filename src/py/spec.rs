//! Python values read as core structs, one `FromPyObject` per struct (polars' `Wrap<T>`): a crop
//! group, a recipe, the loader's options (`trex.data.loader.LoaderSpec`), and every named option
//! (interpolation, dtype, on_error) through the core's one list of names ([`Named`]).
//!
//! Objects are read by attribute name, so the Python side is any object with those attributes
//! (the frozen dataclasses of `trex.data.recipes` and `trex.data.loader`). A field added to a core
//! struct fails to compile here until it is read.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::image::decode::DecodeOptions;
use crate::image::Named;
use crate::pipeline::loader::{LoaderConfig, OutDtype};
use crate::pipeline::recipe::{CropGroup, Jitter, Recipe};

/// A core value read from Python.
pub struct Wrap<T>(pub T);

/// `ob.<name>`, extracted; a wrongly typed value is a `TypeError` naming the attribute.
fn attr<'py, T: FromPyObject<'py>>(ob: &Bound<'py, PyAny>, name: &str) -> PyResult<T> {
    let value = ob.getattr(PyString::intern(ob.py(), name))?;
    value.extract().map_err(|e| {
        if e.is_instance_of::<PyTypeError>(ob.py()) {
            PyTypeError::new_err(format!("{name}: {}", e.value(ob.py())))
        } else {
            e
        }
    })
}

/// A named option from its name; a `ValueError` listing the valid names otherwise.
impl<'py, T: Named> FromPyObject<'py> for Wrap<T> {
    fn extract_bound(ob: &Bound<'py, PyAny>) -> PyResult<Self> {
        let Ok(name) = ob.downcast::<PyString>() else {
            return Err(PyTypeError::new_err(format!(
                "{} must be one of {}, got {}",
                T::WHAT,
                T::choices(),
                ob.get_type().name()?
            )));
        };
        let name = name.to_cow()?;
        T::from_name(&name)
            .map(Wrap)
            .ok_or_else(|| PyValueError::new_err(format!("{} must be one of {}, got '{name}'", T::WHAT, T::choices())))
    }
}

/// `trex.data.recipes.ColorJitter`.
impl<'py> FromPyObject<'py> for Wrap<Jitter> {
    fn extract_bound(ob: &Bound<'py, PyAny>) -> PyResult<Self> {
        Ok(Wrap(Jitter {
            p: attr(ob, "p")?,
            brightness: attr(ob, "brightness")?,
            contrast: attr(ob, "contrast")?,
            saturation: attr(ob, "saturation")?,
            hue: attr(ob, "hue")?,
        }))
    }
}

/// `trex.data.recipes.CropGroup`.
impl<'py> FromPyObject<'py> for Wrap<CropGroup> {
    fn extract_bound(ob: &Bound<'py, PyAny>) -> PyResult<Self> {
        Ok(Wrap(CropGroup {
            count: attr(ob, "count")?,
            size: attr(ob, "size")?,
            scale: attr(ob, "scale")?,
            ratio: attr(ob, "ratio")?,
            interpolation: attr::<Wrap<_>>(ob, "interpolation")?.0,
            flip_p: attr(ob, "flip_p")?,
            jitter: attr::<Wrap<_>>(ob, "jitter")?.0,
            grayscale_p: attr(ob, "grayscale_p")?,
            blur_p: attr(ob, "blur_p")?,
            blur_sigma: attr(ob, "blur_sigma")?,
            solarize_p: attr(ob, "solarize_p")?,
            solarize_threshold: attr(ob, "solarize_threshold")?,
        }))
    }
}

/// `trex.data.recipes.MultiCropRecipe` (its groups; the name stays in Python).
impl<'py> FromPyObject<'py> for Wrap<Recipe> {
    fn extract_bound(ob: &Bound<'py, PyAny>) -> PyResult<Self> {
        let groups: Vec<Wrap<CropGroup>> = attr(ob, "groups")?;
        Ok(Wrap(Recipe { groups: groups.into_iter().map(|g| g.0).collect() }))
    }
}

/// `trex.data.loader.LoaderSpec` with every default resolved (`MultiCropLoader` resolves them):
/// the loader's options. Its recipe is read as a [`Wrap<Recipe>`].
impl<'py> FromPyObject<'py> for Wrap<LoaderConfig> {
    fn extract_bound(ob: &Bound<'py, PyAny>) -> PyResult<Self> {
        let max_pixels: Option<u64> = attr(ob, "max_pixels")?;
        // With a `device` its colour stage runs there (src/augment): the workers cut uint8 crops
        // and leave the colour stage to it (`dtype`, checked all the same, is for the CPU path).
        let defer_colour = attr::<Option<String>>(ob, "device")?.is_some();
        let dtype = attr::<Wrap<OutDtype>>(ob, "dtype")?.0;
        Ok(Wrap(LoaderConfig {
            batch_size: attr(ob, "batch_size")?,
            seed: attr(ob, "seed")?,
            shuffle: attr(ob, "shuffle")?,
            drop_last: attr(ob, "drop_last")?,
            rank: attr(ob, "rank")?,
            world_size: attr(ob, "world_size")?,
            num_threads: attr(ob, "num_threads")?,
            prefetch: attr(ob, "prefetch")?,
            dtype: if defer_colour { OutDtype::U8 } else { dtype },
            on_error: attr::<Wrap<_>>(ob, "on_error")?.0,
            decode: DecodeOptions { max_pixels: max_pixels.unwrap_or(u64::MAX) },
            return_params: attr(ob, "return_params")?,
            dct_scaling: attr(ob, "dct_scaling")?,
            mean: attr(ob, "mean")?,
            std: attr(ob, "std")?,
            defer_colour,
            // `resize_on_device`: the workers only decode (the core refuses it without a device).
            defer_resize: attr(ob, "resize_on_device")?,
        }))
    }
}

/// The named options' valid values, as Python sees them (`trex._trex.INTERPOLATIONS`, ...).
pub fn names<T: Named>() -> Vec<&'static str> {
    T::ALL.iter().map(|(n, _)| *n).collect()
}
