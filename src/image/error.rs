//! Errors of the image core. Messages say what was expected and what arrived; the binding layer
//! adds the file name.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ImageError {
    #[error("empty input (0 bytes)")]
    Empty,
    #[error("not a JPEG or PNG image (first bytes {0})")]
    UnknownFormat(String),
    #[error("image of {width}x{height} = {pixels} pixels exceeds the limit of {limit} pixels")]
    TooLarge { width: u64, height: u64, pixels: u64, limit: u64 },
    #[error("image has zero width or height ({width}x{height})")]
    ZeroSize { width: u64, height: u64 },
    #[error("corrupt or truncated JPEG: {0}")]
    Jpeg(String),
    #[error("corrupt or truncated PNG: {0}")]
    Png(String),
    #[error("unsupported image: {0}")]
    Unsupported(String),
    #[error("invalid geometry: {0}")]
    Geometry(String),
    #[error("invalid parameter: {0}")]
    Parameter(String),
    #[error("not a regular file ({0}); only regular files are read")]
    NotRegularFile(String),
    #[error("file of {size} bytes exceeds the limit of {limit} bytes")]
    FileTooLarge { size: u64, limit: u64 },
    #[error("output buffer holds {got} bytes, {expected} needed")]
    BufferSize { expected: usize, got: usize },
}

pub type Result<T> = std::result::Result<T, ImageError>;
