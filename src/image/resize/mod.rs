//! Resampling of a region of an HWC RGB u8 image, reproducing Pillow's `Image.resize`.
//!
//! Pillow (libImaging/Resample.c) resamples in two separable passes, horizontal then vertical
//! (vertical first when the height shrinks much more than the width, since Pillow 13).
//! For every output pixel it precomputes the filter taps, with the filter support widened by the
//! downscale factor (antialiasing), normalises them to sum 1 and converts them to fixed point
//! with 22 fractional bits; each pass accumulates `pixel * coefficient` in 32-bit integers from
//! a rounding offset of one half, shifts and clips to u8. This module does the same, in the same
//! order, with one difference: 14 fractional bits (as Pillow-SIMD), so that every coefficient
//! fits 16 bits and the AVX2 passes multiply-add two taps per instruction. The result differs
//! from Pillow 13 by at most one level, on a few percent of the values (the rounding of a sum
//! that falls within about 0.02 of a half; tests/test_ops_geometry.py states the figures).
//!
//! The one difference in semantics: Pillow clamps filter taps to the whole image, whereas
//! [`resample_region`] clamps them to the pixels covered by the region, `floor(x0)..ceil(x1)`.
//! An integer region therefore gives exactly Pillow's crop-then-resize, i.e. torchvision's
//! `resized_crop` on a PIL image.
//!
//! Speed: with AVX2 (detected at run time) the horizontal pass multiplies 4 taps of a pixel at
//! a time with `madd`, and the vertical pass two source rows at a time, 32 bytes per round,
//! also with `madd`; without AVX2 plain loops compute the same integers. Coefficient tables are
//! cached across calls and threads (keyed by everything they depend on), buffers are reused per
//! thread, and [`resample_region_flip`] mirrors the output for free.

#[cfg(target_arch = "x86_64")]
mod avx2;
mod coeffs;
mod kernels;
mod plan;

use std::str::FromStr;

use self::coeffs::coeffs;
use self::kernels::{horizontal, vertical};
pub use self::plan::{apply_plan, resample_plan, ResamplePlan, Taps, PLAN_BITS};
use super::geometry::{hflip, CropBox};
use super::{ImageError, Named, Result};

/// Fractional bits of the fixed-point filter coefficients: a normalised weight is below 2 in
/// magnitude, so it fits an i16 with 14 fractional bits (Pillow keeps 22 in an i32, which needs
/// two 16-bit multiplies per tap).
const PRECISION_BITS: u32 = 14;
/// The rounding offset every accumulator starts from.
const HALF: i32 = 1 << (PRECISION_BITS - 1);

/// Resampling filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Interpolation {
    /// Pillow's NEAREST: the source pixel under each output pixel's centre, no antialiasing.
    Nearest,
    /// Triangle filter, support 1 (scaled when downscaling).
    Bilinear,
    /// Keys cubic with a = -0.5, support 2 (scaled when downscaling).
    Bicubic,
}

impl Named for Interpolation {
    const WHAT: &'static str = "interpolation";
    const ALL: &'static [(&'static str, Self)] = &[
        ("nearest", Interpolation::Nearest),
        ("bilinear", Interpolation::Bilinear),
        ("bicubic", Interpolation::Bicubic),
    ];
}

impl FromStr for Interpolation {
    type Err = ImageError;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse_name(s)
    }
}

impl std::fmt::Display for Interpolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[inline(always)]
fn clip8(acc: i32) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Rows of pixels inside a bigger buffer: row `y` is `len` bytes at `y * stride + offset`.
#[derive(Clone, Copy)]
struct Rows<'a> {
    data: &'a [u8],
    stride: usize,
    offset: usize,
    len: usize,
}

impl<'a> Rows<'a> {
    #[inline]
    fn row(&self, y: usize) -> Result<&'a [u8]> {
        y.checked_mul(self.stride)
            .and_then(|s| s.checked_add(self.offset))
            .and_then(|s| self.data.get(s..))
            .and_then(|r| r.get(..self.len))
            .ok_or_else(|| ImageError::Geometry(format!("row {y} lies outside the source buffer")))
    }
}

