//! The image core: decoding, geometry, colour operations and sampling on plain byte buffers.
//! Neither pyo3 nor tch is used here, so this module is tested, benchmarked and fuzzed as plain Rust.

pub mod blur;
pub mod color;
pub mod decode;
pub mod error;
pub mod file;
pub mod geometry;
pub mod layout;
pub mod resize;
pub mod rng;
mod simd;
#[cfg(test)]
pub(crate) mod testdata;

pub use error::{ImageError, Result};

/// An option whose values have names (what Python passes as strings: an interpolation, a dtype):
/// the one list of those names, in the order error messages give them.
pub trait Named: Sized + Copy + PartialEq + 'static {
    /// What the option is called, for error messages ("interpolation").
    const WHAT: &'static str;
    /// Every value with its name.
    const ALL: &'static [(&'static str, Self)];

    fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, v)| *v == self).map_or("?", |(n, _)| n)
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    /// "'a', 'b', 'c'": the valid names, for error messages.
    fn choices() -> String {
        Self::ALL.iter().map(|(n, _)| format!("'{n}'")).collect::<Vec<_>>().join(", ")
    }

    /// [`Named::from_name`], or an error that lists the valid names.
    fn parse_name(name: &str) -> Result<Self> {
        Self::from_name(name).ok_or_else(|| {
            ImageError::Parameter(format!("{} must be one of {}, got '{name}'", Self::WHAT, Self::choices()))
        })
    }
}

/// Output images (a resized crop, a loader crop size) with more pixels than this are refused
/// before any memory is allocated: the decoder's own limit, Pillow's `MAX_IMAGE_PIXELS`.
pub const MAX_OUTPUT_PIXELS: u64 = decode::DEFAULT_MAX_PIXELS;

/// Checks that an `height` x `width` output is non-empty and within [`MAX_OUTPUT_PIXELS`].
pub fn check_output_size(height: u64, width: u64) -> Result<()> {
    if height == 0 || width == 0 {
        return Err(ImageError::Parameter(format!("output size (h, w) must be positive, got ({height}, {width})")));
    }
    let pixels = height.saturating_mul(width);
    if pixels > MAX_OUTPUT_PIXELS {
        return Err(ImageError::Parameter(format!(
            "output size (h, w) = ({height}, {width}) is {pixels} pixels, over the limit of {MAX_OUTPUT_PIXELS}"
        )));
    }
    Ok(())
}

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
