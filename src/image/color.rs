//! Colour operations on HWC RGB u8 buffers (`len = w * h * 3`), in place.
//!
//! Each one reproduces `torchvision.transforms.v2.functional` applied to a PIL image, which means
//! Pillow's own arithmetic:
//!
//! - brightness, contrast and saturation are `ImageEnhance` enhancers, i.e. `Image.blend(degenerate,
//!   image, factor)`. Pillow's `ImagingBlend` (libImaging/Blend.c) takes the factor as a C `float`
//!   and computes `in1 + alpha * (in2 - in1)` in `float`, truncating to u8 (clipping to 0..=255 when
//!   extrapolating). The degenerate image is black (brightness), the rounded mean of the `L` image
//!   (contrast: `int(ImageStat.Stat(L).mean[0] + 0.5)`), or the `L` image converted back to RGB
//!   (saturation);
//! - `L` is Pillow's fixed-point ITU-R 601-2 luma, `(r*19595 + g*38470 + b*7471 + 0x8000) >> 16`;
//! - hue is torchvision's `_functional_pil.adjust_hue`: Pillow's uint8 HSV (`rgb2hsv_row` and
//!   `hsv2rgb` in libImaging/Convert.c, float/double promotions included), hue shifted by
//!   `uint8(int32(hue_factor * 255))` with wrap-around;
//! - solarize is `ImageOps.solarize` (values `>= threshold` are inverted).
//!
//! Every op is bit-exact with the reference (the hue op is checked on all 2^24 colours in the unit
//! tests against a line-by-line transcription of Pillow's C code). The per-value ops run through
//! 256-entry lookup tables; the hue op replaces Pillow's divisions by lookup tables built once per
//! process from that transcription.
//!
//! The ops themselves never fail: out-of-range factors extrapolate exactly as Pillow does, and a
//! trailing partial pixel (a length that is not a multiple of 3) is left untouched. The `check_*`
//! functions validate parameters with the rules of the public API (torchvision's), for the
//! bindings and for recipe validation.

use std::sync::LazyLock;

use super::{ImageError, Result};

// --------------------------------------------------------------------------------------------
// Parameter validation
// --------------------------------------------------------------------------------------------

/// A brightness / contrast / saturation factor: finite and non-negative (torchvision's rule).
pub fn check_factor(name: &str, factor: f64) -> Result<()> {
    if factor.is_finite() && factor >= 0.0 {
        Ok(())
    } else {
        Err(ImageError::Parameter(format!(
            "{name} factor must be a finite number >= 0, got {factor}"
        )))
    }
}

/// A hue factor: in [-0.5, 0.5] (torchvision's rule).
pub fn check_hue(hue_factor: f64) -> Result<()> {
    if (-0.5..=0.5).contains(&hue_factor) {
        Ok(())
    } else {
        Err(ImageError::Parameter(format!(
            "hue_factor must be in [-0.5, 0.5], got {hue_factor}"
        )))
    }
}

/// An interleaved RGB buffer: its length must be a multiple of 3.
pub fn check_rgb(buf: &[u8]) -> Result<()> {
    if buf.len().is_multiple_of(3) {
        Ok(())
    } else {
        Err(ImageError::Parameter(format!(
            "an RGB buffer holds 3 bytes per pixel, got {} bytes (not a multiple of 3)",
            buf.len()
        )))
    }
}

// --------------------------------------------------------------------------------------------
// Pillow primitives
// --------------------------------------------------------------------------------------------

/// Pillow's `L` conversion (`rgb2l`): ITU-R 601-2 luma in 16-bit fixed point, rounded.
#[inline(always)]
pub fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((u32::from(r) * 19595 + u32::from(g) * 38470 + u32::from(b) * 7471 + 0x8000) >> 16) as u8
}

/// Pillow's `ImagingBlend` for one value: `in1 + alpha * (in2 - in1)` in C `float`, truncated
/// toward zero, clipped to 0..=255. (`as u8` from f32 saturates, which is exactly that clip; the
/// shortcuts for alpha 0 and 1 give the same values as the formula.)
#[inline(always)]
fn blend(in1: u8, in2: u8, alpha: f32) -> u8 {
    let a = f32::from(in1);
    (a + alpha * (f32::from(in2) - a)) as u8
}

/// The blend of every value with a constant degenerate value, as a table.
fn blend_lut(degenerate: u8, alpha: f32) -> [u8; 256] {
    let mut lut = [0u8; 256];
    for (v, out) in lut.iter_mut().enumerate() {
        *out = blend(degenerate, v as u8, alpha);
    }
    lut
}