/// Buffers reused from call to call on the same thread, so that resampling crop after crop
/// neither allocates nor zeroes memory in the steady state.
#[derive(Default)]
struct Scratch {
    /// The image between the two passes.
    temp: Vec<u8>,
    /// The AVX2 kernel's widened source row.
    wide: Vec<i16>,
}

/// A buffer bigger than this is freed after the call instead of being kept for the thread.
const KEEP_BYTES: usize = 8 << 20;

thread_local! {
    static SCRATCH: std::cell::Cell<Scratch> = std::cell::Cell::new(Scratch::default());
}

impl Scratch {
    /// This thread's buffers (empty ones if another call holds them).
    fn take() -> Scratch {
        SCRATCH.with(|s| s.take())
    }

    /// Hands the buffers back to the thread, freeing oversized ones.
    fn keep(mut self) {
        if self.temp.capacity() > KEEP_BYTES {
            self.temp = Vec::new();
        }
        if self.wide.capacity() * 2 > KEEP_BYTES {
            self.wide = Vec::new();
        }
        SCRATCH.with(|s| s.set(self));
    }
}

/// The first `n` elements of `v`, growing it (with zeros) when it is shorter; existing
/// elements keep their values.
fn prefix<T: Copy + Default>(v: &mut Vec<T>, n: usize) -> &mut [T] {
    if v.len() < n {
        v.resize(n, T::default());
    }
    v.get_mut(..n).unwrap_or_default()
}

/// Copies `out.len() / rows.len` rows.
fn copy_rows(rows: Rows<'_>, first: usize, out: &mut [u8]) -> Result<()> {
    for (y, o) in out.chunks_exact_mut(rows.len).enumerate() {
        o.copy_from_slice(rows.row(first + y)?);
    }
    Ok(())
}

/// C's `(int)` of a non-negative coordinate as Pillow's `COORD` macro uses it, clamped into
/// `0..n` (Pillow leaves a black pixel where rounding would step outside; it cannot happen for
/// boxes inside the image).
#[inline]
fn coord(v: f64, n: usize) -> usize {
    if v < 0.0 {
        0
    } else {
        (v as usize).min(n.saturating_sub(1))
    }
}

/// One resampling: the box `b` (single precision, relative to the region's first covered pixel)
/// of the `rows.len / 3` x `in_h` pixels `rows`, to `out_w` x `out_h` with `interp`, the output
/// mirrored left to right when `flip`. Its fields are validated by the public functions.
#[derive(Clone, Copy)]
struct Job<'a> {
    rows: Rows<'a>,
    in_h: usize,
    b: [f32; 4],
    out_w: usize,
    out_h: usize,
    interp: Interpolation,
    flip: bool,
}

/// Pillow's NEAREST source pixel (`ImagingScaleAffine`) of each of `n` outputs along one axis of
/// `len` pixels, for the box `b0..b1`: positions accumulated in double precision.
fn nearest_positions(b0: f32, b1: f32, n: usize, len: usize) -> Vec<usize> {
    let a = f64::from(b1 - b0) / n as f64;
    let mut p = f64::from(b0) + a * 0.5;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(coord(p, len));
        p += a;
    }
    v
}

/// Pillow's NEAREST resize (`ImagingScaleAffine`).
fn nearest(job: Job<'_>, out: &mut [u8]) -> Result<()> {
    let Job { rows, in_h, b, out_w, out_h, flip, .. } = job;
    let mut xintab = nearest_positions(b[0], b[2], out_w, rows.len / 3);
    if flip {
        xintab.reverse();
    }
    for (out_row, y) in out.chunks_exact_mut(out_w * 3).zip(nearest_positions(b[1], b[3], out_h, in_h)) {
        let src = rows.row(y)?;
        for (o, &x) in out_row.chunks_exact_mut(3).zip(&xintab) {
            if let Some(p) = src.get(3 * x..3 * x + 3) {
                o.copy_from_slice(p);
            }
        }
    }
    Ok(())
}

