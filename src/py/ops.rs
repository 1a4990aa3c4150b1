//! `trex._trex` functions behind `trex.ops`.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3_tch::PyTensor;
use tch::{Device, Kind};

use super::convert::{empty_u8, to_py, SendPtr};
use super::errors::{image_error, io_error, released, tch_error};
use super::spec::Wrap;
use crate::image::decode::{self, DecodeOptions};
use crate::image::file::{read_image_file, FileError, MAX_FILE_BYTES};
use crate::image::geometry::{self, CropBox};
use crate::image::resize::{self, Interpolation};
use crate::image::rng::Rng;
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

/// Reads and decodes an image file into a uint8 [H, W, 3] RGB tensor. Non-regular files (a FIFO,
/// a device), files over `MAX_FILE_BYTES` and files without a JPEG or PNG signature are refused
/// before their content is read.
#[pyfunction]
#[pyo3(signature = (path, *, max_pixels))]
fn decode_image_file(py: Python<'_>, path: std::path::PathBuf, max_pixels: Option<u64>) -> PyResult<PyObject> {
    let shown = path.display().to_string();
    let data = released(py, || read_image_file(&path, MAX_FILE_BYTES))?.map_err(|e| match e {
        FileError::Io(e) => io_error(&e, &shown),
        FileError::Image(e) => image_error(e, Some(&shown)),
    })?;
    decode_bytes(py, &data, options(max_pixels), Some(&shown))
}

/// A checked view of a uint8 [H, W, 3] contiguous CPU tensor: its storage, width and height.
fn hwc_u8(img: &tch::Tensor) -> PyResult<(SendPtr<u8>, usize, usize)> {
    let kind = img.f_kind().map_err(|e| PyTypeError::new_err(format!("img: unsupported tensor dtype ({e})")))?;
    if kind != Kind::Uint8 {
        return Err(PyTypeError::new_err(format!("img must be a uint8 tensor, got dtype {kind:?}")));
    }
    if img.device() != Device::Cpu {
        return Err(PyValueError::new_err(format!("img must be on the CPU, got {:?}", img.device())));
    }
    let shape = img.size();
    let (h, w) = match shape[..] {
        [h, w, 3] if h >= 0 && w >= 0 => (h as usize, w as usize),
        _ => return Err(PyValueError::new_err(format!("img must have shape [H, W, 3], got {shape:?}"))),
    };
    if !img.is_contiguous() {
        return Err(PyValueError::new_err("img must be contiguous (call .contiguous())"));
    }
    Ok((SendPtr(img.data_ptr() as *mut u8, h * w * 3), w, h))
}

/// An output size that is positive and within `MAX_OUTPUT_PIXELS`, checked before allocating.
fn out_size(out_h: i64, out_w: i64) -> PyResult<(usize, usize)> {
    if out_h <= 0 || out_w <= 0 {
        return Err(PyValueError::new_err(format!("output size (h, w) must be positive, got ({out_h}, {out_w})")));
    }
    crate::image::check_output_size(out_h as u64, out_w as u64).map_err(|e| image_error(e, None))?;
    Ok((out_h as usize, out_w as usize))
}

/// Crops `height` x `width` at (`top`, `left`) and resizes to `out_h` x `out_w`: a new uint8
/// [out_h, out_w, 3] tensor.
#[pyfunction]
#[pyo3(signature = (img, top, left, height, width, out_h, out_w, *, interpolation))]
#[allow(clippy::too_many_arguments)]
fn resized_crop(
    py: Python<'_>,
    img: PyTensor,
    top: i64,
    left: i64,
    height: i64,
    width: i64,
    out_h: i64,
    out_w: i64,
    interpolation: Wrap<Interpolation>,
) -> PyResult<PyObject> {
    let Wrap(interp) = interpolation;
    let (src, src_w, src_h) = hwc_u8(&img)?;
    if top < 0 || left < 0 || height <= 0 || width <= 0 {
        return Err(PyValueError::new_err(format!(
            "crop {width}x{height} at ({left},{top}) must have top, left >= 0 and height, width > 0"
        )));
    }
    let crop = CropBox { top: top as usize, left: left as usize, height: height as usize, width: width as usize };
    crop.check_inside(src_w, src_h).map_err(|e| image_error(e, None))?;
    let (out_h, out_w) = out_size(out_h, out_w)?;
    let (tensor, dst) = empty_u8(&[out_h as i64, out_w as i64, 3])?;
    released(py, move || {
        // SAFETY: `img` and `tensor` are alive and distinct for the whole call; `hwc_u8` checked
        // that `img` is a non-empty contiguous uint8 buffer of src_h * src_w * 3 bytes, and
        // `empty_u8` allocated out_h * out_w * 3 bytes for `tensor`.
        let (input, out) = unsafe { (src.as_slice(), dst.as_mut_slice()) };
        resize::resized_crop(input, src_w, src_h, crop, out_w, out_h, interp, out)
    })?
    .map_err(|e| image_error(e, None))?;
    to_py(py, tensor)
}

