//! `trex._trex` functions behind `trex.ops`.

use pyo3::prelude::*;

use super::convert::{empty_u8, to_py};
use super::errors::{image_error, io_error, released};
use crate::image::decode::{self, DecodeOptions};

fn options(max_pixels: Option<u64>) -> DecodeOptions {
    DecodeOptions {
        max_pixels: max_pixels.unwrap_or(u64::MAX),
    }
}

fn decode_bytes(
    py: Python<'_>,
    data: &[u8],
    opts: DecodeOptions,
    name: Option<&str>,
) -> PyResult<PyObject> {
    let header =
        released(py, || decode::read_header(data, &opts))?.map_err(|e| image_error(e, name))?;
    let (w, h) = header.size();
    let (tensor, ptr) = empty_u8(&[h as i64, w as i64, 3])?;
    released(py, move || {
        // SAFETY: `tensor` is alive and untouched until this closure returns.
        let out = unsafe { ptr.as_mut_slice() };
        decode::decode_into(data, &header, 1, out)
    })?
    .map_err(|e| image_error(e, name))?;
    to_py(py, tensor)
}

/// Decodes JPEG or PNG bytes into a uint8 [H, W, 3] RGB tensor.
#[pyfunction]
#[pyo3(signature = (data, *, max_pixels, name=None))]
fn decode_image(
    py: Python<'_>,
    data: &[u8],
    max_pixels: Option<u64>,
    name: Option<&str>,
) -> PyResult<PyObject> {
    decode_bytes(py, data, options(max_pixels), name)
}

/// Reads and decodes an image file into a uint8 [H, W, 3] RGB tensor.
#[pyfunction]
#[pyo3(signature = (path, *, max_pixels))]
fn decode_image_file(
    py: Python<'_>,
    path: std::path::PathBuf,
    max_pixels: Option<u64>,
) -> PyResult<PyObject> {
    let shown = path.display().to_string();
    let data = released(py, || std::fs::read(&path))?.map_err(|e| io_error(&e, &shown))?;
    decode_bytes(py, &data, options(max_pixels), Some(&shown))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(decode_image, m)?)?;
    m.add_function(wrap_pyfunction!(decode_image_file, m)?)?;
    Ok(())
}
