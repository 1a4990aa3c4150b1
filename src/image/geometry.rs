//! Crop geometry: RandomResizedCrop parameter sampling and horizontal flip.
//!
//! Sampling is a pure function of (image size, parameters, random stream), kept apart from the
//! pixel work so that it is unit-tested on its own and its draws can be returned to the user.

use super::rng::Rng;
use super::{ImageError, Result};

/// A crop rectangle in pixels: rows `top..top + height`, columns `left..left + width`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CropBox {
    pub top: usize,
    pub left: usize,
    pub height: usize,
    pub width: usize,
}

impl CropBox {
    /// Checks that the box is non-empty and lies inside a `width` x `height` image.
    pub fn check_inside(&self, width: usize, height: usize) -> Result<()> {
        if self.width == 0 || self.height == 0 {
            return Err(ImageError::Geometry(format!(
                "crop {}x{} at ({},{}) is empty",
                self.width, self.height, self.left, self.top
            )));
        }
        let right = self.left.checked_add(self.width);
        let bottom = self.top.checked_add(self.height);
        match (right, bottom) {
            (Some(r), Some(b)) if r <= width && b <= height => Ok(()),
            _ => Err(ImageError::Geometry(format!(
                "crop {}x{} at ({},{}) exceeds {}x{} image",
                self.width, self.height, self.left, self.top, width, height
            ))),
        }
    }

    /// The box as a resampling region `[x0, y0, x1, y1]` in source pixel coordinates.
    pub fn region(&self) -> [f64; 4] {
        [
            self.left as f64,
            self.top as f64,
            (self.left as f64) + (self.width as f64),
            (self.top as f64) + (self.height as f64),
        ]
    }
}

/// Checks RandomResizedCrop parameters the way a user should hear about them: a scale range
/// `0 <= lo <= hi`, `hi > 0` (area fractions; `hi` may exceed 1, as torchvision allows) and an
/// aspect ratio range `0 < lo <= hi`, all finite.
pub fn check_crop_params(scale: (f64, f64), ratio: (f64, f64)) -> Result<()> {
    let (s0, s1) = scale;
    if !(s0.is_finite() && s1.is_finite() && s0 >= 0.0 && s0 <= s1 && s1 > 0.0) {
        return Err(ImageError::Parameter(format!(
            "scale must be a range 0 <= lo <= hi (hi > 0) of area fractions, got ({s0}, {s1})"
        )));
    }
    let (r0, r1) = ratio;
    if !(r0.is_finite() && r1.is_finite() && r0 > 0.0 && r0 <= r1) {
        return Err(ImageError::Parameter(format!(
            "ratio must be a range 0 < lo <= hi of aspect ratios (width / height), got ({r0}, {r1})"
        )));
    }
    Ok(())
}

/// Python's `int(round(x))` for the values met here: round half to even, NaN and negatives to 0,
/// saturating at `usize::MAX`.
#[inline]
fn round_half_even(x: f64) -> usize {
    // `as` saturates and maps NaN to 0, so no input can panic here.
    x.round_ties_even() as usize
}

/// torchvision `RandomResizedCrop.get_params`, identical in distribution.
///
/// Up to 10 attempts: area = U(scale) * W * H, aspect ratio r = exp(U(log ratio)),
/// w = round(sqrt(area * r)), h = round(sqrt(area / r)) (round half to even, as Python's `round`);
/// the first attempt with `0 < w <= W` and `0 < h <= H` gives top = U{0..=H-h}, left = U{0..=W-w}.
/// Otherwise the centre crop of the whole image with its aspect ratio clamped into `ratio`.
///
/// The draws per attempt are, in order: area, log ratio, and when accepted top then left, from
/// `rng`. Parameters are not validated here (see [`check_crop_params`]); whatever they are, the
/// result lies inside the image, and is empty only when the image is.
pub fn sample_resized_crop(
    width: usize,
    height: usize,
    scale: (f64, f64),
    ratio: (f64, f64),
    rng: &mut Rng,
) -> CropBox {
    let area = width as f64 * height as f64;
    let (log_r0, log_r1) = (ratio.0.ln(), ratio.1.ln());
    for _ in 0..10 {
        let target_area = area * rng.uniform_in(scale.0, scale.1);
        let aspect_ratio = rng.uniform_in(log_r0, log_r1).exp();
        let w = round_half_even((target_area * aspect_ratio).sqrt());
        let h = round_half_even((target_area / aspect_ratio).sqrt());
        if 0 < w && w <= width && 0 < h && h <= height {
            // height - h + 1 and width - w + 1 are >= 1 and cannot overflow (h <= height).
            let top = rng.below((height - h) as u64 + 1) as usize;
            let left = rng.below((width - w) as u64 + 1) as usize;
            return CropBox { top, left, height: h, width: w };
        }
    }
    centre_fallback(width, height, ratio)
}

/// torchvision's fallback: the whole image, cropped to the nearest allowed aspect ratio.
fn centre_fallback(width: usize, height: usize, ratio: (f64, f64)) -> CropBox {
    let in_ratio = width as f64 / height as f64;
    let (min_r, max_r) = (ratio.0.min(ratio.1), ratio.0.max(ratio.1));
    let (w, h) = if in_ratio < min_r {
        (width, round_half_even(width as f64 / min_r).min(height))
    } else if in_ratio > max_r {
        (round_half_even(height as f64 * max_r).min(width), height)
    } else {
        (width, height)
    };
    CropBox { top: (height - h) / 2, left: (width - w) / 2, height: h, width: w }
}

