//! `trex._trex.Loader`: the multi-crop loader behind `trex.MultiCropLoader`.
//! Batches are torch tensors allocated by the producer thread and filled in place.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3_tch::PyTensor;
use tch::{Device, Kind, Tensor};

use super::convert::{tch_error, to_py};
use super::errors::{image_error, released, TrexError};
use crate::image::decode::DecodeOptions;
use crate::image::resize::Interpolation;
use crate::pipeline::loader::{
    Allocator, EpochStream, Loader, LoaderConfig, LoaderError, Next, OnError, OutDtype, Sample, SampleError,
};
use crate::pipeline::recipe::{CropGroup, Jitter, Recipe, PARAM_FIELDS};

/// How often a waiting `__next__` wakes up to let Python handle Ctrl-C.
const POLL: Duration = Duration::from_millis(50);

pub fn parse_interpolation(name: &str) -> PyResult<Interpolation> {
    match name {
        "nearest" => Ok(Interpolation::Nearest),
        "bilinear" => Ok(Interpolation::Bilinear),
        "bicubic" => Ok(Interpolation::Bicubic),
        other => Err(PyValueError::new_err(format!(
            "interpolation must be one of 'nearest', 'bilinear', 'bicubic', got {other:?}"
        ))),
    }
}

/// Reads `trex.data.recipes.ColorJitter` attributes.
#[derive(FromPyObject)]
struct PyJitter {
    #[pyo3(attribute)]
    p: f64,
    #[pyo3(attribute)]
    brightness: f64,
    #[pyo3(attribute)]
    contrast: f64,
    #[pyo3(attribute)]
    saturation: f64,
    #[pyo3(attribute)]
    hue: f64,
}

/// Reads `trex.data.recipes.CropGroup` attributes.
#[derive(FromPyObject)]
struct PyCropGroup {
    #[pyo3(attribute)]
    count: usize,
    #[pyo3(attribute)]
    size: (usize, usize),
    #[pyo3(attribute)]
    scale: (f64, f64),
    #[pyo3(attribute)]
    ratio: (f64, f64),
    #[pyo3(attribute)]
    interpolation: String,
    #[pyo3(attribute)]
    flip_p: f64,
    #[pyo3(attribute)]
    jitter: PyJitter,
    #[pyo3(attribute)]
    grayscale_p: f64,
    #[pyo3(attribute)]
    blur_p: f64,
    #[pyo3(attribute)]
    blur_sigma: (f64, f64),
    #[pyo3(attribute)]
    solarize_p: f64,
    #[pyo3(attribute)]
    solarize_threshold: u8,
}

impl PyCropGroup {
    fn into_core(self) -> PyResult<CropGroup> {
        let j = self.jitter;
        Ok(CropGroup {
            count: self.count,
            size: self.size,
            scale: self.scale,
            ratio: self.ratio,
            interpolation: parse_interpolation(&self.interpolation)?,
            flip_p: self.flip_p,
            jitter: Jitter {
                p: j.p,
                brightness: j.brightness,
                contrast: j.contrast,
                saturation: j.saturation,
                hue: j.hue,
            },
            grayscale_p: self.grayscale_p,
            blur_p: self.blur_p,
            blur_sigma: self.blur_sigma,
            solarize_p: self.solarize_p,
            solarize_threshold: self.solarize_threshold,
        })
    }
}

fn sample_error(e: &SampleError) -> PyErr {
    match e {
        SampleError::Io { kind: std::io::ErrorKind::NotFound, .. } => PyFileNotFoundError::new_err(e.to_string()),
        SampleError::Io { .. } => PyOSError::new_err(e.to_string()),
        SampleError::Image { path, error } => image_error(error.clone(), Some(path)),
    }
}

fn loader_error(e: LoaderError) -> PyErr {
    match e {
        LoaderError::Sample(s) => sample_error(&s),
        LoaderError::Config(m) => PyValueError::new_err(m),
        LoaderError::Alloc(m) => PyRuntimeError::new_err(format!("could not allocate a batch: {m}")),
        LoaderError::Image(e) => image_error(e, None),
    }
}

/// Batch tensors handed back by Python once nothing else refers to them (`Loader.recycle`), for
/// the producer to fill again: a fresh tensor costs a page fault and the kernel zeroing each of
/// its pages, as much time as writing the crops into it.
type Pool = Arc<Mutex<Vec<Tensor>>>;

/// The torch element type of a batch tensor.
fn tensor_kind(dtype: OutDtype) -> Kind {
    match dtype {
        OutDtype::U8 => Kind::Uint8,
        OutDtype::F32 => Kind::Float,
    }
}

/// Torch CPU tensors, taken from the pool when one of the same shape and type waits there, else
/// allocated (and pinned, with `pin`).
struct TorchAlloc {
    pin: bool,
    pool: Pool,
}