/// Resamples the region [x0, x1) x [y0, y1) (fractional source coordinates) to `out_h` x `out_w`.
#[pyfunction]
#[pyo3(signature = (img, x0, y0, x1, y1, out_h, out_w, *, interpolation))]
#[allow(clippy::too_many_arguments)]
fn resample_region(
    py: Python<'_>,
    img: PyTensor,
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
    out_h: i64,
    out_w: i64,
    interpolation: Wrap<Interpolation>,
) -> PyResult<PyObject> {
    let Wrap(interp) = interpolation;
    let (src, src_w, src_h) = hwc_u8(&img)?;
    let (out_h, out_w) = out_size(out_h, out_w)?;
    let (tensor, dst) = empty_u8(&[out_h as i64, out_w as i64, 3])?;
    released(py, move || {
        // SAFETY: as in `resized_crop`.
        let (input, out) = unsafe { (src.as_slice(), dst.as_mut_slice()) };
        resize::resample_region(input, src_w, src_h, [x0, y0, x1, y1], out_w, out_h, interp, out)
    })?
    .map_err(|e| image_error(e, None))?;
    to_py(py, tensor)
}

/// A new uint8 [H, W, 3] tensor, `img` mirrored left to right.
#[pyfunction]
fn hflip(py: Python<'_>, img: PyTensor) -> PyResult<PyObject> {
    let (src, w, h) = hwc_u8(&img)?;
    let (tensor, dst) = empty_u8(&[h as i64, w as i64, 3])?;
    released(py, move || {
        // SAFETY: as in `resized_crop`; both buffers hold h * w * 3 bytes.
        let (input, out) = unsafe { (src.as_slice(), dst.as_mut_slice()) };
        out.copy_from_slice(input);
        geometry::hflip(out, w, h);
    })?;
    to_py(py, tensor)
}

/// `n` RandomResizedCrop boxes for a `width` x `height` image, box `i` drawn from
/// `Rng::keyed(seed, &[i])`: an int64 tensor [n, 4] of (top, left, height, width).
#[pyfunction]
#[pyo3(signature = (width, height, scale, ratio, seed, n))]
fn sample_resized_crops(
    py: Python<'_>,
    width: usize,
    height: usize,
    scale: (f64, f64),
    ratio: (f64, f64),
    seed: u64,
    n: usize,
) -> PyResult<PyObject> {
    geometry::check_crop_params(scale, ratio).map_err(|e| image_error(e, None))?;
    if width == 0 || height == 0 {
        return Err(PyValueError::new_err(format!("image size {width}x{height} is empty")));
    }
    let len = n
        .checked_mul(4)
        .filter(|&l| l <= (1 << 32))
        .ok_or_else(|| PyValueError::new_err(format!("n = {n} is too large")))?;
    let boxes = released(py, move || {
        let mut v = Vec::with_capacity(len);
        for i in 0..n {
            let b = geometry::sample_resized_crop(width, height, scale, ratio, &mut Rng::keyed(seed, &[i as u64]));
            v.extend([b.top as i64, b.left as i64, b.height as i64, b.width as i64]);
        }
        v
    })?;
    let t = tch::Tensor::f_from_slice(&boxes).and_then(|t| t.f_reshape([n as i64, 4])).map_err(tch_error)?;
    to_py(py, t)
}

// ---- colour ops and blur: a new uint8 [H, W, 3] tensor, the op applied to it in place ----

/// Copies `img` (uint8 [H, W, 3], contiguous, on the CPU) into a new tensor and applies `op` to
/// the copy (buffer, width, height) with the GIL released.
fn map_image<F>(py: Python<'_>, img: &PyTensor, op: F) -> PyResult<PyObject>
where
    F: FnOnce(&mut [u8], usize, usize) -> crate::image::Result<()> + Send,
{
    let (src, w, h) = hwc_u8(img)?;
    let (out, dst) = empty_u8(&[h as i64, w as i64, 3])?;
    released(py, move || {
        // SAFETY: `img` and `out` are alive and distinct for the whole call, each w * h * 3 bytes
        // (checked by `hwc_u8`, allocated by `empty_u8`); `img` is only read.
        let (input, output) = unsafe { (src.as_slice(), dst.as_mut_slice()) };
        output.copy_from_slice(input);
        op(output, w, h)
    })?
    .map_err(|e| image_error(e, None))?;
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
    m.add_function(wrap_pyfunction!(resized_crop, m)?)?;
    m.add_function(wrap_pyfunction!(resample_region, m)?)?;
    m.add_function(wrap_pyfunction!(hflip, m)?)?;
    m.add_function(wrap_pyfunction!(sample_resized_crops, m)?)?;
    m.add_function(wrap_pyfunction!(adjust_brightness, m)?)?;
    m.add_function(wrap_pyfunction!(adjust_contrast, m)?)?;
    m.add_function(wrap_pyfunction!(adjust_saturation, m)?)?;
    m.add_function(wrap_pyfunction!(adjust_hue, m)?)?;
    m.add_function(wrap_pyfunction!(to_grayscale, m)?)?;
    m.add_function(wrap_pyfunction!(solarize, m)?)?;
    m.add_function(wrap_pyfunction!(gaussian_blur, m)?)?;
    Ok(())
}
