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
//! Every op is bit-exact with the reference (the hue op is checked on all 2^24 colours and all
//! 2^24 HSV triples in the unit tests against a line-by-line transcription of Pillow's C code).
//! Every op is written to vectorise: the per-value ops evaluate Pillow's float blend directly on
//! runs of bytes, and the per-pixel ops (saturation, grayscale, hue) work on planar blocks of
//! pixels. The hue op is rewritten as branch-free f32 arithmetic (four divisions per pixel, where
//! Pillow has six and a double-precision path) whose every step is checked exhaustively. Each
//! op is built twice, for the x86-64 baseline and for AVX2, and the AVX2 build runs when the CPU
//! has it (see `simd.rs`).
//!
//! The ops themselves never fail: out-of-range factors extrapolate exactly as Pillow does, and a
//! trailing partial pixel (a length that is not a multiple of 3) is left untouched. The `check_*`
//! functions validate parameters with the rules of the public API (torchvision's), for the
//! bindings and for recipe validation.

use super::simd::{clip_trunc_u8, simd_dispatch};
use super::{ImageError, Result};

// --------------------------------------------------------------------------------------------
// Parameter validation
// --------------------------------------------------------------------------------------------

/// A brightness / contrast / saturation factor: finite and non-negative (torchvision's rule).
pub fn check_factor(name: &str, factor: f64) -> Result<()> {
    if factor.is_finite() && factor >= 0.0 {
        Ok(())
    } else {
        Err(ImageError::Parameter(format!("{name} factor must be a finite number >= 0, got {factor}")))
    }
}

