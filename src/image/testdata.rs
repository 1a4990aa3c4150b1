//! Real photos for the Rust tests, committed under `tests/fixtures/` and compiled in, so that
//! `cargo test` needs neither the Python virtualenv nor system packages. Both are cut from
//! scikit-image's bundled pictures (`skimage/data`, public domain / CC0) and saved as JPEG:
//! - `chelsea.jpg`: the top-left 400 x 250 pixels of `chelsea.png` (a cat), quality 80;
//! - `astronaut.jpg`: the top-left 256 x 256 pixels of `astronaut.png`, quality 80.

#![allow(clippy::unwrap_used)]

use super::{decode, RgbImage};

const CHELSEA: &[u8] = include_bytes!("../../tests/fixtures/chelsea.jpg");
const ASTRONAUT: &[u8] = include_bytes!("../../tests/fixtures/astronaut.jpg");

fn decoded(jpeg: &[u8]) -> RgbImage {
    decode::decode(jpeg, &Default::default()).unwrap()
}

/// A 400 x 250 photo of a cat (scikit-image's chelsea).
pub fn chelsea() -> RgbImage {
    decoded(CHELSEA)
}

/// A 256 x 256 photo of an astronaut (scikit-image's astronaut).
pub fn astronaut() -> RgbImage {
    decoded(ASTRONAUT)
}

/// The top-left `w` x `h` pixels of [`chelsea`], HWC RGB.
pub fn chelsea_crop(w: usize, h: usize) -> Vec<u8> {
    let img = chelsea();
    assert!(w <= img.width && h <= img.height);
    img.data.chunks_exact(img.width * 3).take(h).flat_map(|row| &row[..w * 3]).copied().collect()
}
