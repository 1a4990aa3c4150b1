//! Resampling of a region of an HWC RGB u8 image, reproducing Pillow's `Image.resize`.
//!
//! Pillow (libImaging/Resample.c) resamples in two separable passes, horizontal then vertical.
//! For every output pixel it precomputes the filter taps, with the filter support widened by the
//! downscale factor (antialiasing), normalises them to sum 1 and converts them to fixed point
//! with 22 fractional bits; each pass accumulates `pixel * coefficient` in 32-bit integers from
//! a rounding offset of one half, shifts and clips to u8. Doing the same here, in the same order,
//! gives the same bytes as Pillow (checked against Pillow in tests/test_ops_geometry.py).
//!
//! The one difference in semantics: Pillow clamps filter taps to the whole image, whereas
//! [`resample_region`] clamps them to the pixels covered by the region, `floor(x0)..ceil(x1)`.
//! An integer region therefore gives exactly Pillow's crop-then-resize, i.e. torchvision's
//! `resized_crop` on a PIL image.

use std::str::FromStr;

use super::geometry::CropBox;
use super::{ImageError, Result};

/// Fractional bits of the fixed-point filter coefficients (Pillow's `PRECISION_BITS`: 8 bits
/// for the pixel value and 2 spare bits for the negative lobes and the overshoot).
const PRECISION_BITS: u32 = 32 - 8 - 2;
/// The rounding offset every accumulator starts from.
const HALF: i32 = 1 << (PRECISION_BITS - 1);

/// Resampling filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interpolation {
    /// Pillow's NEAREST: the source pixel under each output pixel's centre, no antialiasing.
    Nearest,
    /// Triangle filter, support 1 (scaled when downscaling).
    Bilinear,
    /// Keys cubic with a = -0.5, support 2 (scaled when downscaling).
    Bicubic,
}

impl Interpolation {
    /// The accepted names, in the order error messages list them.
    pub const NAMES: [&'static str; 3] = ["nearest", "bilinear", "bicubic"];

    pub fn name(self) -> &'static str {
        match self {
            Interpolation::Nearest => "nearest",
            Interpolation::Bilinear => "bilinear",
            Interpolation::Bicubic => "bicubic",
        }
    }

    /// Half-width of the filter at scale 1.
    fn support(self) -> f64 {
        match self {
            Interpolation::Nearest => 0.5,
            Interpolation::Bilinear => 1.0,
            Interpolation::Bicubic => 2.0,
        }
    }

    /// The filter kernel, written as Pillow writes it so that the doubles round the same way.
    #[inline]
    fn filter(self, x: f64) -> f64 {
        let x = x.abs();
        match self {
            Interpolation::Nearest => {
                if x <= 0.5 {
                    1.0
                } else {
                    0.0
                }
            }
            Interpolation::Bilinear => {
                if x < 1.0 {
                    1.0 - x
                } else {
                    0.0
                }
            }
            Interpolation::Bicubic => {
                const A: f64 = -0.5;
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
        }
    }
}

impl FromStr for Interpolation {
    type Err = ImageError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "nearest" => Ok(Interpolation::Nearest),
            "bilinear" => Ok(Interpolation::Bilinear),
            "bicubic" => Ok(Interpolation::Bicubic),
            other => Err(ImageError::Parameter(format!(
                "interpolation must be one of 'nearest', 'bilinear', 'bicubic', got '{other}'"
            ))),
        }
    }
}

impl std::fmt::Display for Interpolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Per-output-pixel filter taps of one pass, in fixed point.
struct Coeffs {
    /// First source index (relative to the region's first covered pixel) of each output pixel.
    start: Vec<usize>,
    /// Number of taps of each output pixel (at most `ksize`).
    count: Vec<usize>,
    /// Row length of `k`: the most taps any output pixel can have.
    ksize: usize,
    /// `out_size * ksize` coefficients, zero past each pixel's `count`.
    k: Vec<i32>,
}