/// Pillow's shortcut (`_resize`): an integer box of exactly the output size is a crop.
fn is_plain_crop(b: [f32; 4], out_w: usize, out_h: usize) -> bool {
    b[0].fract() == 0.0 && b[1].fract() == 0.0 && b[2] - b[0] == out_w as f32 && b[3] - b[1] == out_h as f32
}

/// Which of the two passes resample (Pillow skips a pass whose box is its whole input, at its
/// size): (horizontal, vertical), for `in_w` x `in_h` covered pixels.
fn needed_passes(b: [f32; 4], in_w: usize, in_h: usize, out_w: usize, out_h: usize) -> (bool, bool) {
    let need_h = out_w != in_w || b[0] != 0.0 || b[2] != out_w as f32;
    let need_v = out_h != in_h || b[1] != 0.0 || b[3] != out_h as f32;
    (need_h, need_v)
}

/// Runs `job` in Pillow's order with Pillow's shortcuts.
fn resample_box(job: Job<'_>, out: &mut [u8]) -> Result<()> {
    let Job { rows, b, out_w, out_h, interp, flip, .. } = job;
    if is_plain_crop(b, out_w, out_h) {
        let x = b[0] as usize * 3;
        let sub = Rows { offset: rows.offset + x, len: out_w * 3, ..rows };
        copy_rows(sub, b[1] as usize, out)?;
        if flip {
            hflip(out, out_w, out_h);
        }
        return Ok(());
    }
    if interp == Interpolation::Nearest {
        return nearest(job, out);
    }
    let mut scratch = Scratch::take();
    let result = two_passes(job, out, &mut scratch);
    scratch.keep();
    result
}

/// The separable resampling proper, Pillow's `ImagingResampleInner`.
fn two_passes(job: Job<'_>, out: &mut [u8], scratch: &mut Scratch) -> Result<()> {
    let Job { rows, in_h, b, out_w, out_h, interp, flip } = job;
    let in_w = rows.len / 3;
    let (need_h, need_v) = needed_passes(b, in_w, in_h, out_w, out_h);
    if !need_h {
        let vc = coeffs(in_h, b[1], b[3], out_h, interp, false)?;
        vertical(rows, 0, &vc, out)?;
        if flip {
            hflip(out, out_w, out_h);
        }
        return Ok(());
    }
    // Flipping the output is free: the horizontal pass writes its pixels in mirrored order
    // (columns are independent in the vertical pass, so it may come first or second).
    let hc = coeffs(in_w, b[0], b[2], out_w, interp, flip)?;
    if !need_v {
        return horizontal(rows, 0, &hc, out, scratch);
    }
    let vc = coeffs(in_h, b[1], b[3], out_h, interp, false)?;
    // The buffer between the passes is taken out of `scratch` while the passes borrow it.
    let mut temp = std::mem::take(&mut scratch.temp);
    let result = if horizontal_first(in_w, in_h, out_w, out_h) {
        // Only the source rows the vertical pass reads go through the horizontal pass.
        let first = vc.start.first().copied().unwrap_or(0);
        let last = vc.start.last().zip(vc.count.last()).map_or(first, |(&s, &n)| s + n);
        let row_out = out_w * 3;
        let mid = prefix(&mut temp, (last - first) * row_out);
        horizontal(rows, first, &hc, mid, scratch).and_then(|()| {
            let mid_rows = Rows { data: mid, stride: row_out, offset: 0, len: row_out };
            vertical(mid_rows, first, &vc, out)
        })
    } else {
        let mid = prefix(&mut temp, out_h * rows.len);
        vertical(rows, 0, &vc, mid).and_then(|()| {
            let mid_rows = Rows { data: mid, stride: rows.len, offset: 0, len: rows.len };
            horizontal(mid_rows, 0, &hc, out, scratch)
        })
    };
    scratch.temp = temp;
    result
}

