//! Tensors across the boundary. Conversions return errors; none falls back to `None`.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use tch::{Device, Kind, Tensor};

use super::errors::tch_error;

/// A Rust tensor as a Python `torch.Tensor` (shares storage, no copy).
pub fn to_py(py: Python<'_>, tensor: Tensor) -> PyResult<PyObject> {
    let ptr =
        tensor.pyobject_wrap().map_err(|e| PyRuntimeError::new_err(format!("cannot hand a tensor to Python: {e}")))?;
    // SAFETY: pyobject_wrap returns a new reference to a torch.Tensor.
    Ok(unsafe { PyObject::from_owned_ptr(py, ptr as *mut pyo3::ffi::PyObject) })
}

/// A raw pointer to a tensor's storage that may cross into a GIL-released closure. The tensor it
/// points into is owned by the caller and outlives the closure.
pub struct SendPtr<T>(pub *mut T, pub usize);
// SAFETY: the memory is owned by a tensor that the caller keeps alive and does not touch while
// the closure runs.
unsafe impl<T> Send for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// # Safety
    /// The pointer must be valid for `self.1` elements and not aliased while the slice lives.
    pub unsafe fn as_mut_slice<'a>(&self) -> &'a mut [T] {
        // An empty tensor may have a null data pointer, which a slice must never hold.
        if self.1 == 0 {
            return &mut [];
        }
        std::slice::from_raw_parts_mut(self.0, self.1)
    }

    /// # Safety
    /// The pointer must be valid (non-null) for `self.1` elements, none written while the
    /// slice lives.
    pub unsafe fn as_slice<'a>(&self) -> &'a [T] {
        if self.1 == 0 {
            return &[];
        }
        std::slice::from_raw_parts(self.0, self.1)
    }
}

/// A new contiguous uint8 CPU tensor and a pointer to its storage, for the core to fill in place.
pub fn empty_u8(shape: &[i64]) -> PyResult<(Tensor, SendPtr<u8>)> {
    let tensor = Tensor::f_empty(shape, (Kind::Uint8, Device::Cpu)).map_err(tch_error)?;
    let n = shape.iter().product::<i64>() as usize;
    let ptr = SendPtr(tensor.data_ptr() as *mut u8, n);
    Ok((tensor, ptr))
}