/// Maps every value of the whole pixels of `buf` (a trailing partial pixel stays as it is).
#[inline]
fn apply_lut(buf: &mut [u8], lut: &[u8; 256]) {
    let whole = buf.len() - buf.len() % 3;
    if let Some(pixels) = buf.get_mut(..whole) {
        for v in pixels.iter_mut() {
            *v = lut[usize::from(*v)];
        }
    }
}

/// The factor as Pillow receives it: `Image.blend` parses it as a C `float`.
#[inline]
fn pillow_alpha(factor: f64) -> f32 {
    factor as f32
}

// --------------------------------------------------------------------------------------------
// The per-value ops
// --------------------------------------------------------------------------------------------

/// `ImageEnhance.Brightness(img).enhance(factor)`: blend with black.
pub fn adjust_brightness(buf: &mut [u8], factor: f64) {
    let lut = blend_lut(0, pillow_alpha(factor));
    apply_lut(buf, &lut);
}

/// The value Pillow's `ImageEnhance.Contrast` blends with: `int(mean(L) + 0.5)`.
pub fn contrast_mean(buf: &[u8]) -> u8 {
    let mut sum = 0u64;
    let mut n = 0u64;
    for px in buf.chunks_exact(3) {
        if let [r, g, b] = *px {
            sum += u64::from(luma(r, g, b));
            n += 1;
        }
    }
    if n == 0 {
        return 0;
    }
    // Python: sum / count (correctly rounded; both exact in f64 below 2^53), + 0.5, int().
    ((sum as f64 / n as f64) + 0.5) as u8
}

/// `ImageEnhance.Contrast(img).enhance(factor)`: blend with the rounded mean of the `L` image.
pub fn adjust_contrast(buf: &mut [u8], factor: f64) {
    let mean = contrast_mean(buf);
    let lut = blend_lut(mean, pillow_alpha(factor));
    apply_lut(buf, &lut);
}

/// `ImageEnhance.Color(img).enhance(factor)`: blend with `img.convert("L").convert("RGB")`.
pub fn adjust_saturation(buf: &mut [u8], factor: f64) {
    let alpha = pillow_alpha(factor);
    for px in buf.chunks_exact_mut(3) {
        if let [r, g, b] = px {
            let l = luma(*r, *g, *b);
            *r = blend(l, *r, alpha);
            *g = blend(l, *g, alpha);
            *b = blend(l, *b, alpha);
        }
    }
}

/// `img.convert("L")` replicated to three channels (torchvision's `to_grayscale(img, 3)`).
pub fn to_grayscale(buf: &mut [u8]) {
    for px in buf.chunks_exact_mut(3) {
        if let [r, g, b] = px {
            let l = luma(*r, *g, *b);
            *r = l;
            *g = l;
            *b = l;
        }
    }
}

/// `ImageOps.solarize(img, threshold)`: every value `>= threshold` becomes `255 - value`.
pub fn solarize(buf: &mut [u8], threshold: u8) {
    let mut lut = [0u8; 256];
    for (v, out) in lut.iter_mut().enumerate() {
        let v = v as u8;
        *out = if v < threshold { v } else { 255 - v };
    }
    apply_lut(buf, &lut);
}

// --------------------------------------------------------------------------------------------
// Hue
// --------------------------------------------------------------------------------------------

