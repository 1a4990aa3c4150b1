//! `trex._trex.Loader`: the multi-crop loader behind `trex.MultiCropLoader`.
//! Batches are written in place into buffers that Rust owns and lends to Python (`BatchBuffer`,
//! wrapped by `torch.frombuffer`); a buffer comes back to the pool when Python frees the last
//! tensor of it. No thread of the loader ever holds a tensor that Python made, so none ever needs
//! the GIL, and every wait of a Python thread on the loader releases the GIL.

use std::alloc::Layout;
use std::os::raw::c_int;
use std::path::PathBuf;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use pyo3::{ffi, intern};
use tch::{Device, Kind, Tensor};

use super::convert::to_py;
use super::device::{apply_batch, apply_batch_resampled, colour_stage, host_view, GroupCrops};
use super::errors::{internal, loader_error, released, tch_error};
use super::spec::Wrap;
use crate::augment::DeviceColour;
use crate::pipeline::loader::{
    buffer_bytes, Allocator, EpochStream, Loader, LoaderConfig, Next, OutDtype, Sample, SampleError,
};
use crate::pipeline::recipe::{Recipe, PARAM_FIELDS};

/// How often a waiting `__next__` wakes up to let Python handle Ctrl-C.
const POLL: Duration = Duration::from_millis(50);

/// The torch element type of a batch tensor.
fn tensor_kind(dtype: OutDtype) -> Kind {
    match dtype {
        OutDtype::U8 => Kind::Uint8,
        OutDtype::F32 => Kind::Float,
    }
}

/// Alignment of a batch buffer (a cache line; float32 needs 4).
const BUF_ALIGN: usize = 64;

/// Host memory owned by Rust, zeroed when fresh (a fresh allocation of this size is fresh pages
/// from the kernel, so the zeroing costs no pass of its own).
struct HostBuf {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a plain heap block; who may touch its bytes is decided by whoever holds the HostBuf
// (the producer while it fills it, then Python through the one tensor made from it).
unsafe impl Send for HostBuf {}
unsafe impl Sync for HostBuf {}

impl HostBuf {
    fn layout(len: usize) -> Result<Layout, String> {
        Layout::from_size_align(len.max(1), BUF_ALIGN).map_err(|e| format!("{len} bytes: {e}"))
    }

    fn new(len: usize) -> Result<HostBuf, String> {
        let layout = Self::layout(len)?;
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(ptr).ok_or_else(|| format!("out of memory for {len} bytes"))?;
        Ok(HostBuf { ptr, len })
    }
}

impl Drop for HostBuf {
    fn drop(&mut self) {
        if let Ok(layout) = Self::layout(self.len) {
            // SAFETY: allocated in `new` with this same layout.
            unsafe { std::alloc::dealloc(self.ptr.as_ptr(), layout) }
        }
    }
}

/// Buffers whose tensors Python has let go of, for later batches to be written into: a fresh
/// buffer costs a page fault and the kernel zeroing each of its pages, as much time as writing
/// the crops into it.
struct BufPool {
    free: Vec<HostBuf>,
    capacity: usize,
}

type Pool = Arc<Mutex<BufPool>>;

/// A buffer that goes back to its pool when dropped (or is freed when the pool is full). Dropping
/// it takes the pool's lock, which nobody holds for longer than a push or a search, and never the
/// GIL: the producer thread may drop one at any time.
struct Pooled {
    buf: Option<HostBuf>,
    pool: Pool,
}

impl Pooled {
    fn ptr(&self) -> *mut u8 {
        self.buf.as_ref().map_or(std::ptr::null_mut(), |b| b.ptr.as_ptr())
    }