/// A hue factor: in [-0.5, 0.5] (torchvision's rule).
pub fn check_hue(hue_factor: f64) -> Result<()> {
    if (-0.5..=0.5).contains(&hue_factor) {
        Ok(())
    } else {
        Err(ImageError::Parameter(format!("hue_factor must be in [-0.5, 0.5], got {hue_factor}")))
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
/// toward zero, clipped to 0..=255 (the shortcuts for alpha 0 and 1 give the same values as the
/// formula). `in1` and `in2` are integers 0..=255 held as f32 (exact).
#[inline(always)]
fn blend(in1: f32, in2: f32, alpha: f32) -> u8 {
    clip_trunc_u8(in1 + alpha * (in2 - in1))
}

/// [`luma`] on values held as u32 lanes.
#[inline(always)]
fn luma32(r: u32, g: u32, b: u32) -> u32 {
    (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16
}

/// The factor as Pillow receives it: `Image.blend` parses it as a C `float`.
#[inline]
fn pillow_alpha(factor: f64) -> f32 {
    factor as f32
}

/// The whole pixels of `buf` (a trailing partial pixel is left alone by every op).
#[inline(always)]
fn whole_pixels(buf: &mut [u8]) -> &mut [u8] {
    let whole = buf.len() - buf.len() % 3;
    let (pixels, _) = buf.split_at_mut(whole);
    pixels
}

/// Pixels per planar block: small enough for the stack and L1, large enough to amortise.
pub(crate) const BLOCK: usize = 128;

/// A block of up to [`BLOCK`] pixels as r, g, b planes: planar lanes are what lets the per-pixel
/// arithmetic vectorise. Lanes past the end of a short last block are zeros and are not stored.
/// (A struct and a plain loop in each op rather than a helper taking a closure: a large closure
/// may not be inlined into the AVX2 build and would then run as baseline code.)
pub(crate) struct Planes {
    pub r: [u8; BLOCK],
    pub g: [u8; BLOCK],
    pub b: [u8; BLOCK],
}

impl Planes {
    #[inline(always)]
    pub fn load(block: &[u8]) -> Planes {
        let mut p = Planes { r: [0; BLOCK], g: [0; BLOCK], b: [0; BLOCK] };
        for (((px, r), g), b) in block.chunks_exact(3).zip(&mut p.r).zip(&mut p.g).zip(&mut p.b) {
            if let [pr, pg, pb] = *px {
                (*r, *g, *b) = (pr, pg, pb);
            }
        }
        p
    }

    #[inline(always)]
    pub fn store(&self, block: &mut [u8]) {
        for (((px, r), g), b) in block.chunks_exact_mut(3).zip(&self.r).zip(&self.g).zip(&self.b) {
            if let [pr, pg, pb] = px {
                (*pr, *pg, *pb) = (*r, *g, *b);
            }
        }
    }
}

// --------------------------------------------------------------------------------------------
// The ops
// --------------------------------------------------------------------------------------------

simd_dispatch! {
    /// `ImageEnhance.Brightness(img).enhance(factor)`: blend with black, i.e. every value becomes
    /// `factor * value` in C float, truncated and clipped.
    pub fn adjust_brightness / adjust_brightness_baseline(buf: &mut [u8], factor: f64) {
        let alpha = pillow_alpha(factor);
        for v in whole_pixels(buf) {
            *v = blend(0.0, f32::from(*v), alpha);
        }
    }
}

/// The value Pillow's `ImageEnhance.Contrast` blends with: `int(mean(L) + 0.5)`.
pub fn contrast_mean(buf: &[u8]) -> u8 {
    contrast_mean_inline(buf)
}

#[inline(always)]
fn contrast_mean_inline(buf: &[u8]) -> u8 {
    let whole = buf.len() - buf.len() % 3;
    let pixels = buf.get(..whole).unwrap_or_default();
    let n = (whole / 3) as u64;
    let mut sum = 0u64;
    for block in pixels.chunks(3 * BLOCK) {
        let Planes { r, g, b } = Planes::load(block);
        // 128 lumas of at most 255 fit a u32; padding lanes are zeros, whose luma is 0.
        let mut block_sum = 0u32;
        for i in 0..BLOCK {
            block_sum += luma32(u32::from(r[i]), u32::from(g[i]), u32::from(b[i]));
        }
        sum += u64::from(block_sum);
    }
    if n == 0 {
        return 0;
    }
    // Python: sum / count (correctly rounded; both exact in f64 below 2^53), + 0.5, int().
    ((sum as f64 / n as f64) + 0.5) as u8
}

simd_dispatch! {
    /// `ImageEnhance.Contrast(img).enhance(factor)`: blend with the rounded mean of the `L` image.
    pub fn adjust_contrast / adjust_contrast_baseline(buf: &mut [u8], factor: f64) {
        let mean = f32::from(contrast_mean_inline(buf));
        let alpha = pillow_alpha(factor);
        for v in whole_pixels(buf) {
            *v = blend(mean, f32::from(*v), alpha);
        }
    }
}

simd_dispatch! {
    /// `ImageEnhance.Color(img).enhance(factor)`: blend with `img.convert("L").convert("RGB")`.
    pub fn adjust_saturation / adjust_saturation_baseline(buf: &mut [u8], factor: f64) {
        let alpha = pillow_alpha(factor);
        for block in whole_pixels(buf).chunks_mut(3 * BLOCK) {
            let Planes { mut r, mut g, mut b } = Planes::load(block);
            for i in 0..BLOCK {
                let (vr, vg, vb) = (r[i], g[i], b[i]);
                let l = luma32(u32::from(vr), u32::from(vg), u32::from(vb)) as f32;
                r[i] = blend(l, f32::from(vr), alpha);
                g[i] = blend(l, f32::from(vg), alpha);
                b[i] = blend(l, f32::from(vb), alpha);
            }
            Planes { r, g, b }.store(block);
        }
    }
}

simd_dispatch! {
    /// `img.convert("L")` replicated to three channels (torchvision's `to_grayscale(img, 3)`).
    pub fn to_grayscale / to_grayscale_baseline(buf: &mut [u8]) {
        for block in whole_pixels(buf).chunks_mut(3 * BLOCK) {
            let Planes { mut r, mut g, mut b } = Planes::load(block);
            for i in 0..BLOCK {
                let l = luma32(u32::from(r[i]), u32::from(g[i]), u32::from(b[i])) as u8;
                (r[i], g[i], b[i]) = (l, l, l);
            }
            Planes { r, g, b }.store(block);
        }
    }
}

/// `ImageOps.solarize(img, threshold)`: every value `>= threshold` becomes `255 - value`.
pub fn solarize(buf: &mut [u8], threshold: u8) {
    for v in whole_pixels(buf) {
        *v = if *v >= threshold { 255 - *v } else { *v };
    }
}

// --------------------------------------------------------------------------------------------
// Hue
// --------------------------------------------------------------------------------------------

#[inline(always)]
fn clip8(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

/// Pillow's `rgb2hsv_row`, operation for operation: C `float` where Pillow has `float`, C
/// `double` where a double literal promotes the expression. This is the reference the fast path
/// is tested against (on every colour).
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

/// torchvision's `adjust_hue` on a PIL image: Pillow's uint8 HSV, the hue byte shifted by
/// [`hue_shift`]`(hue_factor)` with wrap-around, back to RGB. Not the identity even at
/// `hue_factor = 0`: Pillow's uint8 HSV round trip is lossy (and greys out pixels whose uint8
/// saturation is 0).
pub fn adjust_hue(buf: &mut [u8], hue_factor: f64) {
    adjust_hue_shift(buf, hue_shift(hue_factor));
}

#[inline(always)]
fn fmax(a: f32, b: f32) -> f32 {
    if a > b {
        a
    } else {
        b
    }
}

#[inline(always)]
fn fmin(a: f32, b: f32) -> f32 {
    if a < b {
        a
    } else {
        b
    }
}

/// Pillow's `rgb2hsv_row` without branches or tables: (hue, saturation) as i32, value = max.
/// Of Pillow's three `(max - x) / cr` quotients one is 0 and one is 1 (the maximum and the
/// minimum channel), so one division gives the third, `q`, and each of Pillow's hue expressions
/// (`bc - gc`, `2.0 + rc - bc`, `4.0 + gc - rc`) becomes `k + q` or `k - q`: exact in double and
/// rounded once to float there, a single correctly rounded f32 operation here. `/ 6.0` becomes
/// `* (1.0 / 6.0)`, and the last products (`* 255.0`, formed in double by Pillow) are formed in
/// f32. The tests check on all 2^24 colours that the result is bit-exact.
#[inline(always)]
fn rgb_to_hsv_parts(r: f32, g: f32, b: f32) -> (f32, i32, f32) {
    let maxc = fmax(r, fmax(g, b));
    let minc = fmin(r, fmin(g, b));
    let cr = maxc - minc;
    let grey = cr == 0.0;
    let crs = if grey { 1.0 } else { cr };
    let s = cr / if maxc == 0.0 { 1.0 } else { maxc };
    let mid = r + g + b - maxc - minc;
    let q = (maxc - mid) / crs;
    // Pillow takes the first channel equal to the maximum (r, then g, then b); whether the later
    // of the two others is the minimum decides between the two hue expressions.
    let r_max = r == maxc;
    let g_max = !r_max && g == maxc;
    let later_is_min = if r_max || g_max { b == minc } else { g == minc };
    // r max: 1 - q | q - 1; g max: 1 + q | 3 - q; b max: 5 - q | 3 + q.
    let (k, negate) = match (r_max, g_max, later_is_min) {
        (true, _, true) => (1.0, true),
        (true, _, false) => (-1.0, false),
        (false, true, true) => (1.0, false),
        (false, true, false) => (3.0, true),
        (false, false, true) => (5.0, true),
        (false, false, false) => (3.0, false),
    };
    let h: f32 = k + if negate { -q } else { q };
    // A grey pixel's hue byte is 0: NaN becomes 0 in `hue_byte`.
    let h = if grey { f32::NAN } else { h };
    let us = i32::from(clip_trunc_u8(s * 255.0));
    (h, us, maxc)
}

/// The hue byte of [`rgb_to_hsv_parts`]'s `h` (in sixths of the circle, NaN for grey): Pillow's
/// `fmod(h / 6.0 + 1.0, 1.0) * 255`, truncated.
#[inline(always)]
fn hue_byte(h: f32) -> i32 {
    let x = f64::from(h) * (1.0 / 6.0) + 1.0;
    let x = if x >= 1.0 { x - 1.0 } else { x };
    i32::from(clip_trunc_u8((x as f32) * 255.0))
}

/// [`rgb_to_hsv_parts`] and [`hue_byte`]: (hue, saturation) as i32, value = max. The conversion
/// in one function, as the tests check it; the op runs the two as separate loops over a block.
#[cfg(test)]
fn rgb_to_hsv_lane(r: f32, g: f32, b: f32) -> (i32, i32, f32) {
    let (h, us, v) = rgb_to_hsv_parts(r, g, b);
    (hue_byte(h), us, v)
}

/// Pillow's `hsv2rgb` without branches or tables (`h`, `s` in 0..=255, `v` = value as f32).
/// `i = floor(h * 6.0 / 255.0)` is computed in integers and `f`, `fs` as f32 products with 1/255
/// (not always Pillow's quotients, but the integers below come out the same; a division per lane
/// cost more than the rest of the conversion). Pillow forms and rounds (half away from zero) the
/// products `v (1 - fs)`, `v (1 - fs f)`, `v (1 - fs (1 - f))` in double; in f32, rounded by
/// adding the largest float below 0.5 and truncating, they give the same integers for every one
/// of the 2^24 (h, s, v) triples (the tests check them all), and f32 lanes are twice as many.
/// In one function as the tests check it; the op runs [`hsv_to_rgb_values`] and
/// [`sector_to_rgb`] as separate loops over a block.
#[cfg(test)]
fn hsv_to_rgb_lane(h: i32, s: i32, v: f32) -> [i32; 3] {
    let [p, third, v, sext] = hsv_to_rgb_values(h, s, v);
    sector_to_rgb(p, third, v, sext).map(i32::from)
}

/// The values of [`hsv_to_rgb_lane`] before they are placed: `[p, q or t, v, sector]`, as bytes
/// so that the placing runs on four times as many lanes.
#[inline(always)]
fn hsv_to_rgb_values(h: i32, s: i32, v: f32) -> [u8; 4] {
    let i = (h * 6 * 0x8081) >> 23; // (6 h) / 255 for 6 h < 2^16
    let f = (6 * h - 255 * i) as f32 * (1.0 / 255.0);
    let fs = s as f32 * (1.0 / 255.0);
    let p = clip_trunc_u8(v * (1.0 - fs) + 0.499_999_97);
    let sext = if i >= 6 { i - 6 } else { i };
    let q_factor = 1.0 - fs * f;
    let t_factor = 1.0 - fs * (1.0 - f);
    let third_factor = if sext & 1 == 1 { q_factor } else { t_factor };
    let third = clip_trunc_u8(v * third_factor + 0.499_999_97);
    [p, third, clip_trunc_u8(v), sext as u8]
}

/// Places `v`, `p` and the third value (`q` or `t`) into (r, g, b) by the hue's `sector` (0..6).
#[inline(always)]
fn sector_to_rgb(p: u8, third: u8, v: u8, sext: u8) -> [u8; 3] {
    // 0 (v,t,p) 1 (q,v,p) 2 (p,v,t) 3 (p,q,v) 4 (t,p,v) 5 (v,p,q)
    let r = if sext == 0 || sext == 5 {
        v
    } else if sext == 2 || sext == 3 {
        p
    } else {
        third
    };
    let g = if sext == 1 || sext == 2 {
        v
    } else if sext == 4 || sext == 5 {
        p
    } else {
        third
    };
    let b = if sext == 3 || sext == 4 {
        v
    } else if sext == 0 || sext == 1 {
        p
    } else {
        third
    };
    [r, g, b]
}

simd_dispatch! {
    /// [`adjust_hue`] with the uint8 hue shift given directly.
    pub fn adjust_hue_shift / adjust_hue_shift_baseline(buf: &mut [u8], shift: u8) {
        let shift = i32::from(shift);
        let (mut hf, mut hs, mut ss, mut vs) = ([0f32; BLOCK], [0i32; BLOCK], [0i32; BLOCK], [0f32; BLOCK]);
        let (mut ps, mut thirds, mut bytes, mut sectors) = ([0u8; BLOCK], [0u8; BLOCK], [0u8; BLOCK], [0u8; BLOCK]);
        for block in whole_pixels(buf).chunks_mut(3 * BLOCK) {
            let Planes { mut r, mut g, mut b } = Planes::load(block);
            // Loops of one step each rather than one loop: each keeps its values in registers (one loop
            // spilled), and the placing runs on bytes.
            for i in 0..BLOCK {
                (hf[i], ss[i], vs[i]) = rgb_to_hsv_parts(f32::from(r[i]), f32::from(g[i]), f32::from(b[i]));
            }
            for i in 0..BLOCK {
                hs[i] = (hue_byte(hf[i]) + shift) & 255;
            }
            for i in 0..BLOCK {
                [ps[i], thirds[i], bytes[i], sectors[i]] = hsv_to_rgb_values(hs[i], ss[i], vs[i]);
            }
            for i in 0..BLOCK {
                [r[i], g[i], b[i]] = sector_to_rgb(ps[i], thirds[i], bytes[i], sectors[i]);
            }
            Planes { r, g, b }.store(block);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    /// A real photo (tests/fixtures, `crate::image::testdata`), HWC RGB.
    fn photo() -> Vec<u8> {
        crate::image::testdata::chelsea().data
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
        assert_eq!(blend(0.0, 255.0, 0.6), 153); // 0.6f * 255 = 153.0 in float
        assert_eq!(blend(0.0, 101.0, 0.6), 60); // 60.6 -> 60 (truncation, not rounding)
        assert_eq!(blend(0.0, 200.0, 1.4), 255); // 280 -> clipped
        assert_eq!(blend(100.0, 10.0, 1.4), 0); // 100 + 1.4 * -90 = -26 -> clipped
        assert_eq!(blend(100.0, 110.0, 1.4), 114); // 100 + 1.4f * 10 = 114.0 in float
        assert_eq!(blend(100.0, 110.0, f32::NAN), 0);
        // Against Pillow's C expression (float arithmetic, saturating cast) on every pair.
        for alpha in [0.0f32, 0.6, 0.8, 1.0, 1.2, 1.4, 3.7] {
            for a in 0..=255u8 {
                for v in 0..=255u8 {
                    let (a, v) = (f32::from(a), f32::from(v));
                    assert_eq!(blend(a, v, alpha), (a + alpha * (v - a)) as u8);
                }
            }
        }
    }

    #[test]
    fn dispatched_and_baseline_builds_agree() {
        let img = photo();
        type Op = (fn(&mut [u8]), fn(&mut [u8]));
        let ops: [Op; 5] = [
            (|b| adjust_brightness(b, 1.37), |b| adjust_brightness_baseline(b, 1.37)),
            (|b| adjust_contrast(b, 0.61), |b| adjust_contrast_baseline(b, 0.61)),
            (|b| adjust_saturation(b, 1.19), |b| adjust_saturation_baseline(b, 1.19)),
            (|b| adjust_hue_shift(b, 231), |b| adjust_hue_shift_baseline(b, 231)),
            (to_grayscale, to_grayscale_baseline),
        ];
        for (fast, base) in ops {
            // Also an odd length: a short last block and a partial pixel.
            for len in [img.len(), img.len() - 3 * 77 - 2] {
                let (mut a, mut b) = (img[..len].to_vec(), img[..len].to_vec());
                fast(&mut a);
                base(&mut b);
                assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn per_value_ops_match_the_pillow_formula() {
        let img = photo();
        let mean = contrast_mean(&img);
        for factor in [0.6, 1.4] {
            let alpha = factor as f32;
            let mut out = img.clone();
            adjust_brightness(&mut out, factor);
            assert!(img.iter().zip(&out).all(|(&v, &o)| o == (alpha * f32::from(v)) as u8));
            let mut out = img.clone();
            adjust_contrast(&mut out, factor);
            let m = f32::from(mean);
            assert!(img.iter().zip(&out).all(|(&v, &o)| o == (m + alpha * (f32::from(v) - m)) as u8));
        }
        let mut out = img.clone();
        adjust_saturation(&mut out, 1.2);
        for (p, o) in img.chunks_exact(3).zip(out.chunks_exact(3)) {
            let l = f32::from(luma(p[0], p[1], p[2]));
            for c in 0..3 {
                assert_eq!(o[c], (l + 1.2f32 * (f32::from(p[c]) - l)) as u8);
            }
        }
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
    fn arithmetic_rgb_to_hsv_matches_the_transcription_on_every_colour() {
        for c in 0..1u32 << 24 {
            let (r, g, b) = ((c >> 16) as u8, (c >> 8) as u8, c as u8);
            let [h, s, v] = pillow_rgb_to_hsv(r, g, b);
            let (ah, as_, av) = rgb_to_hsv_lane(f32::from(r), f32::from(g), f32::from(b));
            assert_eq!((ah, as_, av), (i32::from(h), i32::from(s), f32::from(v)), "rgb {r},{g},{b}");
        }
    }

    #[test]
    fn arithmetic_hsv_to_rgb_matches_the_transcription_on_every_hsv() {
        for c in 0..1u32 << 24 {
            let (h, s, v) = ((c >> 16) as u8, (c >> 8) as u8, c as u8);
            let want = pillow_hsv_to_rgb(h, s, v).map(i32::from);
            assert_eq!(hsv_to_rgb_lane(i32::from(h), i32::from(s), f32::from(v)), want, "hsv {h},{s},{v}");
        }
    }

    #[test]
    fn adjust_hue_is_the_transcribed_round_trip() {
        let img = photo();
        for factor in [-0.5, -0.1, 0.0, 0.1, 0.5] {
            let shift = hue_shift(factor);
            let mut out = img.clone();
            adjust_hue(&mut out, factor);
            let mut baseline = img.clone();
            adjust_hue_shift_baseline(&mut baseline, shift);
            assert_eq!(out, baseline);
            for (src, dst) in img.chunks_exact(3).zip(out.chunks_exact(3)) {
                let [h, s, v] = pillow_rgb_to_hsv(src[0], src[1], src[2]);
                assert_eq!(dst, pillow_hsv_to_rgb(h.wrapping_add(shift), s, v));
            }
        }
    }

    #[test]
    fn float_to_int_conversions_clip_and_truncate() {
        assert_eq!(clip_trunc_u8(f32::NAN), 0);
        assert_eq!(clip_trunc_u8(-0.5), 0);
        assert_eq!(clip_trunc_u8(0.999), 0);
        assert_eq!(clip_trunc_u8(254.999), 254);
        assert_eq!(clip_trunc_u8(255.0), 255);
        assert_eq!(clip_trunc_u8(f32::INFINITY), 255);
        for v in 0..=255u8 {
            assert_eq!(clip_trunc_u8(f32::from(v)), v);
        }
    }

    #[test]
    fn parameter_checks() {
        assert!(check_factor("brightness", 0.0).is_ok());
        assert!(check_factor("brightness", 1.4).is_ok());
        assert!(matches!(check_factor("contrast", -0.1), Err(ImageError::Parameter(_))));
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