/// Pillow's `precompute_coeffs` followed by `normalize_coeffs_8bpc`.
///
/// `in_size` source pixels, the box `[in0, in1)` in their coordinates (single precision, as
/// Pillow stores the box), `out_size` output pixels.
fn precompute(
    in_size: usize,
    in0: f32,
    in1: f32,
    out_size: usize,
    interp: Interpolation,
) -> Result<Coeffs> {
    // Pillow subtracts in single precision, then divides in double.
    let scale = f64::from(in1 - in0) / out_size as f64;
    let filterscale = if scale < 1.0 { 1.0 } else { scale };
    let support = interp.support() * filterscale;
    let too_big = || {
        ImageError::Geometry(format!(
            "resampling {in_size} pixels to {out_size} needs too many filter taps"
        ))
    };
    let ksize = (support.ceil() as usize)
        .checked_mul(2)
        .and_then(|n| n.checked_add(1))
        .ok_or_else(too_big)?;
    let total = out_size
        .checked_mul(ksize)
        .filter(|&n| n <= (1 << 28))
        .ok_or_else(too_big)?;

    let mut start = Vec::with_capacity(out_size);
    let mut count = Vec::with_capacity(out_size);
    let mut k = vec![0i32; total];
    let mut weights = vec![0f64; ksize];
    let ss = 1.0 / filterscale;
    for (xx, krow) in k.chunks_exact_mut(ksize).enumerate() {
        let center = f64::from(in0) + (xx as f64 + 0.5) * scale;
        // `as` truncates toward zero like C's (int) cast (and saturates instead of overflowing).
        let xmin = ((center - support + 0.5) as i64).max(0);
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64);
        let n = (xmax - xmin).clamp(0, ksize as i64) as usize;
        let xmin = xmin as usize;
        let mut ww = 0.0;
        for (x, w) in weights[..n].iter_mut().enumerate() {
            *w = interp.filter(((x + xmin) as f64 - center + 0.5) * ss);
            ww += *w;
        }
        for (kk, &w) in krow.iter_mut().zip(&weights[..n]) {
            let w = if ww != 0.0 { w / ww } else { w };
            let scaled = w * f64::from(1u32 << PRECISION_BITS);
            *kk = if w < 0.0 {
                (-0.5 + scaled) as i32
            } else {
                (0.5 + scaled) as i32
            };
        }
        start.push(xmin);
        count.push(n);
    }
    Ok(Coeffs {
        start,
        count,
        ksize,
        k,
    })
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

/// Horizontal pass: source rows `first..first + out.len() / row_out` of `rows`, each resampled
/// to `c.start.len()` pixels into consecutive rows of `out`.
#[inline(always)]
fn horizontal_generic(rows: Rows<'_>, first: usize, c: &Coeffs, out: &mut [u8]) -> Result<()> {
    let out_w = c.start.len();
    let in_w = rows.len / 3;
    // One source row widened to 4 x i32 per pixel (RGB and a zero lane), padded with `ksize`
    // zero pixels so that every output pixel can run all `ksize` taps without a bounds check.
    let mut wide = vec![0i32; (in_w + c.ksize) * 4];
    for (y, out_row) in out.chunks_exact_mut(out_w * 3).enumerate() {
        let src = rows.row(first + y)?;
        for (w4, p) in wide.chunks_exact_mut(4).zip(src.chunks_exact(3)) {
            w4[0] = i32::from(p[0]);
            w4[1] = i32::from(p[1]);
            w4[2] = i32::from(p[2]);
        }
        for ((o, &start), ks) in out_row
            .chunks_exact_mut(3)
            .zip(&c.start)
            .zip(c.k.chunks_exact(c.ksize))
        {
            let px = wide.get(start * 4..).unwrap_or_default();
            let mut acc = [HALF; 4];
            for (p, &k) in px.chunks_exact(4).zip(ks) {
                for (a, &v) in acc.iter_mut().zip(p) {
                    *a = a.wrapping_add(v.wrapping_mul(k));
                }
            }
            o[0] = clip8(acc[0]);
            o[1] = clip8(acc[1]);
            o[2] = clip8(acc[2]);
        }
    }
    Ok(())
}

