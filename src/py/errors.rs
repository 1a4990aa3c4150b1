//! The one place where core errors become Python exceptions.
//!
//! The exception classes are defined in `trex/exceptions.py` rather than with
//! `create_exception!`, because `DecodeError` must derive from both `TrexError` and `ValueError`
//! and `create_exception!` allows a single base.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::{
    PyFileNotFoundError, PyIsADirectoryError, PyOSError, PyPermissionError, PyRuntimeError, PyValueError,
};
use pyo3::prelude::*;

use crate::bank::BankError;
use crate::image::ImageError;

pyo3::import_exception!(trex.exceptions, TrexError);
pyo3::import_exception!(trex.exceptions, DecodeError);
pyo3::import_exception!(trex.exceptions, MemoryBankError);

/// An image error, prefixed with where it happened (usually a file name).
pub fn image_error(err: ImageError, source: Option<&str>) -> PyErr {
    let what = match source {
        Some(s) => format!("{s}: {err}"),
        None => err.to_string(),
    };
    match err {
        ImageError::Geometry(_) | ImageError::Parameter(_) | ImageError::BufferSize { .. } => {
            PyValueError::new_err(what)
        }
        _ => DecodeError::new_err(what),
    }
}

/// A refused bank operation (bad input) is a `MemoryBankError`, a `ValueError`; a failing torch
/// operation (out of memory, for instance) is a `RuntimeError`, as torch itself raises.
pub fn bank_error(err: BankError) -> PyErr {
    match err {
        BankError::Tch(_) => PyRuntimeError::new_err(err.to_string()),
        _ => MemoryBankError::new_err(err.to_string()),
    }
}

pub fn io_error(err: &std::io::Error, path: &str) -> PyErr {
    io_error_message(err.kind(), format!("{path}: {err}"))
}

/// The OSError subclass Python itself raises for this kind of error.
pub fn io_error_message(kind: std::io::ErrorKind, what: String) -> PyErr {
    match kind {
        std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(what),
        std::io::ErrorKind::IsADirectory => PyIsADirectoryError::new_err(what),
        std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(what),
        _ => PyOSError::new_err(what),
    }
}

/// Runs `f` with the GIL released and turns a panic into a `TrexError` instead of letting a
/// `PanicException` (a BaseException) reach the user.
pub fn released<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    py.allow_threads(|| catch_unwind(AssertUnwindSafe(f))).map_err(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        TrexError::new_err(format!("internal error in trex (please report it): {msg}"))
    })
}
