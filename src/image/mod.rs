//! The image core: decoding, geometry, colour operations and sampling on plain byte buffers.
//! Neither pyo3 nor tch is used here, so this module is tested, benchmarked and fuzzed as plain Rust.

pub mod blur;
pub mod color;
pub mod decode;
pub mod error;
pub mod geometry;
pub mod layout;
pub mod resize;
pub mod rng;
mod simd;

pub use error::{ImageError, Result};

/// An 8-bit RGB image, rows top to bottom, pixels interleaved (H x W x 3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl RgbImage {
    pub fn new(width: usize, height: usize) -> Self {
        RgbImage { width, height, data: vec![0; width * height * 3] }
    }

    pub fn from_vec(width: usize, height: usize, data: Vec<u8>) -> Result<Self> {
        let expected = width
            .checked_mul(height)
            .and_then(|p| p.checked_mul(3))
            .ok_or_else(|| ImageError::Geometry(format!("image size {width}x{height} overflows")))?;
        if data.len() != expected {
            return Err(ImageError::BufferSize { expected, got: data.len() });
        }
        Ok(RgbImage { width, height, data })
    }
}