/// Pillow's pass order (since Pillow 13, python-pillow/Pillow#9549): vertical first when the
/// height shrinks by more than twice as many pixels as the width does, horizontal first
/// otherwise (earlier Pillow: always horizontal first). The rounding between the passes makes
/// the order visible in the last bit.
fn horizontal_first(in_w: usize, in_h: usize, out_w: usize, out_h: usize) -> bool {
    let dh = in_h as i128 - out_h as i128;
    let dw = in_w as i128 - out_w as i128;
    !(dh > 0 && dh > dw * 2)
}

/// Checks the source and output buffers against their sizes.
fn check_buffers(src: &[u8], src_w: usize, src_h: usize, out: &[u8], out_w: usize, out_h: usize) -> Result<()> {
    let bytes = |w: usize, h: usize| w.checked_mul(h).and_then(|p| p.checked_mul(3));
    let expected =
        bytes(src_w, src_h).ok_or_else(|| ImageError::Geometry(format!("image size {src_w}x{src_h} overflows")))?;
    if src.len() != expected {
        return Err(ImageError::Geometry(format!(
            "source buffer holds {} bytes, a {src_w}x{src_h} RGB image needs {expected}",
            src.len()
        )));
    }
    if out_w == 0 || out_h == 0 {
        return Err(ImageError::Geometry(format!("output size {out_w}x{out_h} is empty")));
    }
    let expected = bytes(out_w, out_h)
        .filter(|&n| n <= isize::MAX as usize)
        .ok_or_else(|| ImageError::Geometry(format!("output size {out_w}x{out_h} overflows")))?;
    if out.len() != expected {
        return Err(ImageError::BufferSize { expected, got: out.len() });
    }
    Ok(())
}

/// Resamples the region `[x0, x1) x [y0, y1)` (source pixel coordinates, possibly fractional) of
/// an HWC RGB u8 image of `src_w` x `src_h` to `out_w` x `out_h`, writing HWC RGB u8 to `out`.
///
/// Pillow's `Image.resize((out_w, out_h), resample, box=region)` with antialiasing (the filter
/// support scaled by the downscale factor), except that filter taps are clamped to the pixels
/// the region covers, `floor(x0)..ceil(x1)` by `floor(y0)..ceil(y1)`: the result equals
/// `img.crop(covered).resize(size, resample, box=region - floor(region origin))`, and for an
/// integer region torchvision's `resized_crop` on the PIL image.
///
/// Errors (`ImageError::Geometry`, `BufferSize`): a region that is not finite, empty or not
/// inside the image, an empty output size, or buffers whose lengths do not match the sizes.
#[allow(clippy::too_many_arguments)]
pub fn resample_region(
    src: &[u8],
    src_w: usize,
    src_h: usize,
    region: [f64; 4],
    out_w: usize,
    out_h: usize,
    interp: Interpolation,
    out: &mut [u8],
) -> Result<()> {
    resample_region_flip(src, src_w, src_h, region, out_w, out_h, interp, false, out)
}

/// [`resample_region`], then, when `flip` is true, [`hflip`] of the output, in one go: the
/// horizontal pass writes its pixels in mirrored order, so the flip costs nothing. Same bytes
/// as the two calls.
#[allow(clippy::too_many_arguments)]
pub fn resample_region_flip(
    src: &[u8],
    src_w: usize,
    src_h: usize,
    region: [f64; 4],
    out_w: usize,
    out_h: usize,
    interp: Interpolation,
    flip: bool,
    out: &mut [u8],
) -> Result<()> {
    check_buffers(src, src_w, src_h, out, out_w, out_h)?;
    let (ox, oy, in_w, in_h, b) = covered(src_w, src_h, region)?;
    let rows = Rows { data: src, stride: src_w * 3, offset: (oy * src_w + ox) * 3, len: in_w * 3 };
    resample_box(Job { rows, in_h, b, out_w, out_h, interp, flip }, out)
}