impl Allocator for TorchAlloc {
    type Buf = Tensor;

    fn alloc(&self, shape: [usize; 4], dtype: OutDtype) -> Result<Tensor, String> {
        let kind = tensor_kind(dtype);
        let shape = shape.map(|d| d as i64);
        if let Ok(mut pool) = self.pool.lock() {
            if let Some(i) = pool.iter().position(|t| t.kind() == kind && t.size() == shape) {
                return Ok(pool.swap_remove(i));
            }
        }
        let fresh = Tensor::f_empty(shape, (kind, Device::Cpu)).map_err(|e| e.to_string())?;
        if self.pin {
            // Only until Python hands pinned tensors back (see `recycle`): `_pin_memory` copies
            // into a block of torch's caching host allocator. (Not `pin_memory`, whose device
            // argument, always passed by tch, is deprecated and warns on every call.)
            fresh.f_internal_pin_memory(Device::Cuda(0)).map_err(|e| e.to_string())
        } else {
            Ok(fresh)
        }
    }

    fn bytes<'a>(&self, buf: &'a mut Tensor) -> &'a mut [u8] {
        let n = buf.numel() * buf.kind().elt_size_in_bytes();
        // SAFETY: a contiguous CPU tensor (fresh, or recycled with nothing else referring to it)
        // owned by `buf`, borrowed mutably for 'a.
        unsafe { std::slice::from_raw_parts_mut(buf.data_ptr() as *mut u8, n) }
    }
}

#[pyclass(name = "Loader", module = "trex._trex", frozen)]
pub struct PyLoader {
    inner: Arc<Loader>,
    pin_memory: bool,
    pool: Pool,
}

/// Tensors the pool keeps at most: enough for the batches in flight (prefetch + the one being
/// built + the ones Python is still checking), per output resolution.
fn pool_capacity(prefetch: usize, outputs: usize) -> usize {
    (prefetch + 4) * outputs.max(1)
}

#[pymethods]
impl PyLoader {
    #[new]
    #[pyo3(signature = (paths, labels, groups, *, batch_size, seed, shuffle, drop_last, rank, world_size,
        num_threads, prefetch, dtype, on_error, max_pixels, return_params, dct_scaling, mean, std, pin_memory))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        paths: Vec<PathBuf>,
        labels: Vec<i64>,
        groups: Vec<PyCropGroup>,
        batch_size: usize,
        seed: u64,
        shuffle: bool,
        drop_last: bool,
        rank: usize,
        world_size: usize,
        num_threads: usize,
        prefetch: usize,
        dtype: &str,
        on_error: &str,
        max_pixels: Option<u64>,
        return_params: bool,
        dct_scaling: bool,
        mean: [f32; 3],
        std: [f32; 3],
        pin_memory: bool,
    ) -> PyResult<Self> {
        if paths.len() != labels.len() {
            return Err(PyValueError::new_err(format!("{} paths but {} labels", paths.len(), labels.len())));
        }
        let dtype = match dtype {
            "uint8" => OutDtype::U8,
            "float32" => OutDtype::F32,
            other => return Err(PyValueError::new_err(format!("dtype must be 'uint8' or 'float32', got {other:?}"))),
        };
        let on_error = match on_error {
            "raise" => OnError::Raise,
            "skip" => OnError::Skip,
            other => return Err(PyValueError::new_err(format!("on_error must be 'raise' or 'skip', got {other:?}"))),
        };
        let groups = groups.into_iter().map(PyCropGroup::into_core).collect::<PyResult<Vec<_>>>()?;
        let samples = paths.into_iter().zip(labels).map(|(path, label)| Sample { path, label }).collect();
        let config = LoaderConfig {
            batch_size,
            seed,
            shuffle,
            drop_last,
            rank,
            world_size,
            num_threads,
            prefetch,
            dtype,
            on_error,
            decode: DecodeOptions { max_pixels: max_pixels.unwrap_or(u64::MAX) },
            return_params,
            dct_scaling,
            mean,
            std,
        };
        let inner = Loader::new(samples, Recipe { groups }, config).map_err(loader_error)?;
        Ok(PyLoader { inner: Arc::new(inner), pin_memory, pool: Arc::new(Mutex::new(Vec::new())) })
    }

    fn __len__(&self) -> usize {
        self.inner.num_batches()
    }

    /// This rank's sample indices per batch for `epoch`.
    fn epoch_batches(&self, epoch: u64) -> Vec<Vec<usize>> {
        self.inner.epoch_batches(epoch)
    }

    /// Number of crops per image and the (height, width, crops) of each output tensor.
    fn outputs(&self) -> Vec<(usize, usize, usize)> {
        self.inner.recipe().outputs()
    }

    /// Takes a tensor for a later batch to be written into: one this loader produced, or, with
    /// `pin_memory`, a fresh pinned one. The caller guarantees that nothing else refers to its
    /// memory, and that it is pinned when `pin_memory` is set (a pinned batch itself never comes
    /// back: an asynchronous copy from it may still be running). Returns whether it was kept (not
    /// when of another type or shape, or when the pool is full).
    fn recycle(&self, tensor: PyTensor) -> PyResult<bool> {
        let t = tensor.0;
        let outputs = self.inner.recipe().outputs();
        let fits = t.device() == Device::Cpu
            && t.is_contiguous()
            && !t.requires_grad()
            && t.kind() == tensor_kind(self.inner.config().dtype)
            && outputs.iter().any(|&(h, w, _)| t.size().get(1..) == Some(&[3, h as i64, w as i64][..]));
        if !fits {
            return Ok(false);
        }
        let mut pool = self.pool.lock().map_err(|_| TrexError::new_err("loader buffer pool lock poisoned"))?;
        if pool.len() >= pool_capacity(self.inner.config().prefetch, outputs.len()) {
            return Ok(false);
        }
        pool.push(t);
        Ok(true)
    }

    /// Tensors waiting in the pool.
    fn pooled(&self) -> PyResult<usize> {
        Ok(self.pool.lock().map_err(|_| TrexError::new_err("loader buffer pool lock poisoned"))?.len())
    }

    /// Starts producing `epoch` in the background.
    fn iter_epoch(&self, py: Python<'_>, epoch: u64) -> PyResult<PyEpochIter> {
        let loader = self.inner.clone();
        let alloc = TorchAlloc { pin: self.pin_memory, pool: self.pool.clone() };
        let stream = released(py, move || loader.stream(epoch, alloc))?.map_err(loader_error)?;
        Ok(PyEpochIter { stream: Mutex::new(Some(stream)), num_crops: self.inner.recipe().num_crops() })
    }
}