/// Vertical pass: output row `yy` combines rows `c.start[yy] - first ..` of `rows`.
#[inline(always)]
fn vertical_generic(rows: Rows<'_>, first: usize, c: &Coeffs, out: &mut [u8]) -> Result<()> {
    let mut acc = vec![0i32; rows.len];
    for (((out_row, &start), &n), ks) in out
        .chunks_exact_mut(rows.len)
        .zip(&c.start)
        .zip(&c.count)
        .zip(c.k.chunks_exact(c.ksize))
    {
        acc.fill(HALF);
        for (y, &k) in (start..start + n).zip(ks) {
            let src = rows.row(y - first)?;
            for (a, &p) in acc.iter_mut().zip(src) {
                *a = a.wrapping_add(i32::from(p).wrapping_mul(k));
            }
        }
        for (o, &a) in out_row.iter_mut().zip(&acc) {
            *o = clip8(a);
        }
    }
    Ok(())
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn horizontal_avx2(rows: Rows<'_>, first: usize, c: &Coeffs, out: &mut [u8]) -> Result<()> {
    horizontal_generic(rows, first, c, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn vertical_avx2(rows: Rows<'_>, first: usize, c: &Coeffs, out: &mut [u8]) -> Result<()> {
    vertical_generic(rows, first, c, out)
}

fn horizontal(rows: Rows<'_>, first: usize, c: &Coeffs, out: &mut [u8]) -> Result<()> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above; the function is otherwise safe.
        return unsafe { horizontal_avx2(rows, first, c, out) };
    }
    horizontal_generic(rows, first, c, out)
}

fn vertical(rows: Rows<'_>, first: usize, c: &Coeffs, out: &mut [u8]) -> Result<()> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above; the function is otherwise safe.
        return unsafe { vertical_avx2(rows, first, c, out) };
    }
    vertical_generic(rows, first, c, out)
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

/// Pillow's NEAREST resize (`ImagingScaleAffine`): positions accumulated in double precision.
fn nearest(
    rows: Rows<'_>,
    in_h: usize,
    b: [f32; 4],
    out_w: usize,
    out_h: usize,
    out: &mut [u8],
) -> Result<()> {
    let in_w = rows.len / 3;
    let a0 = f64::from(b[2] - b[0]) / out_w as f64;
    let a4 = f64::from(b[3] - b[1]) / out_h as f64;
    let mut xo = f64::from(b[0]) + a0 * 0.5;
    let mut xintab = Vec::with_capacity(out_w);
    for _ in 0..out_w {
        xintab.push(coord(xo, in_w) * 3);
        xo += a0;
    }
    let mut yo = f64::from(b[1]) + a4 * 0.5;
    for out_row in out.chunks_exact_mut(out_w * 3) {
        let src = rows.row(coord(yo, in_h))?;
        for (o, &x) in out_row.chunks_exact_mut(3).zip(&xintab) {
            if let Some(p) = src.get(x..x + 3) {
                o.copy_from_slice(p);
            }
        }
        yo += a4;
    }
    Ok(())
}

/// Resamples the box `b` (single precision, relative to the region's first covered pixel) of
/// the `in_w` x `in_h` pixels `rows` to `out_w` x `out_h`, in Pillow's order with Pillow's
/// shortcuts. Arguments are validated by the callers.
fn resample_box(
    rows: Rows<'_>,
    in_h: usize,
    b: [f32; 4],
    out_w: usize,
    out_h: usize,
    interp: Interpolation,
    out: &mut [u8],
) -> Result<()> {
    let in_w = rows.len / 3;
    // Pillow (`_resize`): an integer box of exactly the output size is a crop.
    if b[0].fract() == 0.0
        && b[1].fract() == 0.0
        && b[2] - b[0] == out_w as f32
        && b[3] - b[1] == out_h as f32
    {
        let x = b[0] as usize * 3;
        let sub = Rows {
            offset: rows.offset + x,
            len: out_w * 3,
            ..rows
        };
        return copy_rows(sub, b[1] as usize, out);
    }
    if interp == Interpolation::Nearest {
        return nearest(rows, in_h, b, out_w, out_h, out);
    }
    let need_h = out_w != in_w || b[0] != 0.0 || b[2] != out_w as f32;
    let need_v = out_h != in_h || b[1] != 0.0 || b[3] != out_h as f32;
    let vc = precompute(in_h, b[1], b[3], out_h, interp)?;
    if !need_h {
        return vertical(rows, 0, &vc, out);
    }
    let hc = precompute(in_w, b[0], b[2], out_w, interp)?;
    if !need_v {
        return horizontal(rows, 0, &hc, out);
    }
    // Only the source rows the vertical pass reads go through the horizontal pass.
    let first = vc.start.first().copied().unwrap_or(0);
    let last = vc
        .start
        .last()
        .zip(vc.count.last())
        .map_or(first, |(&s, &n)| s + n);
    let row_out = out_w * 3;
    let mut temp = vec![0u8; (last - first) * row_out];
    horizontal(rows, first, &hc, &mut temp)?;
    let temp_rows = Rows {
        data: &temp,
        stride: row_out,
        offset: 0,
        len: row_out,
    };
    vertical(temp_rows, first, &vc, out)
}

/// Checks the source and output buffers against their sizes.
fn check_buffers(
    src: &[u8],
    src_w: usize,
    src_h: usize,
    out: &[u8],
    out_w: usize,
    out_h: usize,
) -> Result<()> {
    let bytes = |w: usize, h: usize| w.checked_mul(h).and_then(|p| p.checked_mul(3));
    let expected = bytes(src_w, src_h)
        .ok_or_else(|| ImageError::Geometry(format!("image size {src_w}x{src_h} overflows")))?;
    if src.len() != expected {
        return Err(ImageError::Geometry(format!(
            "source buffer holds {} bytes, a {src_w}x{src_h} RGB image needs {expected}",
            src.len()
        )));
    }
    if out_w == 0 || out_h == 0 {
        return Err(ImageError::Geometry(format!(
            "output size {out_w}x{out_h} is empty"
        )));
    }
    let expected = bytes(out_w, out_h)
        .filter(|&n| n <= isize::MAX as usize)
        .ok_or_else(|| ImageError::Geometry(format!("output size {out_w}x{out_h} overflows")))?;
    if out.len() != expected {
        return Err(ImageError::BufferSize {
            expected,
            got: out.len(),
        });
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
    check_buffers(src, src_w, src_h, out, out_w, out_h)?;
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
    let b = [
        (x0 - ox as f64) as f32,
        (y0 - oy as f64) as f32,
        (x1 - ox as f64) as f32,
        (y1 - oy as f64) as f32,
    ];
    if !(b[0] < b[2] && b[1] < b[3]) {
        return Err(ImageError::Geometry(format!(
            "region x {x0}..{x1}, y {y0}..{y1} is narrower than single precision resolves"
        )));
    }
    let rows = Rows {
        data: src,
        stride: src_w * 3,
        offset: (oy * src_w + ox) * 3,
        len: in_w * 3,
    };
    resample_box(rows, in_h, b, out_w, out_h, interp, out)
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
    let rows = Rows {
        data: src,
        stride: src_w * 3,
        offset: (crop.top * src_w + crop.left) * 3,
        len: crop.width * 3,
    };
    let b = [0.0, 0.0, crop.width as f32, crop.height as f32];
    resample_box(rows, crop.height, b, out_w, out_h, interp, out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A real photo (Debian's plasma-workspace-wallpapers, installed by `make system-deps`):
    /// the top-left `w` x `h` pixels of a 400x250 picture of coloured cups.
    fn test_image(w: usize, h: usize) -> Vec<u8> {
        const PHOTO: &str = "/usr/share/wallpapers/ColorfulCups/contents/screenshot.jpg";
        let data = std::fs::read(PHOTO).expect("real test photo missing: run `make system-deps`");
        let img = crate::image::decode::decode(&data, &Default::default()).unwrap();
        assert!(w <= img.width && h <= img.height);
        let mut v = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            v.extend_from_slice(&img.data[y * img.width * 3..][..w * 3]);
        }
        v
    }

    const ALL: [Interpolation; 3] = [
        Interpolation::Nearest,
        Interpolation::Bilinear,
        Interpolation::Bicubic,
    ];

    #[test]
    fn identity_resize_of_an_integer_region_is_a_copy() {
        let (w, h) = (37, 29);
        let img = test_image(w, h);
        let crop = CropBox {
            top: 3,
            left: 5,
            height: 20,
            width: 17,
        };
        let mut expected = Vec::new();
        for y in crop.top..crop.top + crop.height {
            expected.extend_from_slice(
                &img[(y * w + crop.left) * 3..(y * w + crop.left + crop.width) * 3],
            );
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
                assert_eq!(k, if i == centre { 1 << PRECISION_BITS } else { 0 });
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
                    resample_region(
                        &img,
                        w,
                        h,
                        [0.5, 1.25, 60.5, 42.0],
                        ow,
                        oh,
                        interp,
                        &mut out,
                    )
                    .unwrap();
                    assert!(
                        out.iter().all(|&v| v == value),
                        "{interp} {ow}x{oh} value {value}"
                    );
                }
            }
        }
    }

    #[test]
    fn coefficients_sum_to_one() {
        for interp in [Interpolation::Bilinear, Interpolation::Bicubic] {
            for &(n_in, n_out) in &[(400, 224), (100, 96), (96, 224), (1000, 3), (5, 1)] {
                let c = precompute(n_in, 0.0, n_in as f32, n_out, interp).unwrap();
                for (ks, &n) in c.k.chunks_exact(c.ksize).zip(&c.count) {
                    let s: i64 = ks.iter().map(|&k| i64::from(k)).sum();
                    assert!(
                        (s - (1 << PRECISION_BITS)).abs() <= n as i64,
                        "{interp} {n_in}->{n_out}: {s}"
                    );
                    assert!(ks[n..].iter().all(|&k| k == 0));
                }
            }
        }
    }

    #[test]
    fn region_and_crop_agree_on_integer_boxes() {
        let (w, h) = (120, 90);
        let img = test_image(w, h);
        let crop = CropBox {
            top: 11,
            left: 23,
            height: 70,
            width: 83,
        };
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
        let crop = CropBox {
            top: 10,
            left: 10,
            height: 20,
            width: 25,
        };
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
        let err = resized_crop(
            &img,
            w,
            h,
            CropBox {
                top: 10,
                left: 40,
                height: 30,
                width: 30,
            },
            10,
            10,
            i,
            &mut out,
        );
        assert_eq!(
            err.unwrap_err().to_string(),
            "invalid geometry: crop 30x30 at (40,10) exceeds 64x48 image"
        );
        assert!(resized_crop(
            &img,
            w,
            h,
            CropBox {
                top: 0,
                left: 0,
                height: 0,
                width: 3
            },
            10,
            10,
            i,
            &mut out
        )
        .is_err());
        assert!(resized_crop(
            &img,
            w,
            h,
            CropBox {
                top: 0,
                left: 0,
                height: 5,
                width: 3
            },
            0,
            10,
            i,
            &mut out
        )
        .is_err());
        assert!(resized_crop(
            &img,
            w,
            h,
            CropBox {
                top: 0,
                left: 0,
                height: 5,
                width: 3
            },
            10,
            9,
            i,
            &mut out
        )
        .is_err());
        assert!(resized_crop(
            &img[1..],
            w,
            h,
            CropBox {
                top: 0,
                left: 0,
                height: 5,
                width: 3
            },
            10,
            10,
            i,
            &mut out
        )
        .is_err());
        assert!(resized_crop(
            &img,
            usize::MAX,
            2,
            CropBox {
                top: 0,
                left: 0,
                height: 1,
                width: 1
            },
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
            assert!(
                resample_region(&img, w, h, region, 10, 10, i, &mut out).is_err(),
                "{region:?}"
            );
        }
    }

    #[test]
    fn interpolation_names_round_trip() {
        for name in Interpolation::NAMES {
            assert_eq!(name.parse::<Interpolation>().unwrap().name(), name);
        }
        let err = "lanczos".parse::<Interpolation>().unwrap_err().to_string();
        assert!(
            err.contains("'nearest', 'bilinear', 'bicubic'") && err.contains("'lanczos'"),
            "{err}"
        );
    }
}