/// The pixels a region covers, `floor(x0)..ceil(x1)` by `floor(y0)..ceil(y1)`, as their origin,
/// their size and the region relative to the origin in single precision (Pillow's box).
fn covered(src_w: usize, src_h: usize, region: [f64; 4]) -> Result<(usize, usize, usize, usize, [f32; 4])> {
    let [x0, y0, x1, y1] = region;
    let inside = region.iter().all(|v| v.is_finite())
        && 0.0 <= x0
        && x0 < x1
        && x1 <= src_w as f64
        && 0.0 <= y0
        && y0 < y1
        && y1 <= src_h as f64;
    if !inside {
        return Err(ImageError::Geometry(format!(
            "region x {x0}..{x1}, y {y0}..{y1} is empty or exceeds {src_w}x{src_h} image"
        )));
    }
    // All four lie in [0, size], so the conversions are exact and in range.
    let (ox, oy) = (x0.floor() as usize, y0.floor() as usize);
    let (in_w, in_h) = (x1.ceil() as usize - ox, y1.ceil() as usize - oy);
    let b = [(x0 - ox as f64) as f32, (y0 - oy as f64) as f32, (x1 - ox as f64) as f32, (y1 - oy as f64) as f32];
    if !(b[0] < b[2] && b[1] < b[3]) {
        return Err(ImageError::Geometry(format!(
            "region x {x0}..{x1}, y {y0}..{y1} is narrower than single precision resolves"
        )));
    }
    Ok((ox, oy, in_w, in_h, b))
}

