//! `trex._trex` functions behind `trex.ops`.

use pyo3::prelude::*;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3_tch::PyTensor;
use tch::{Device, Kind};

use super::convert::{empty_u8, tch_error, to_py, SendPtr};
use super::errors::{image_error, io_error, released};
use crate::image::decode::{self, DecodeOptions};
use crate::image::{blur, color};

fn options(max_pixels: Option<u64>) -> DecodeOptions {
    DecodeOptions { max_pixels: max_pixels.unwrap_or(u64::MAX) }
}

fn decode_bytes(py: Python<'_>, data: &[u8], opts: DecodeOptions, name: Option<&str>) -> PyResult<PyObject> {
    let header = released(py, || decode::read_header(data, &opts))?.map_err(|e| image_error(e, name))?;
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
fn decode_image(py: Python<'_>, data: &[u8], max_pixels: Option<u64>, name: Option<&str>) -> PyResult<PyObject> {
    decode_bytes(py, data, options(max_pixels), name)
}

/// Reads and decodes an image file into a uint8 [H, W, 3] RGB tensor.
#[pyfunction]
#[pyo3(signature = (path, *, max_pixels))]
fn decode_image_file(py: Python<'_>, path: std::path::PathBuf, max_pixels: Option<u64>) -> PyResult<PyObject> {
    let shown = path.display().to_string();
    let data = released(py, || std::fs::read(&path))?.map_err(|e| io_error(&e, &shown))?;
    decode_bytes(py, &data, options(max_pixels), Some(&shown))
}

// ---- colour ops and blur: a new uint8 [H, W, 3] tensor, the op applied to it in place ----

/// Copies `img` (uint8 [H, W, 3] on the CPU) into a new contiguous tensor and applies `op` to the
/// copy (buffer, width, height) with the GIL released.
fn map_image<F>(py: Python<'_>, img: &PyTensor, op: F) -> PyResult<PyObject>
where
    F: FnOnce(&mut [u8], usize, usize) -> crate::image::Result<()> + Send,
{
    let kind = img.f_kind().map_err(tch_error)?;
    if kind != Kind::Uint8 {
        return Err(PyTypeError::new_err(format!("expected a uint8 image tensor, got dtype {kind:?}")));
    }
    if img.device() != Device::Cpu {
        return Err(PyValueError::new_err(format!("expected a CPU image tensor, got device {:?}", img.device())));
    }
    let shape = img.size();
    let &[h, w, 3] = shape.as_slice() else {
        return Err(PyValueError::new_err(format!("expected an image of shape [H, W, 3], got {shape:?}")));
    };
    let src = if img.is_contiguous() { img.shallow_clone() } else { img.f_contiguous().map_err(tch_error)? };
    let (out, dst) = empty_u8(&[h, w, 3])?;
    let (hu, wu) = (h as usize, w as usize);
    if dst.1 > 0 {
        let from = SendPtr(src.data_ptr() as *mut u8, dst.1);
        released(py, move || {
            // SAFETY: `src` and `out` are alive and contiguous with `dst.1` bytes each, `out` is new
            // and unshared, `src` is only read.
            let (input, output) = unsafe { (from.as_slice(), dst.as_mut_slice()) };
            output.copy_from_slice(input);
            op(output, wu, hu)
        })?
        .map_err(|e| image_error(e, None))?;
    }
    drop(src);
    to_py(py, out)
}

/// [`map_image`] for an op that cannot fail and needs no size.
fn map_pixels<F>(py: Python<'_>, img: &PyTensor, op: F) -> PyResult<PyObject>
where
    F: FnOnce(&mut [u8]) + Send,
{
    map_image(py, img, |buf, _, _| {
        op(buf);
        Ok(())
    })
}

/// Brightness as torchvision on a PIL image (Pillow's ImageEnhance.Brightness).
#[pyfunction]
fn adjust_brightness(py: Python<'_>, img: PyTensor, factor: f64) -> PyResult<PyObject> {
    color::check_factor("brightness", factor).map_err(|e| image_error(e, None))?;
    map_pixels(py, &img, move |buf| color::adjust_brightness(buf, factor))
}

/// Contrast as torchvision on a PIL image (Pillow's ImageEnhance.Contrast).
#[pyfunction]
fn adjust_contrast(py: Python<'_>, img: PyTensor, factor: f64) -> PyResult<PyObject> {
    color::check_factor("contrast", factor).map_err(|e| image_error(e, None))?;
    map_pixels(py, &img, move |buf| color::adjust_contrast(buf, factor))
}

/// Saturation as torchvision on a PIL image (Pillow's ImageEnhance.Color).
#[pyfunction]
fn adjust_saturation(py: Python<'_>, img: PyTensor, factor: f64) -> PyResult<PyObject> {
    color::check_factor("saturation", factor).map_err(|e| image_error(e, None))?;
    map_pixels(py, &img, move |buf| color::adjust_saturation(buf, factor))
}

/// Hue as torchvision on a PIL image (Pillow's uint8 HSV).
#[pyfunction]
fn adjust_hue(py: Python<'_>, img: PyTensor, hue_factor: f64) -> PyResult<PyObject> {
    color::check_hue(hue_factor).map_err(|e| image_error(e, None))?;
    map_pixels(py, &img, move |buf| color::adjust_hue(buf, hue_factor))
}

/// Pillow's L conversion, replicated to 3 channels.
#[pyfunction]
fn to_grayscale(py: Python<'_>, img: PyTensor) -> PyResult<PyObject> {
    map_pixels(py, &img, color::to_grayscale)
}

/// Inverts every value >= threshold.
#[pyfunction]
fn solarize(py: Python<'_>, img: PyTensor, threshold: u8) -> PyResult<PyObject> {
    map_pixels(py, &img, move |buf| color::solarize(buf, threshold))
}

/// torchvision's gaussian_blur with kernel_size (default 2*ceil(3*sigma)+1) and [sigma, sigma].
#[pyfunction]
#[pyo3(signature = (img, sigma, kernel_size=None))]
fn gaussian_blur(py: Python<'_>, img: PyTensor, sigma: f64, kernel_size: Option<usize>) -> PyResult<PyObject> {
    // Parameters first, so that an empty image still gets them checked.
    let shape = img.size();
    if let &[h, w, 3] = shape.as_slice() {
        let (w, h) = (w as usize, h as usize);
        blur::check_blur(w * h * 3, w, h, sigma, kernel_size).map_err(|e| image_error(e, None))?;
    }
    map_image(py, &img, move |buf, w, h| blur::gaussian_blur(buf, w, h, sigma, kernel_size))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(decode_image, m)?)?;
    m.add_function(wrap_pyfunction!(decode_image_file, m)?)?;
    m.add_function(wrap_pyfunction!(adjust_brightness, m)?)?;
    m.add_function(wrap_pyfunction!(adjust_contrast, m)?)?;
    m.add_function(wrap_pyfunction!(adjust_saturation, m)?)?;
    m.add_function(wrap_pyfunction!(adjust_hue, m)?)?;
    m.add_function(wrap_pyfunction!(to_grayscale, m)?)?;
    m.add_function(wrap_pyfunction!(solarize, m)?)?;
    m.add_function(wrap_pyfunction!(gaussian_blur, m)?)?;
    Ok(())
}