    fn len(&self) -> usize {
        self.buf.as_ref().map_or(0, |b| b.len)
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let Some(buf) = self.buf.take() else { return };
        let rejected = match self.pool.lock() {
            Ok(mut pool) if pool.free.len() < pool.capacity => {
                pool.free.push(buf);
                None
            }
            _ => Some(buf),
        };
        drop(rejected); // freed outside the lock (a large block is an munmap)
    }
}

/// A finished batch buffer: Rust-owned memory handed to Python as is, or (with `pin_memory`) a
/// copy in a block of torch's caching host allocator. Neither needs the GIL to be dropped: the
/// pinned tensor is a plain libtorch tensor until the consumer wraps it.
enum BatchOut {
    Host(Pooled),
    Pinned(Tensor),
    /// The device colour stage's output (normalised float32 on the device).
    Device(Tensor),
}

/// Buffers from the pool, or fresh ones. With `pin` (the accelerator the batches are for), each
/// filled buffer is copied into pinned memory on the producer thread and goes straight back to
/// the pool.
struct HostAlloc {
    pin: Option<Device>,
    pool: Pool,
}

impl Allocator for HostAlloc {
    type Buf = Pooled;
    type Out = BatchOut;

    fn alloc(&self, shape: [usize; 4], dtype: OutDtype) -> Result<Pooled, String> {
        let len = buffer_bytes(shape, dtype)?;
        let reused = match self.pool.lock() {
            Ok(mut pool) => pool.free.iter().position(|b| b.len == len).map(|i| pool.free.swap_remove(i)),
            Err(_) => None,
        };
        let buf = match reused {
            Some(b) => b,
            None => HostBuf::new(len)?,
        };
        Ok(Pooled { buf: Some(buf), pool: self.pool.clone() })
    }

    fn bytes<'a>(&self, buf: &'a mut Pooled) -> &'a mut [u8] {
        match buf.buf.as_mut() {
            // SAFETY: the block holds `len` bytes, owned by `buf`, borrowed mutably for 'a.
            Some(b) => unsafe { std::slice::from_raw_parts_mut(b.ptr.as_ptr(), b.len) },
            None => &mut [],
        }
    }

    fn finish(&self, buf: Pooled, shape: [usize; 4], dtype: OutDtype) -> Result<BatchOut, String> {
        let Some(device) = self.pin else {
            return Ok(BatchOut::Host(buf));
        };
        let size = shape.map(|d| d as i64);
        let strides = [size[1] * size[2] * size[3], size[2] * size[3], size[3], 1];
        // SAFETY: `buf` holds the whole contiguous [n, 3, h, w] batch of `dtype` and outlives
        // `view`, which is dropped before it; `_pin_memory` copies into a new pinned block. (Not
        // `pin_memory`, whose device argument, always passed by tch, is deprecated and warns.)
        let pinned = unsafe {
            let view = Tensor::f_from_blob(buf.ptr(), &size, &strides, tensor_kind(dtype), Device::Cpu)
                .map_err(|e| e.to_string())?;
            view.f_internal_pin_memory(device).map_err(|e| e.to_string())?
        };
        drop(buf);
        Ok(BatchOut::Pinned(pinned))
    }
}

/// A batch buffer lent to Python: `torch.frombuffer` makes the batch tensor from it, and the
/// tensor's memory keeps this object alive. When the last tensor, view or NumPy array of it is
/// gone, this object is freed and its memory goes back to the loader's pool. So the loader never
/// writes into memory that anything in Python can still see, without guessing from reference
/// counts, and no Rust thread ever frees a tensor that Python made.
#[pyclass(name = "BatchBuffer", module = "trex._trex", frozen)]
pub struct PyBatchBuffer {
    buf: Pooled,
}