#[inline(always)]
fn clip8(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

/// Pillow's `rgb2hsv_row`, operation for operation: C `float` where Pillow has `float`, C
/// `double` where a double literal promotes the expression. This is the reference the tables
/// are built from and the tests compare against.
pub fn pillow_rgb_to_hsv(r: u8, g: u8, b: u8) -> [u8; 3] {
    let maxc = r.max(g).max(b);
    let minc = r.min(g).min(b);
    if minc == maxc {
        return [0, 0, maxc];
    }
    let cr = f32::from(maxc - minc);
    let s = cr / f32::from(maxc);
    let rc = f32::from(maxc - r) / cr;
    let gc = f32::from(maxc - g) / cr;
    let bc = f32::from(maxc - b) / cr;
    let h: f32 = if r == maxc {
        bc - gc
    } else if g == maxc {
        (2.0 + f64::from(rc) - f64::from(bc)) as f32
    } else {
        (4.0 + f64::from(gc) - f64::from(rc)) as f32
    };
    // fmod((h / 6.0 + 1.0), 1.0): Rust's `%` on f64 is C's fmod.
    let h = ((f64::from(h) / 6.0 + 1.0) % 1.0) as f32;
    let uh = clip8((f64::from(h) * 255.0) as i32);
    let us = clip8((f64::from(s) * 255.0) as i32);
    [uh, us, maxc]
}

/// Pillow's `hsv2rgb`, operation for operation (see [`pillow_rgb_to_hsv`]).
pub fn pillow_hsv_to_rgb(h: u8, s: u8, v: u8) -> [u8; 3] {
    if s == 0 {
        return [v, v, v];
    }
    let hd = f64::from(f32::from(h)) * 6.0 / 255.0;
    let i = hd.floor() as i32;
    let f = (hd - f64::from(i as f32)) as f32;
    let fs = (f64::from(f32::from(s)) / 255.0) as f32;
    let vd = f64::from(f32::from(v));
    let p = clip8((vd * (1.0 - f64::from(fs))).round() as i32);
    let q = clip8((vd * (1.0 - f64::from(fs * f))).round() as i32);
    let t = clip8((vd * (1.0 - f64::from(fs) * (1.0 - f64::from(f)))).round() as i32);
    match i % 6 {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

/// The hue shift torchvision applies: `np.int32(hue_factor * 255).astype(np.uint8)` (truncation
/// toward zero, then wrap-around modulo 256).
pub fn hue_shift(hue_factor: f64) -> u8 {
    ((hue_factor * 255.0) as i32) as u8
}

/// Lookup tables that make Pillow's HSV round trip division-free and branch-light.
struct HueTables {
    /// Pillow's uint8 hue, indexed `case << 16 | cr << 8 | d`: `case` = 2 * (first channel
    /// holding the maximum, in r, g, b order) + (0 if the later of the two other channels holds the
    /// minimum, else 1), `cr` = max - min, `d` = max minus the other non-minimum channel. The
    /// hue depends only on these (Pillow's `rc`, `gc`, `bc` are (max - x) / cr).
    hue: Vec<u8>,
    /// Pillow's uint8 saturation, indexed `max << 8 | cr`.
    sat: Vec<u8>,
    /// Per uint8 hue: `i % 6` (the sextant), `f` (C float) and `1.0 - f` (C double).
    sextant: [u8; 256],
    frac: [f32; 256],
    one_minus_frac: [f64; 256],
    /// Per uint8 saturation: `fs` (C float) and `1.0 - fs` (C double).
    fs: [f32; 256],
    one_minus_fs: [f64; 256],
}

const HUE_CASES: usize = 8; // 6 used; 8 keeps every index `< len` provable.

static HUE_TABLES: LazyLock<HueTables> = LazyLock::new(build_hue_tables);

fn build_hue_tables() -> HueTables {
    let mut hue = vec![0u8; HUE_CASES << 16];
    for case in 0..6usize {
        let max_channel = case / 2;
        let later_is_min = case % 2 == 0;
        for cr in 1..=255u8 {
            for d in 0..=cr {
                // A representative pixel with max = cr, min = 0, classified as `case`.
                let mut px = [0u8; 3];
                px[max_channel] = cr;
                let (o1, o2) = match max_channel {
                    0 => (1, 2),
                    1 => (0, 2),
                    _ => (0, 1),
                };
                if later_is_min {
                    px[o1] = cr - d;
                } else {
                    px[o2] = cr - d;
                }
                let idx = case << 16 | usize::from(cr) << 8 | usize::from(d);
                if let Some(slot) = hue.get_mut(idx) {
                    *slot = pillow_rgb_to_hsv(px[0], px[1], px[2])[0];
                }
            }
        }
    }
    let mut sat = vec![0u8; 1 << 16];
    for maxc in 1..=255u8 {
        for cr in 1..=maxc {
            if let Some(slot) = sat.get_mut(usize::from(maxc) << 8 | usize::from(cr)) {
                *slot = pillow_rgb_to_hsv(maxc, maxc - cr, maxc - cr)[1];
            }
        }
    }
    let mut t = HueTables {
        hue,
        sat,
        sextant: [0; 256],
        frac: [0.0; 256],
        one_minus_frac: [0.0; 256],
        fs: [0.0; 256],
        one_minus_fs: [0.0; 256],
    };
    for v in 0..256usize {
        // As in pillow_hsv_to_rgb.
        let hd = f64::from(f32::from(v as u8)) * 6.0 / 255.0;
        let i = hd.floor() as i32;
        let f = (hd - f64::from(i as f32)) as f32;
        t.sextant[v] = (i % 6) as u8;
        t.frac[v] = f;
        t.one_minus_frac[v] = 1.0 - f64::from(f);
        let fs = (f64::from(f32::from(v as u8)) / 255.0) as f32;
        t.fs[v] = fs;
        t.one_minus_fs[v] = 1.0 - f64::from(fs);
    }
    t
}

/// C's `round()` (half away from zero) for `x >= 0`, converted to int: adding the largest double
/// below 0.5 and truncating is exact for every non-negative double (LLVM expands `round` the
/// same way), without a libm call on x86-64 baseline.
#[inline(always)]
fn round_pos(x: f64) -> u32 {
    (x + 0.499_999_999_999_999_94) as u32
}

/// Bit shifts placing (v, third, p) packed as `v | third << 8 | p << 16` into r, g, b for each
/// Pillow sextant: 0 (v,t,p) 1 (q,v,p) 2 (p,v,t) 3 (p,q,v) 4 (t,p,v) 5 (v,p,q).
const SEXTANT_SHIFTS: [[u32; 3]; 8] = [
    [0, 8, 16],
    [8, 0, 16],
    [16, 0, 8],
    [16, 8, 0],
    [8, 16, 0],
    [0, 16, 8],
    [0, 0, 0],
    [0, 0, 0],
];

impl HueTables {
    /// Pillow's `rgb2hsv_row` through the tables: (hue, saturation, value) as uint8.
    #[inline(always)]
    fn rgb_to_hsv(&self, r: u8, g: u8, b: u8) -> (u8, u8, u8) {
        let maxc = r.max(g).max(b);
        let minc = r.min(g).min(b);
        let cr = maxc - minc;
        let (m, o1, o2) = if r == maxc {
            (0usize, g, b)
        } else if g == maxc {
            (2, r, b)
        } else {
            (4, r, g)
        };
        let (case, d) = if o2 == minc {
            (m, maxc - o1)
        } else {
            (m + 1, maxc - o2)
        };
        let hidx = (case & 7) << 16 | usize::from(cr) << 8 | usize::from(d);
        let uh = self.hue.get(hidx).copied().unwrap_or(0);
        let us = self
            .sat
            .get(usize::from(maxc) << 8 | usize::from(cr))
            .copied()
            .unwrap_or(0);
        (uh, us, maxc)
    }

    /// Pillow's `hsv2rgb` through the tables. With s == 0 the formulas give p = q = t = v, which
    /// is Pillow's grey shortcut, so no branch is needed for it.
    #[inline(always)]
    fn hsv_to_rgb(&self, h: u8, s: u8, v: u8) -> [u8; 3] {
        let (h, s) = (usize::from(h), usize::from(s));
        let vd = f64::from(v);
        let fs = self.fs[s];
        let p = round_pos(vd * self.one_minus_fs[s]);
        let sextant = self.sextant[h];
        let third = if sextant & 1 == 1 {
            round_pos(vd * (1.0 - f64::from(fs * self.frac[h])))
        } else {
            round_pos(vd * (1.0 - f64::from(fs) * self.one_minus_frac[h]))
        };
        let packed = u32::from(v) | third.min(255) << 8 | p.min(255) << 16;
        let [sr, sg, sb] = SEXTANT_SHIFTS[usize::from(sextant & 7)];
        [
            (packed >> sr) as u8,
            (packed >> sg) as u8,
            (packed >> sb) as u8,
        ]
    }
}

/// torchvision's `adjust_hue` on a PIL image: Pillow's uint8 HSV, the hue byte shifted by
/// [`hue_shift`]`(hue_factor)` with wrap-around, back to RGB. Not the identity even at
/// `hue_factor = 0`: Pillow's uint8 HSV round trip is lossy (and greys out pixels whose uint8
/// saturation is 0).
pub fn adjust_hue(buf: &mut [u8], hue_factor: f64) {
    adjust_hue_shift(buf, hue_shift(hue_factor));
}

/// [`adjust_hue`] with the uint8 hue shift given directly.
pub fn adjust_hue_shift(buf: &mut [u8], shift: u8) {
    let t: &HueTables = &HUE_TABLES;
    for px in buf.chunks_exact_mut(3) {
        if let [r, g, b] = px {
            let (h, s, v) = t.rgb_to_hsv(*r, *g, *b);
            let [nr, ng, nb] = t.hsv_to_rgb(h.wrapping_add(shift), s, v);
            *r = nr;
            *g = ng;
            *b = nb;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::image::decode;

    /// A real photo: scikit-image's chelsea.png from the project venv (`make venv`).
    fn photo() -> Vec<u8> {
        let root = env!("CARGO_MANIFEST_DIR");
        for py in ["python3.11", "python3.12"] {
            let path = format!("{root}/.venv/lib/{py}/site-packages/skimage/data/chelsea.png");
            if let Ok(bytes) = std::fs::read(&path) {
                return decode::decode(&bytes, &Default::default()).unwrap().data;
            }
        }
        panic!("skimage's chelsea.png not found under {root}/.venv: run `make venv` first");
    }

    #[test]
    fn identity_factors_leave_the_image_unchanged() {
        let img = photo();
        for op in [adjust_brightness, adjust_contrast, adjust_saturation] {
            let mut out = img.clone();
            op(&mut out, 1.0);
            assert_eq!(out, img);
        }
    }

    #[test]
    fn zero_factors_give_the_degenerate_image() {
        let img = photo();
        let mut out = img.clone();
        adjust_brightness(&mut out, 0.0);
        assert!(out.iter().all(|&v| v == 0));

        let mean = contrast_mean(&img);
        let mut out = img.clone();
        adjust_contrast(&mut out, 0.0);
        assert!(out.iter().all(|&v| v == mean));

        let mut grey = img.clone();
        to_grayscale(&mut grey);
        let mut out = img.clone();
        adjust_saturation(&mut out, 0.0);
        assert_eq!(out, grey);
    }

    #[test]
    fn blend_truncates_in_float_and_clips() {
        assert_eq!(blend(0, 255, 0.6), 153); // 0.6f * 255 = 153.0 in float
        assert_eq!(blend(0, 101, 0.6), 60); // 60.6 -> 60 (truncation, not rounding)
        assert_eq!(blend(0, 200, 1.4), 255); // 280 -> clipped
        assert_eq!(blend(100, 10, 1.4), 0); // 100 + 1.4 * -90 = -26 -> clipped
        assert_eq!(blend(100, 110, 1.4), 114); // 100 + 1.4f * 10 = 114.0 in float
    }

    #[test]
    fn contrast_mean_rounds_half_up() {
        // L of (10,10,10) is 10 and of (11,11,11) is 11: mean 10.5 -> int(11.0) = 11.
        assert_eq!(contrast_mean(&[10, 10, 10, 11, 11, 11]), 11);
        assert_eq!(contrast_mean(&[10, 10, 10, 10, 10, 10, 11, 11, 11]), 10);
        assert_eq!(contrast_mean(&[]), 0);
    }

    #[test]
    fn solarize_inverts_values_at_or_above_the_threshold() {
        let img = photo();
        let mut out = img.clone();
        solarize(&mut out, 128);
        assert_ne!(out, img);
        for (&a, &b) in img.iter().zip(&out) {
            assert_eq!(b, if a >= 128 { 255 - a } else { a });
        }
        // With threshold 128 everything ends below 128, so a second pass changes nothing.
        let mut twice = out.clone();
        solarize(&mut twice, 128);
        assert_eq!(twice, out);
        // Threshold 0 is the full inversion, an involution.
        let mut inv = img.clone();
        solarize(&mut inv, 0);
        assert!(inv.iter().zip(&img).all(|(&b, &a)| b == 255 - a));
        solarize(&mut inv, 0);
        assert_eq!(inv, img);
    }

    #[test]
    fn grayscale_of_a_grey_image_is_itself() {
        let mut img = photo();
        to_grayscale(&mut img);
        assert!(img.chunks_exact(3).all(|p| p[0] == p[1] && p[1] == p[2]));
        let grey = img.clone();
        to_grayscale(&mut img);
        assert_eq!(img, grey);
        for v in 0..=255u8 {
            assert_eq!(luma(v, v, v), v);
        }
    }

    #[test]
    fn saturation_and_hue_leave_grey_pixels_alone() {
        let mut img = photo();
        to_grayscale(&mut img);
        let grey = img.clone();
        adjust_saturation(&mut img, 1.7);
        assert_eq!(img, grey);
        adjust_hue(&mut img, 0.3);
        assert_eq!(img, grey);
    }

    #[test]
    fn hue_shift_matches_numpy() {
        assert_eq!(hue_shift(0.1), 25);
        assert_eq!(hue_shift(-0.1), 231); // int32(-25.5) = -25 -> uint8 231
        assert_eq!(hue_shift(0.5), 127);
        assert_eq!(hue_shift(-0.5), 129);
        assert_eq!(hue_shift(0.0), 0);
    }

    #[test]
    fn pillow_transcription_known_values() {
        // Values from Pillow 13: Image.new("RGB", (1, 1), c).convert("HSV").getpixel((0, 0)).
        assert_eq!(pillow_rgb_to_hsv(255, 0, 0), [0, 255, 255]);
        assert_eq!(pillow_rgb_to_hsv(0, 255, 0), [85, 255, 255]);
        assert_eq!(pillow_rgb_to_hsv(0, 0, 255), [170, 255, 255]);
        assert_eq!(pillow_rgb_to_hsv(255, 0, 1), [254, 255, 255]);
        assert_eq!(pillow_hsv_to_rgb(85, 255, 255), [0, 255, 0]);
    }

    #[test]
    fn rgb_to_hsv_tables_match_the_transcription_on_every_colour() {
        let t: &HueTables = &HUE_TABLES;
        for c in 0..1u32 << 24 {
            let (r, g, b) = ((c >> 16) as u8, (c >> 8) as u8, c as u8);
            let [h, s, v] = pillow_rgb_to_hsv(r, g, b);
            assert_eq!(t.rgb_to_hsv(r, g, b), (h, s, v), "rgb {r},{g},{b}");
        }
    }

    #[test]
    fn hsv_to_rgb_tables_match_the_transcription_on_every_hsv() {
        let t: &HueTables = &HUE_TABLES;
        for c in 0..1u32 << 24 {
            let (h, s, v) = ((c >> 16) as u8, (c >> 8) as u8, c as u8);
            assert_eq!(
                t.hsv_to_rgb(h, s, v),
                pillow_hsv_to_rgb(h, s, v),
                "hsv {h},{s},{v}"
            );
        }
    }

    #[test]
    fn adjust_hue_is_the_transcribed_round_trip() {
        let img = photo();
        for factor in [-0.5, -0.1, 0.0, 0.1, 0.5] {
            let shift = hue_shift(factor);
            let mut out = img.clone();
            adjust_hue(&mut out, factor);
            for (src, dst) in img.chunks_exact(3).zip(out.chunks_exact(3)) {
                let [h, s, v] = pillow_rgb_to_hsv(src[0], src[1], src[2]);
                assert_eq!(dst, pillow_hsv_to_rgb(h.wrapping_add(shift), s, v));
            }
        }
    }

    #[test]
    fn round_pos_is_c_round() {
        for v in 0..=255u32 {
            for k in 0..=2000u32 {
                let x = f64::from(v) * (f64::from(k) / 2000.0);
                assert_eq!(round_pos(x), x.round() as u32);
            }
        }
        for x in [
            0.5,
            1.5,
            2.5,
            0.499_999_999_999_999_94,
            254.5,
            254.499_999_999_999_97,
        ] {
            assert_eq!(round_pos(x), x.round() as u32, "{x}");
        }
    }

    #[test]
    fn parameter_checks() {
        assert!(check_factor("brightness", 0.0).is_ok());
        assert!(check_factor("brightness", 1.4).is_ok());
        assert!(matches!(
            check_factor("contrast", -0.1),
            Err(ImageError::Parameter(_))
        ));
        assert!(check_factor("contrast", f64::NAN).is_err());
        assert!(check_factor("contrast", f64::INFINITY).is_err());
        assert!(check_hue(0.5).is_ok());
        assert!(check_hue(-0.5).is_ok());
        assert!(check_hue(0.51).is_err());
        assert!(check_hue(f64::NAN).is_err());
        assert!(check_rgb(&[0; 6]).is_ok());
        assert!(check_rgb(&[0; 7]).is_err());
    }

    #[test]
    fn ops_do_not_panic_and_leave_a_partial_pixel_alone() {
        for len in [0usize, 1, 2, 4, 5] {
            let mut buf = vec![200u8; len];
            adjust_brightness(&mut buf, f64::NAN);
            adjust_contrast(&mut buf, -3.0);
            adjust_saturation(&mut buf, 1e30);
            adjust_hue(&mut buf, 7.0);
            to_grayscale(&mut buf);
            solarize(&mut buf, 255);
            assert!(buf[len - len % 3..].iter().all(|&v| v == 200));
        }
    }
}