/// Crops `crop` out of an HWC RGB u8 image of `src_w` x `src_h` and resizes it to
/// `out_w` x `out_h` into `out`: torchvision's `resized_crop` on a PIL image (Pillow's crop then
/// `resize` with antialiasing), bit for bit.
///
/// Errors (`ImageError::Geometry`, `BufferSize`): an empty crop or one outside the image, an
/// empty output size, or buffers whose lengths do not match the sizes.
#[allow(clippy::too_many_arguments)]
pub fn resized_crop(
    src: &[u8],
    src_w: usize,
    src_h: usize,
    crop: CropBox,
    out_w: usize,
    out_h: usize,
    interp: Interpolation,
    out: &mut [u8],
) -> Result<()> {
    check_buffers(src, src_w, src_h, out, out_w, out_h)?;
    crop.check_inside(src_w, src_h)?;
    let rows = Rows { data: src, stride: src_w * 3, offset: (crop.top * src_w + crop.left) * 3, len: crop.width * 3 };
    let b = [0.0, 0.0, crop.width as f32, crop.height as f32];
    resample_box(Job { rows, in_h: crop.height, b, out_w, out_h, interp, flip: false }, out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    use super::coeffs::{precompute, Coeffs, COEFF_CACHE, COEFF_CACHE_BYTES};
    use super::kernels::FORCE_GENERIC;
    use super::*;

    /// The top-left `w` x `h` pixels of a real 400 x 250 photo (tests/fixtures,
    /// `crate::image::testdata`).
    fn test_image(w: usize, h: usize) -> Vec<u8> {
        crate::image::testdata::chelsea_crop(w, h)
    }

    const ALL: [Interpolation; 3] = [Interpolation::Nearest, Interpolation::Bilinear, Interpolation::Bicubic];

    #[test]
    fn identity_resize_of_an_integer_region_is_a_copy() {
        let (w, h) = (37, 29);
        let img = test_image(w, h);
        let crop = CropBox { top: 3, left: 5, height: 20, width: 17 };
        let mut expected = Vec::new();
        for y in crop.top..crop.top + crop.height {
            expected.extend_from_slice(&img[(y * w + crop.left) * 3..(y * w + crop.left + crop.width) * 3]);
        }
        for interp in ALL {
            let mut out = vec![0; 17 * 20 * 3];
            resized_crop(&img, w, h, crop, 17, 20, interp, &mut out).unwrap();
            assert_eq!(out, expected, "{interp}");
            let mut out2 = vec![0; 17 * 20 * 3];
            resample_region(&img, w, h, crop.region(), 17, 20, interp, &mut out2).unwrap();
            assert_eq!(out2, expected, "{interp}");
        }
        // Resampling at scale 1 through the filter (the pass Pillow would skip) is a copy too.
        let c = precompute(17, 0.0, 17.0, 17, Interpolation::Bicubic).unwrap();
        for (xx, ks) in c.k.chunks_exact(c.ksize).enumerate() {
            let centre = xx - c.start[xx];
            for (i, &k) in ks.iter().enumerate() {
                assert_eq!(i32::from(k), if i == centre { 1 << PRECISION_BITS } else { 0 });
            }
        }
    }

    #[test]
    fn constant_image_stays_constant() {
        for value in [0u8, 1, 77, 254, 255] {
            let (w, h) = (61, 43);
            let img = vec![value; w * h * 3];
            for interp in ALL {
                for &(ow, oh) in &[(1, 1), (7, 5), (30, 30), (61, 43), (200, 97), (13, 150)] {
                    let mut out = vec![0; ow * oh * 3];
                    resample_region(&img, w, h, [0.5, 1.25, 60.5, 42.0], ow, oh, interp, &mut out).unwrap();
                    assert!(out.iter().all(|&v| v == value), "{interp} {ow}x{oh} value {value}");
                }
            }
        }
    }

    #[test]
    fn coefficient_tables_are_cached_by_everything_they_depend_on_and_bounded() {
        use Interpolation::{Bicubic, Bilinear};
        let same =
            |a: &Coeffs, b: &Coeffs| a.start == b.start && a.count == b.count && a.ksize == b.ksize && a.k == b.k;
        let a = coeffs(301, 0.0, 301.0, 96, Bicubic, false).unwrap();
        assert!(Arc::ptr_eq(&a, &coeffs(301, 0.0, 301.0, 96, Bicubic, false).unwrap()));
        assert!(same(&a, &precompute(301, 0.0, 301.0, 96, Bicubic).unwrap()));
        let mut mirrored = precompute(301, 0.0, 301.0, 96, Bicubic).unwrap();
        mirrored.mirror();
        assert!(same(&coeffs(301, 0.0, 301.0, 96, Bicubic, true).unwrap(), &mirrored));
        assert!(!same(&a, &mirrored));
        for (n, x0, x1, out, interp) in [
            (302, 0.0, 301.0, 96, Bicubic),
            (301, 0.5, 301.0, 96, Bicubic),
            (301, 0.0, 300.5, 96, Bicubic),
            (301, 0.0, 301.0, 97, Bicubic),
            (301, 0.0, 301.0, 96, Bilinear),
        ] {
            let c = coeffs(n, x0, x1, out, interp, false).unwrap();
            assert!(!Arc::ptr_eq(&a, &c));
            assert!(same(&c, &precompute(n, x0, x1, out, interp).unwrap()));
        }
        // Past its budget the cache starts again: its size stays bounded and its count exact.
        for i in 0..200 {
            coeffs(8192 + i, 0.0, (8192 + i) as f32, 4096, Bicubic, false).unwrap();
        }
        let cache = COEFF_CACHE.lock().unwrap();
        assert!(cache.bytes <= COEFF_CACHE_BYTES);
        assert_eq!(cache.bytes, cache.tables.values().map(|c| c.heap_bytes()).sum::<usize>());
    }

    #[test]
    fn coefficients_sum_to_one() {
        for interp in [Interpolation::Bilinear, Interpolation::Bicubic] {
            for &(n_in, n_out) in &[(400, 224), (100, 96), (96, 224), (1000, 3), (5, 1)] {
                let c = precompute(n_in, 0.0, n_in as f32, n_out, interp).unwrap();
                for (ks, &n) in c.k.chunks_exact(c.ksize).zip(&c.count) {
                    let s: i64 = ks.iter().map(|&k| i64::from(k)).sum();
                    assert!((s - (1 << PRECISION_BITS)).abs() <= n as i64, "{interp} {n_in}->{n_out}: {s}");
                    assert!(ks[n..].iter().all(|&k| k == 0));
                }
            }
        }
    }

    #[test]
    fn region_and_crop_agree_on_integer_boxes() {
        let (w, h) = (120, 90);
        let img = test_image(w, h);
        let crop = CropBox { top: 11, left: 23, height: 70, width: 83 };
        for interp in ALL {
            for &(ow, oh) in &[(32, 32), (96, 96), (200, 150)] {
                let mut a = vec![0; ow * oh * 3];
                let mut b = vec![0; ow * oh * 3];
                resized_crop(&img, w, h, crop, ow, oh, interp, &mut a).unwrap();
                resample_region(&img, w, h, crop.region(), ow, oh, interp, &mut b).unwrap();
                assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn taps_stay_inside_the_covered_pixels() {
        // Changing pixels outside the crop must not change the result.
        let (w, h) = (50, 40);
        let img = test_image(w, h);
        let mut other = img.clone();
        let crop = CropBox { top: 10, left: 10, height: 20, width: 25 };
        for y in 0..h {
            for x in 0..w {
                if !(10..30).contains(&y) || !(10..35).contains(&x) {
                    other[(y * w + x) * 3] ^= 0xff;
                }
            }
        }
        for interp in ALL {
            let mut a = vec![0; 9 * 13 * 3];
            let mut b = vec![0; 9 * 13 * 3];
            resized_crop(&img, w, h, crop, 9, 13, interp, &mut a).unwrap();
            resized_crop(&other, w, h, crop, 9, 13, interp, &mut b).unwrap();
            assert_eq!(a, b);
        }
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let (w, h) = (64, 48);
        let img = test_image(w, h);
        let mut out = vec![0; 10 * 10 * 3];
        let i = Interpolation::Bicubic;
        let err = resized_crop(&img, w, h, CropBox { top: 10, left: 40, height: 30, width: 30 }, 10, 10, i, &mut out);
        assert_eq!(err.unwrap_err().to_string(), "invalid geometry: crop 30x30 at (40,10) exceeds 64x48 image");
        assert!(
            resized_crop(&img, w, h, CropBox { top: 0, left: 0, height: 0, width: 3 }, 10, 10, i, &mut out).is_err()
        );
        assert!(resized_crop(&img, w, h, CropBox { top: 0, left: 0, height: 5, width: 3 }, 0, 10, i, &mut out).is_err());
        assert!(resized_crop(&img, w, h, CropBox { top: 0, left: 0, height: 5, width: 3 }, 10, 9, i, &mut out).is_err());
        assert!(resized_crop(&img[1..], w, h, CropBox { top: 0, left: 0, height: 5, width: 3 }, 10, 10, i, &mut out)
            .is_err());
        assert!(resized_crop(
            &img,
            usize::MAX,
            2,
            CropBox { top: 0, left: 0, height: 1, width: 1 },
            10,
            10,
            i,
            &mut out
        )
        .is_err());
        for region in [
            [0.0, 0.0, 64.5, 10.0],
            [-0.5, 0.0, 10.0, 10.0],
            [5.0, 5.0, 5.0, 10.0],
            [6.0, 5.0, 5.0, 10.0],
            [0.0, 0.0, f64::NAN, 10.0],
            [0.0, 0.0, f64::INFINITY, 10.0],
            [10.3, 10.0, 10.3 + 1e-12, 11.0],
        ] {
            assert!(resample_region(&img, w, h, region, 10, 10, i, &mut out).is_err(), "{region:?}");
        }
    }

    /// The AVX2 kernels (used whenever the CPU has AVX2) against the plain ones, for every
    /// number of tap groups they specialise on.
    #[test]
    fn simd_and_generic_kernels_agree() {
        let (w, h) = (400, 250);
        let img = test_image(w, h);
        let boxes = [
            [0.0, 0.0, 400.0, 250.0],
            [13.0, 7.0, 390.0, 241.0],
            [3.7, 100.2, 77.9, 249.5],
            [100.0, 10.0, 101.0, 240.0],
        ];
        let sizes = [
            (224, 224),
            (96, 96),
            (1, 1),
            (33, 7),
            (5, 130),
            (517, 301),
            (31, 64),
            // Widths 160, 130, 80 and 70 from 400 give 3 to 6 groups of 4 taps per pixel.
            (160, 40),
            (130, 250),
            (80, 17),
            (70, 45),
        ];
        for interp in [Interpolation::Bilinear, Interpolation::Bicubic] {
            for region in boxes {
                for (ow, oh) in sizes {
                    let mut simd = vec![0; ow * oh * 3];
                    let mut generic = vec![1; ow * oh * 3];
                    resample_region(&img, w, h, region, ow, oh, interp, &mut simd).unwrap();
                    FORCE_GENERIC.with(|f| f.set(true));
                    resample_region(&img, w, h, region, ow, oh, interp, &mut generic).unwrap();
                    FORCE_GENERIC.with(|f| f.set(false));
                    assert!(simd == generic, "{interp} {region:?} -> {ow}x{oh}");
                }
            }
        }
    }

    #[test]
    fn fused_flip_equals_resample_then_hflip() {
        let (w, h) = (400, 250);
        let img = test_image(w, h);
        let regions = [
            [13.0, 7.0, 390.0, 241.0], // both passes, horizontal first
            [3.7, 100.2, 77.9, 249.5], // fractional
            [0.0, 0.0, 400.0, 250.0],  // full image
            [10.0, 5.0, 50.0, 245.0],  // tall strip: vertical pass first
        ];
        let sizes = [(96, 96), (224, 224), (40, 240), (5, 17), (1, 1), (31, 3)];
        for interp in ALL {
            for region in regions {
                for (ow, oh) in sizes {
                    let mut a = vec![0; ow * oh * 3];
                    let mut b = vec![0; ow * oh * 3];
                    resample_region(&img, w, h, region, ow, oh, interp, &mut a).unwrap();
                    hflip(&mut a, ow, oh);
                    resample_region_flip(&img, w, h, region, ow, oh, interp, true, &mut b).unwrap();
                    assert!(a == b, "{interp} {region:?} -> {ow}x{oh}");
                }
            }
            // One pass only (height kept), and the plain-crop shortcut.
            for (region, (ow, oh)) in [
                ([5.0, 0.0, 305.0, 250.0], (96, 250)),
                ([5.0, 3.0, 105.0, 203.0], (100, 120)),
                ([7.0, 9.0, 57.0, 49.0], (50, 40)),
            ] {
                let mut a = vec![0; ow * oh * 3];
                let mut b = vec![0; ow * oh * 3];
                resample_region(&img, w, h, region, ow, oh, interp, &mut a).unwrap();
                hflip(&mut a, ow, oh);
                resample_region_flip(&img, w, h, region, ow, oh, interp, true, &mut b).unwrap();
                assert!(a == b, "{interp} {region:?} -> {ow}x{oh}");
            }
        }
    }

    #[test]
    fn reused_buffers_leave_no_trace() {
        // The thread's scratch buffers hold data of an earlier, bigger call: a later call must
        // give what a fresh thread gives.
        let (w, h) = (400, 250);
        let img = test_image(w, h);
        let region = [37.25, 11.5, 201.0, 180.75];
        let fresh = std::thread::spawn({
            let img = img.clone();
            move || {
                let mut out = vec![0; 61 * 45 * 3];
                resample_region(&img, w, h, region, 61, 45, Interpolation::Bicubic, &mut out).unwrap();
                out
            }
        })
        .join()
        .unwrap();
        let mut big = vec![0; 390 * 240 * 3];
        resample_region(&img, w, h, [0.0, 0.0, 400.0, 250.0], 390, 240, Interpolation::Bicubic, &mut big).unwrap();
        let mut out = vec![0; 61 * 45 * 3];
        resample_region(&img, w, h, region, 61, 45, Interpolation::Bicubic, &mut out).unwrap();
        assert_eq!(out, fresh);
    }

    #[test]
    fn interpolation_names_round_trip() {
        for &(name, _) in Interpolation::ALL {
            assert_eq!(name.parse::<Interpolation>().unwrap().name(), name);
        }
        let err = "lanczos".parse::<Interpolation>().unwrap_err().to_string();
        assert!(err.contains("'nearest', 'bilinear', 'bicubic'") && err.contains("'lanczos'"), "{err}");
    }
}