#[pymethods]
impl PyBatchBuffer {
    /// # Safety
    /// Called by Python's buffer protocol with a valid `view`.
    unsafe fn __getbuffer__(slf: Bound<'_, Self>, view: *mut ffi::Py_buffer, flags: c_int) -> PyResult<()> {
        let this = slf.get();
        let (ptr, len) = (this.buf.ptr(), this.buf.len());
        // Writable: the batch is the user's to modify; nothing in Rust reads it again.
        if ffi::PyBuffer_FillInfo(view, slf.as_ptr(), ptr.cast(), len as ffi::Py_ssize_t, 0, flags) != 0 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {}

    fn __len__(&self) -> usize {
        self.buf.len()
    }
}

#[pyclass(name = "Loader", module = "trex._trex", frozen)]
pub struct PyLoader {
    inner: Arc<Loader>,
    pin: Option<Device>,
    pool: Pool,
    /// With `device`: the colour stage that runs there (the workers defer it).
    colour: Option<Arc<DeviceColour>>,
    /// Whether batches carry their parameters for the user (`return_params`).
    return_params: bool,
}

/// Buffers the pool keeps at most: enough for the batches in flight (prefetch + the one being
/// built + the ones Python is still checking), per output resolution.
fn pool_capacity(prefetch: usize, outputs: usize) -> usize {
    (prefetch + 4) * outputs.max(1)
}

#[pymethods]
impl PyLoader {
    /// A loader of `paths` with `labels`, built as `spec` says (a `trex.data.loader.LoaderSpec`
    /// with its defaults resolved); with `pin_device`, batches are pinned for that CUDA device.
    #[new]
    #[pyo3(signature = (paths, labels, spec, *, pin_device))]
    fn new(
        paths: Vec<PathBuf>,
        labels: Vec<i64>,
        spec: &Bound<'_, PyAny>,
        pin_device: Option<usize>,
    ) -> PyResult<Self> {
        if paths.len() != labels.len() {
            return Err(PyValueError::new_err(format!("{} paths but {} labels", paths.len(), labels.len())));
        }
        if let Some((i, &label)) = labels.iter().enumerate().find(|(_, &l)| l < 0) {
            return Err(PyValueError::new_err(format!(
                "sample {i} ({}): label {label} is negative; labels must be integers >= 0",
                paths[i].display()
            )));
        }
        let Wrap(recipe) = spec.getattr(intern!(spec.py(), "recipe"))?.extract::<Wrap<Recipe>>()?;
        let Wrap(config) = spec.extract::<Wrap<LoaderConfig>>()?;
        // `device`: the colour stage runs there (the workers leave it to it: `defer_colour`).
        let device: Option<String> = spec.getattr(intern!(spec.py(), "device"))?.extract()?;
        let channels_last: bool = spec.getattr(intern!(spec.py(), "channels_last"))?.extract()?;
        if channels_last && device.is_none() {
            return Err(PyValueError::new_err("channels_last needs a device (the colour stage's output)"));
        }
        // The colour stage on that device, made (and the device checked) before anything starts.
        let colour = match device {
            Some(d) => Some(colour_stage(spec.py(), &d, config.mean, config.std, channels_last)?),
            None => None,
        };
        let return_params = config.return_params;
        let samples = paths.into_iter().zip(labels).map(|(path, label)| Sample { path, label }).collect();
        let inner = Loader::new(samples, recipe, config).map_err(loader_error)?;
        // On CUDA the crops are staged in pinned memory for that device, so the copy does not block.
        let pin = match colour.as_ref().map(|c| c.device()) {
            Some(Device::Cuda(i)) => Some(Device::Cuda(i)),
            _ => pin_device.map(Device::Cuda),
        };
        let capacity = pool_capacity(inner.config().prefetch, inner.recipe().outputs().len());
        let pool = Arc::new(Mutex::new(BufPool { free: Vec::new(), capacity }));
        Ok(PyLoader { inner: Arc::new(inner), pin, pool, colour, return_params })
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

    /// What resampling crops on the device (`resize_on_device`) has cost so far: (f64
    /// multiply-adds of its matrix products, seconds of host-side preparation on the consuming
    /// thread); (0, 0.0) without it.
    fn device_resample_stats(&self) -> (u64, f64) {
        let s = self.colour.as_ref().map(|c| c.resample_stats()).unwrap_or_default();
        (s.macs, s.host_ns as f64 * 1e-9)
    }

    /// Buffers waiting in the pool (given back by batches that Python has freed).
    fn pooled(&self) -> PyResult<usize> {
        Ok(self.pool.lock().map_err(|_| internal("loader buffer pool lock poisoned"))?.free.len())
    }

    /// Starts producing `epoch` in the background.
    fn iter_epoch(&self, py: Python<'_>, epoch: u64) -> PyResult<PyEpochIter> {
        let loader = self.inner.clone();
        let alloc = HostAlloc { pin: self.pin, pool: self.pool.clone() };
        let stream = released(py, move || loader.stream(epoch, alloc))?.map_err(loader_error)?;
        Ok(PyEpochIter {
            stream: Mutex::new(Some(stream)),
            num_crops: self.inner.recipe().num_crops(),
            outputs: self.inner.recipe().outputs(),
            dtype: self.inner.config().dtype,
            colour: self.colour.clone(),
            recipe: self.inner.recipe().clone(),
            return_params: self.return_params,
        })
    }
}

type PyBatch = (Vec<PyObject>, PyObject, PyObject, Option<PyObject>, Vec<(String, String)>);

#[pyclass(name = "EpochIter", module = "trex._trex", frozen)]
pub struct PyEpochIter {
    stream: Mutex<Option<EpochStream<BatchOut>>>,
    num_crops: usize,
    outputs: Vec<(usize, usize, usize)>,
    dtype: OutDtype,
    colour: Option<Arc<DeviceColour>>,
    recipe: Recipe,
    return_params: bool,
}

/// Dropped without `close` (an iterator never advanced, garbage collection): the producer is
/// stopped and joined with the GIL released, as everywhere a Python thread waits for it.
impl Drop for PyEpochIter {
    fn drop(&mut self) {
        let stream = match self.stream.get_mut() {
            Ok(s) => s.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(stream) = stream {
            Python::with_gil(|py| py.allow_threads(move || drop(stream)));
        }
    }
}

#[pymethods]
impl PyEpochIter {
    /// The next batch as (tensors per resolution, labels, indices, params or None,
    /// [(file, reason) skipped]), or None at the end of the epoch.
    fn next_batch(&self, py: Python<'_>) -> PyResult<Option<PyBatch>> {
        loop {
            let step = released(py, || -> Result<Next<BatchOut>, String> {
                let mut guard = self.stream.lock().map_err(|_| "loader stream lock poisoned".to_string())?;
                Ok(match guard.as_mut() {
                    Some(stream) => stream.next_timeout(POLL),
                    None => Next::Done,
                })
            })?
            .map_err(internal)?;
            match step {
                Next::Pending => py.check_signals()?,
                Next::Done => return Ok(None),
                Next::Batch(result) => return self.convert(py, result.map_err(loader_error)?).map(Some),
            }
        }
    }

