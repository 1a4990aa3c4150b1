//! The one place where core errors become Python exceptions: image, bank, loader, torch and I/O
//! errors, and panics.
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
use crate::pipeline::loader::{LoaderError, SampleError};

pyo3::import_exception!(trex.exceptions, TrexError);
pyo3::import_exception!(trex.exceptions, DecodeError);
pyo3::import_exception!(trex.exceptions, MemoryBankError);
pyo3::import_exception!(trex.exceptions, UnreadableFilesError);

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

/// A file the loader could not load: the exception reading it alone would raise.
pub fn sample_error(e: &SampleError) -> PyErr {
    match e {
        SampleError::Io { kind, .. } => io_error_message(*kind, e.to_string()),
        SampleError::Image { path, error } => image_error(error.clone(), Some(path)),
    }
}

/// A loader error: an option out of range is a `ValueError`, an unreadable file what reading it
/// raises, `on_error="skip"` giving up an `UnreadableFilesError`, a failed allocation a
/// `RuntimeError` (as torch's), and what should never happen (a poisoned lock, a thread that
/// could not start, a producer gone, a cancelled epoch) a `TrexError`.
pub fn loader_error(e: LoaderError) -> PyErr {
    match e {
        LoaderError::Sample(s) => sample_error(&s),
        LoaderError::TooManyUnreadable { .. } => UnreadableFilesError::new_err(e.to_string()),
        LoaderError::Config(m) => PyValueError::new_err(m),
        LoaderError::Alloc(_) => PyRuntimeError::new_err(e.to_string()),
        LoaderError::Image(e) => image_error(e, None),
        LoaderError::Cancelled | LoaderError::Internal(_) => internal(e),
    }
}

/// A `TrexError` for what should not happen.
pub fn internal(what: impl std::fmt::Display) -> PyErr {
    TrexError::new_err(format!("internal error in trex (please report it): {what}"))
}

/// A failing torch operation is a `RuntimeError`, as torch itself raises.
pub fn tch_error(err: tch::TchError) -> PyErr {
    PyRuntimeError::new_err(err.to_string())
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
        internal(msg)
    })
}