/// Mirrors an HWC RGB u8 image left to right in place.
///
/// `buf` holds `h` rows of `w` pixels; rows beyond the end of `buf` are ignored (callers check
/// sizes; this function never panics).
pub fn hflip(buf: &mut [u8], w: usize, h: usize) {
    let Some(row_len) = w.checked_mul(3).filter(|&n| n > 0) else {
        return;
    };
    for row in buf.chunks_exact_mut(row_len).take(h) {
        // `left` holds the first w/2 pixels, `right` the rest (the middle pixel of an odd row
        // comes first in `right` and stays in place).
        let (left, right) = row.split_at_mut((w / 2) * 3);
        for (a, b) in left.chunks_exact_mut(3).zip(right.chunks_exact_mut(3).rev()) {
            a.swap_with_slice(b);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const RATIO: (f64, f64) = (3.0 / 4.0, 4.0 / 3.0);

    #[test]
    fn sampled_boxes_are_inside_and_non_empty() {
        for &(w, h) in &[(500, 375), (300, 800), (1, 1), (2, 97), (4000, 3), (96, 96)] {
            for &scale in &[(0.08, 1.0), (0.05, 0.25), (0.25, 1.0), (0.9, 1.0), (0.001, 0.002)] {
                for i in 0..500 {
                    let mut rng = Rng::keyed(11, &[w as u64, h as u64, i]);
                    let b = sample_resized_crop(w, h, scale, RATIO, &mut rng);
                    b.check_inside(w, h).unwrap();
                }
            }
        }
    }

    #[test]
    fn accepted_draws_respect_the_ranges() {
        let (w, h) = (500usize, 375usize);
        let mut fallbacks = 0;
        for i in 0..5000 {
            let b = sample_resized_crop(w, h, (0.05, 0.25), RATIO, &mut Rng::keyed(3, &[i]));
            let frac = (b.width * b.height) as f64 / (w * h) as f64;
            let r = b.width as f64 / b.height as f64;
            // Rounding to whole pixels moves area and ratio a little past the range.
            assert!(frac > 0.045 && frac < 0.26, "{b:?} area fraction {frac}");
            assert!(r > 0.72 && r < 1.38, "{b:?} ratio {r}");
            if b == centre_fallback(w, h, RATIO) {
                fallbacks += 1;
            }
        }
        assert_eq!(fallbacks, 0);
    }

    #[test]
    fn fallback_is_the_clamped_centre_crop() {
        // A 1000x10 strip cannot hold a crop with ratio in [3/4, 4/3] and area >= 50%:
        // every attempt fails and the centre crop with ratio 4/3 comes back.
        let b = sample_resized_crop(1000, 10, (0.5, 1.0), RATIO, &mut Rng::keyed(0, &[]));
        assert_eq!(b, CropBox { top: 0, left: (1000 - 13) / 2, height: 10, width: 13 });
        // Tall image: width kept, height = round(width / (3/4)).
        let b = sample_resized_crop(10, 1000, (0.5, 1.0), RATIO, &mut Rng::keyed(0, &[]));
        assert_eq!(b, CropBox { top: (1000 - 13) / 2, left: 0, height: 13, width: 10 });
        // Scale above what fits (area > image) with a square-ish image: the whole image.
        let b = sample_resized_crop(40, 30, (2.0, 3.0), RATIO, &mut Rng::keyed(0, &[]));
        assert_eq!(b, CropBox { top: 0, left: 0, height: 30, width: 40 });
        // An empty image gives an empty box instead of a panic.
        let b = sample_resized_crop(0, 0, (0.08, 1.0), RATIO, &mut Rng::keyed(0, &[]));
        assert_eq!((b.width, b.height), (0, 0));
    }

    #[test]
    fn python_rounding_is_half_to_even() {
        assert_eq!(round_half_even(2.5), 2);
        assert_eq!(round_half_even(3.5), 4);
        assert_eq!(round_half_even(f64::NAN), 0);
        assert_eq!(round_half_even(-3.0), 0);
    }

    #[test]
    fn crop_params_are_checked() {
        assert!(check_crop_params((0.08, 1.0), RATIO).is_ok());
        assert!(check_crop_params((0.0, 1.0), RATIO).is_ok());
        assert!(check_crop_params((0.0, 0.0), RATIO).is_err());
        assert!(check_crop_params((-0.1, 1.0), RATIO).is_err());
        assert!(check_crop_params((0.5, 0.4), RATIO).is_err());
        assert!(check_crop_params((0.5, 1.0), (1.0, f64::NAN)).is_err());
        assert!(check_crop_params((0.5, 1.0), (-1.0, 1.0)).is_err());
    }

    #[test]
    fn check_inside_reports_the_box_and_image() {
        let err = CropBox { top: 10, left: 400, height: 300, width: 300 }.check_inside(640, 480);
        assert_eq!(err.unwrap_err().to_string(), "invalid geometry: crop 300x300 at (400,10) exceeds 640x480 image");
        let huge = CropBox { top: 0, left: usize::MAX, height: 1, width: 2 };
        assert!(huge.check_inside(10, 10).is_err());
        assert!(CropBox { top: 0, left: 0, height: 0, width: 1 }.check_inside(10, 10).is_err());
    }

    #[test]
    fn hflip_mirrors_and_is_an_involution() {
        for w in [1usize, 2, 3, 8] {
            let h = 2;
            let img: Vec<u8> = (0..w * h * 3).map(|v| v as u8).collect();
            let mut f = img.clone();
            hflip(&mut f, w, h);
            for y in 0..h {
                for x in 0..w {
                    let a = &img[(y * w + x) * 3..][..3];
                    let b = &f[(y * w + (w - 1 - x)) * 3..][..3];
                    assert_eq!(a, b);
                }
            }
            hflip(&mut f, w, h);
            assert_eq!(f, img);
        }
        hflip(&mut [], 0, 5);
    }
}