    /// Batches not yet returned.
    fn remaining(&self) -> PyResult<usize> {
        let guard = self.stream.lock().map_err(|_| internal("loader stream lock poisoned"))?;
        Ok(guard.as_ref().map_or(0, |s| s.remaining()))
    }

    /// Stops the background producer and waits for it (at most one batch), GIL released.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        released(py, || {
            let stream = match self.stream.lock() {
                Ok(mut guard) => guard.take(),
                Err(poisoned) => poisoned.into_inner().take(),
            };
            drop(stream)
        })
    }
}

impl PyEpochIter {
    fn convert(&self, py: Python<'_>, mut batch: crate::pipeline::loader::Batch<BatchOut>) -> PyResult<PyBatch> {
        let b = batch.labels.len() as i64;
        if let Some(stage) = &self.colour {
            self.device_colour(py, stage, &mut batch)?;
        }
        let torch = py.import(intern!(py, "torch"))?;
        let frombuffer = torch.getattr(intern!(py, "frombuffer"))?;
        let dtype = match self.dtype {
            OutDtype::U8 => torch.getattr(intern!(py, "uint8"))?,
            OutDtype::F32 => torch.getattr(intern!(py, "float32"))?,
        };
        let kwargs = PyDict::new(py);
        kwargs.set_item(intern!(py, "dtype"), dtype)?;
        let tensors = batch
            .buffers
            .into_iter()
            .zip(&self.outputs)
            .map(|(out, &(h, w, n))| match out {
                BatchOut::Pinned(t) | BatchOut::Device(t) => to_py(py, t),
                BatchOut::Host(buf) => {
                    let owner = Bound::new(py, PyBatchBuffer { buf })?;
                    let shape = PyTuple::new(py, [n as i64 * b, 3, h as i64, w as i64])?;
                    let flat = frombuffer.call((owner,), Some(&kwargs))?;
                    Ok(flat.call_method1(intern!(py, "view"), shape)?.unbind())
                }
            })
            .collect::<PyResult<Vec<_>>>()?;
        let labels = to_py(py, Tensor::f_from_slice(&batch.labels).map_err(tch_error)?)?;
        let indices = to_py(py, Tensor::f_from_slice(&batch.indices).map_err(tch_error)?)?;
        let params = if batch.params.is_empty() || self.colour.is_some() && !self.return_params {
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

impl PyEpochIter {
    /// With a device: runs the colour stage on the batch's uint8 crops (GIL released) and
    /// replaces each buffer with the stage's output on the device.
    fn device_colour(
        &self,
        py: Python<'_>,
        stage: &DeviceColour,
        batch: &mut crate::pipeline::loader::Batch<BatchOut>,
    ) -> PyResult<()> {
        let b = batch.labels.len();
        if !batch.plans.is_empty() {
            // Decoded images (`resize_on_device`): one flat buffer of pixels.
            let Some(flat) = std::mem::take(&mut batch.buffers).into_iter().next() else {
                return Err(internal("a batch of decoded images without its buffer"));
            };
            let (pixels, keep) = match flat {
                BatchOut::Pinned(t) | BatchOut::Device(t) => {
                    let t = t.f_view([-1, 3]).map_err(tch_error)?;
                    (GroupCrops { crops: t, pinned: true }, None)
                }
                BatchOut::Host(buf) => {
                    // SAFETY: `buf` holds the whole [pixels, 3] image buffer and is kept (in `keep`)
                    // until the stage has copied it to the device.
                    let view = unsafe { host_view(buf.ptr(), [buf.len() / 3, 3, 1, 1])? };
                    let view = view.f_view([-1, 3]).map_err(tch_error)?;
                    (GroupCrops { crops: view, pinned: false }, Some(buf))
                }
            };
            let (images, plans) = (std::mem::take(&mut batch.images), std::mem::take(&mut batch.plans));
            let out = apply_batch_resampled(py, stage, &self.recipe, pixels, &images, &plans, &batch.params, keep)?;
            batch.buffers = out.into_iter().map(BatchOut::Device).collect();
            return Ok(());
        }
        let mut crops = Vec::with_capacity(batch.buffers.len());
        let mut keep = Vec::new();
        for (out, &(h, w, n)) in std::mem::take(&mut batch.buffers).into_iter().zip(&self.outputs) {
            match out {
                BatchOut::Pinned(t) | BatchOut::Device(t) => crops.push(GroupCrops { crops: t, pinned: true }),
                BatchOut::Host(buf) => {
                    // SAFETY: `buf` holds the whole [n * b, 3, h, w] uint8 batch and is kept (in
                    // `keep`) until the stage, which reads the view and keeps none of it, is done.
                    let view = unsafe { host_view(buf.ptr(), [n * b, 3, h, w])? };
                    crops.push(GroupCrops { crops: view, pinned: false });
                    keep.push(buf);
                }
            }
        }
        let out = apply_batch(py, stage, &self.recipe, crops, &batch.params, b, keep)?;
        batch.buffers = out.into_iter().map(BatchOut::Device).collect();
        Ok(())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyLoader>()?;
    m.add_class::<PyEpochIter>()?;
    m.add_class::<PyBatchBuffer>()?;
    Ok(())
}