type PyBatch = (Vec<PyObject>, PyObject, PyObject, Option<PyObject>, Vec<(String, String)>);

#[pyclass(name = "EpochIter", module = "trex._trex", frozen)]
pub struct PyEpochIter {
    stream: Mutex<Option<EpochStream<Tensor>>>,
    num_crops: usize,
}

#[pymethods]
impl PyEpochIter {
    /// The next batch as (tensors per resolution, labels, indices, params or None,
    /// [(file, reason) skipped]), or None at the end of the epoch.
    fn next_batch(&self, py: Python<'_>) -> PyResult<Option<PyBatch>> {
        loop {
            let step = released(py, || -> Result<Next<Tensor>, String> {
                let mut guard = self.stream.lock().map_err(|_| "loader stream lock poisoned".to_string())?;
                Ok(match guard.as_mut() {
                    Some(stream) => stream.next_timeout(POLL),
                    None => Next::Done,
                })
            })?
            .map_err(TrexError::new_err)?;
            match step {
                Next::Pending => py.check_signals()?,
                Next::Done => return Ok(None),
                Next::Batch(result) => return self.convert(py, result.map_err(loader_error)?).map(Some),
            }
        }
    }

    /// Batches not yet returned.
    fn remaining(&self) -> PyResult<usize> {
        let guard = self.stream.lock().map_err(|_| TrexError::new_err("loader stream lock poisoned"))?;
        Ok(guard.as_ref().map_or(0, |s| s.remaining()))
    }

    /// Stops the background producer and waits for it (at most one batch).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let stream = {
            let mut guard = self.stream.lock().map_err(|_| TrexError::new_err("loader stream lock poisoned"))?;
            guard.take()
        };
        released(py, move || drop(stream))
    }
}

impl PyEpochIter {
    fn convert(&self, py: Python<'_>, batch: crate::pipeline::loader::Batch<Tensor>) -> PyResult<PyBatch> {
        let b = batch.labels.len() as i64;
        let tensors = batch.buffers.into_iter().map(|t| to_py(py, t)).collect::<PyResult<Vec<_>>>()?;
        let labels = to_py(py, Tensor::f_from_slice(&batch.labels).map_err(tch_error)?)?;
        let indices = to_py(py, Tensor::f_from_slice(&batch.indices).map_err(tch_error)?)?;
        let params = if batch.params.is_empty() {
            None
        } else {
            let t = Tensor::f_from_slice(&batch.params)
                .map_err(tch_error)?
                .f_view([self.num_crops as i64, b, PARAM_FIELDS as i64])
                .map_err(tch_error)?;
            Some(to_py(py, t)?)
        };
        let skipped = batch
            .skipped
            .iter()
            .map(|e| match e {
                SampleError::Io { path, message, .. } => (path.clone(), message.clone()),
                SampleError::Image { path, error } => (path.clone(), error.to_string()),
            })
            .collect();
        Ok((tensors, labels, indices, params, skipped))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyLoader>()?;
    m.add_class::<PyEpochIter>()?;
    Ok(())
}
