//! Gaussian blur of HWC RGB u8 images, as `torchvision.transforms.v2.functional.gaussian_blur`
//! does it on a PIL image.
//!
//! torchvision converts the PIL image to a uint8 tensor, then to float32, pads it by
//! `kernel_size // 2` on each side in `reflect` mode (`dcb|abcd|cba`, the edge not repeated),
//! convolves with the outer product of two 1-D kernels `softmax(-(x / sigma)^2)` over
//! `x = linspace(-lim, lim, kernel_size)`, `lim = (kernel_size - 1) / (2 sqrt 2)` (i.e. the normalised
//! `exp(-i^2 / (2 sigma^2))`, `i = -r..=r`), rounds half to even (`round_()`) and casts back to uint8.
//!
//! Here the same kernel runs separably in f32 (horizontal pass into a ring of `kernel_size`
//! filtered rows, vertical pass out of it, both over whole rows so they vectorise), with the same
//! reflect padding and the same rounding. The float sums differ from libtorch's 2-D convolution only
//! in the last bits, so a value can differ by one grey level only where the exact result lies within
//! about 1e-5 of a half-integer.
//!
//! torchvision requires an explicit kernel size; when none is given here it is
//! [`default_kernel_size`]`(sigma)` = `2 * ceil(3 * sigma) + 1`, which keeps every tap above 1.1% of
//! the centre tap and covers 99.7% of the Gaussian's mass.

use super::simd::{clip_trunc_u8, simd_dispatch};
use super::{ImageError, Result};

/// `2 * ceil(3 * sigma) + 1`: the kernel size used when none is given.
pub fn default_kernel_size(sigma: f64) -> usize {
    2 * (3.0 * sigma).ceil().max(0.0) as usize + 1
}

/// The normalised 1-D Gaussian kernel torchvision builds (`_get_gaussian_kernel1d`), computed in
/// f64 and rounded to f32. `kernel_size` is odd and at least 1, `sigma > 0`.
pub fn gaussian_kernel(kernel_size: usize, sigma: f64) -> Vec<f32> {
    let r = (kernel_size / 2) as f64;
    let raw: Vec<f64> = (0..kernel_size)
        .map(|i| {
            let x = (i as f64 - r) / sigma;
            (-0.5 * x * x).exp()
        })
        .collect();
    let sum: f64 = raw.iter().sum();
    raw.iter().map(|v| (v / sum) as f32).collect()
}

/// Checks the arguments of [`gaussian_blur`] and returns the kernel size to use.
pub fn check_blur(len: usize, w: usize, h: usize, sigma: f64, kernel_size: Option<usize>) -> Result<usize> {
    let expected = w.checked_mul(h).and_then(|p| p.checked_mul(3));
    if expected != Some(len) {
        return Err(ImageError::Parameter(format!(
            "a {w}x{h} RGB image holds {} bytes, the buffer holds {len}",
            expected.map_or_else(|| "more than usize::MAX".to_string(), |e| e.to_string())
        )));
    }
    if !(sigma.is_finite() && sigma > 0.0) {
        return Err(ImageError::Parameter(format!("sigma must be a finite number > 0, got {sigma}")));
    }
    let ks = match kernel_size {
        Some(k) => {
            if k % 2 == 0 {
                return Err(ImageError::Parameter(format!("kernel_size must be odd and positive, got {k}")));
            }
            k
        }
        None if w == 0 || h == 0 => 1, // nothing to blur: torchvision returns empty images
        None => {
            let r = (3.0 * sigma).ceil();
            if r >= w.min(h) as f64 {
                return Err(ImageError::Parameter(format!(
                    "sigma {sigma} gives a kernel radius of {r} (kernel_size 2*ceil(3*sigma)+1), which \
                     reflect padding allows only below the image's smaller side ({})",
                    w.min(h)
                )));
            }
            default_kernel_size(sigma)
        }
    };
    let r = ks / 2;
    if w > 0 && h > 0 && r >= w.min(h) {
        return Err(ImageError::Parameter(format!(
            "kernel_size {ks} is too large for a {w}x{h} image: reflect padding needs \
             kernel_size // 2 < {} (the smaller side)",
            w.min(h)
        )));
    }
    Ok(ks)
}

/// torchvision.transforms.v2.functional.gaussian_blur(img, kernel_size, [sigma, sigma]) on an
/// HWC RGB u8 image (`buf.len() == w * h * 3`), in place: separable float kernel, reflect padding,
/// result rounded half to even. `kernel_size` None -> `2 * ceil(3 * sigma) + 1`.
///
/// Errors (`ImageError::Parameter`): buffer length not `w * h * 3`, sigma not finite and > 0,
/// even kernel size, kernel radius not below the image's smaller side (torch's reflect-padding
/// rule). An empty image is returned unchanged, as torchvision does.
pub fn gaussian_blur(buf: &mut [u8], w: usize, h: usize, sigma: f64, kernel_size: Option<usize>) -> Result<()> {
    let mut scratch = Vec::new();
    gaussian_blur_with_scratch(buf, w, h, sigma, kernel_size, &mut scratch)
}

/// [`gaussian_blur`] reusing `scratch` (grown as needed to `(min(kernel_size, h) + 1) * w * 3 +
/// (w + kernel_size) * 3` floats) so that a worker allocates nothing per crop.
pub fn gaussian_blur_with_scratch(
    buf: &mut [u8],
    w: usize,
    h: usize,
    sigma: f64,
    kernel_size: Option<usize>,
    scratch: &mut Vec<f32>,
) -> Result<()> {
    let ks = check_blur(buf.len(), w, h, sigma, kernel_size)?;
    if w == 0 || h == 0 || ks == 1 {
        // A one-tap kernel is [1.0]: torchvision returns the image (float round trip exact).
        return Ok(());
    }
    let kernel = gaussian_kernel(ks, sigma);
    if kernel.get(ks / 2) == Some(&1.0) {
        // Side taps below 2^-24 in total (sigma < ~0.17): every output is v * 1.0 + (less than
        // 255 * 2^-24), which rounds back to v, in torchvision's float32 as here.
        return Ok(());
    }
    blur_rows(buf, w, h, &kernel, scratch);
    Ok(())
}

/// Index `i` reflected into `0..n` (`dcb|abcd|cba`); needs `-n < i < 2n - 1`.
#[inline(always)]
fn reflect(i: isize, n: usize) -> usize {
    let n = n as isize;
    let j = if i < 0 {
        -i
    } else if i >= n {
        2 * (n - 1) - i
    } else {
        i
    };
    j.clamp(0, n - 1) as usize
}

/// Rounds half to even and converts, as `round_().to(torch.uint8)`: adding and subtracting 2^23
/// rounds an f32 in [0, 2^22] to the nearest integer, ties to even, under the default rounding
/// mode (no libm call, and it vectorises).
#[inline(always)]
fn round_u8(x: f32) -> u8 {
    const MAGIC: f32 = 8_388_608.0;
    clip_trunc_u8((x + MAGIC) - MAGIC)
}

/// Adds `w[0] (a[0][i] + b[0][i]) + ... + w[R-1] (a[R-1][i] + b[R-1][i])`, in that order, to
/// `out[i]`, or, with `FIRST`, to `c0 * c[i]` (the centre tap) and stores it in `out[i]`. The taps
/// are unrolled inside the loop over `i`, so an output stays in a register for `R` taps instead of
/// being loaded and stored once per tap. Slices shorter than `out` leave it untouched.
#[inline(always)]
fn symmetric_taps<const R: usize, const FIRST: bool>(
    out: &mut [f32],
    (c0, c): (f32, &[f32]),
    pairs: [(&[f32], &[f32]); R],
    w: [f32; R],
) {
    let n = out.len();
    if c.len() < n || pairs.iter().any(|(a, b)| a.len() < n || b.len() < n) {
        return;
    }
    let a = pairs.map(|p| &p.0[..n]);
    let b = pairs.map(|p| &p.1[..n]);
    let c = &c[..n];
    for (i, o) in out.iter_mut().enumerate() {
        let mut sum = if FIRST { c0 * c[i] } else { *o };
        for j in 0..R {
            sum += w[j] * (a[j][i] + b[j][i]);
        }
        *o = sum;
    }
}

/// `out[i] = w[0] c[i] + w[1] (a1[i] + b1[i]) + ... + w[r] (ar[i] + br[i])` summed in that order,
/// with `(aj, bj) = pair(j)` the slices `j` taps before and after the centre `c`: the same floats
/// as one pass per tap, computed [`symmetric_taps`] by up to 3 taps at a time (more taps per pass
/// ran out of registers).
#[inline(always)]
fn taps_any<'a>(out: &mut [f32], c: &[f32], pair: impl Fn(usize) -> (&'a [f32], &'a [f32]), w: &[f32]) {
    let Some((&c0, side)) = w.split_first() else {
        return;
    };
    let mut done = 0;
    let mut chunks = side.chunks(3);
    macro_rules! pass {
        ($first:literal, $chunk:expr) => {
            match *$chunk {
                [w1] => symmetric_taps::<1, $first>(out, (c0, c), [pair(done + 1)], [w1]),
                [w1, w2] => symmetric_taps::<2, $first>(out, (c0, c), [pair(done + 1), pair(done + 2)], [w1, w2]),
                [w1, w2, w3] => symmetric_taps::<3, $first>(
                    out,
                    (c0, c),
                    [pair(done + 1), pair(done + 2), pair(done + 3)],
                    [w1, w2, w3],
                ),
                _ => {}
            }
        };
    }
    match chunks.next() {
        Some(chunk) => pass!(true, chunk),
        None => symmetric_taps::<0, true>(out, (c0, c), [], []),
    }
    done += 3;
    for chunk in chunks {
        pass!(false, chunk);
        done += 3;
    }
}

/// The horizontal pass of one row: `src` (w RGB pixels) into `out` (w * 3 floats), through
/// `padded` ((w + 2r) * 3 floats), with the symmetric kernel `kernel` (2r + 1 taps). Always
/// inlined, so that it is part of the AVX2 build of [`blur_rows`].
#[inline(always)]
fn filter_row(src: &[u8], padded: &mut [f32], out: &mut [f32], kernel: &[f32]) {
    let r = kernel.len() / 2;
    let row = src.len();
    let w = row / 3;
    // Centre, then the reflected borders (r < w is checked by the caller).
    if let Some(centre) = padded.get_mut(3 * r..3 * r + row) {
        for (p, &s) in centre.iter_mut().zip(src) {
            *p = f32::from(s);
        }
    }
    for j in 1..=r {
        let (left, right) = (3 * (r - j), 3 * (r + w - 1 + j));
        let (from_left, from_right) = (3 * j, 3 * (w - 1 - j.min(w - 1)));
        for c in 0..3 {
            if let (Some(d), Some(&s)) = (padded.get_mut(left + c), src.get(from_left + c)) {
                *d = f32::from(s);
            }
            if let (Some(d), Some(&s)) = (padded.get_mut(right + c), src.get(from_right + c)) {
                *d = f32::from(s);
            }
        }
    }
    let (Some(w), Some(centre)) = (kernel.get(r..), padded.get(3 * r..3 * r + row)) else {
        return;
    };
    let padded = &*padded;
    let side = |j: usize| (padded.get(3 * (r - j)..).unwrap_or(&[]), padded.get(3 * (r + j)..).unwrap_or(&[]));
    taps_any(out.get_mut(..row).unwrap_or_default(), centre, side, w);
}

simd_dispatch! {
/// Separable blur over whole rows; every slice index below is in range by construction (sizes
/// checked in [`check_blur`]), and the `get`s only keep a mistake from turning into a panic.
fn blur_rows / blur_rows_baseline(buf: &mut [u8], w: usize, h: usize, kernel: &[f32], scratch: &mut Vec<f32>) {
    let ks = kernel.len();
    let r = ks / 2;
    let row = w * 3;
    // The rows y - r ..= y + r (reflected into the image) are a contiguous range of at most
    // min(ks, h) rows, so a ring of that many slots (indexed row % slots) holds them all.
    let slots = ks.min(h).max(1);
    let need = slots * row + (w + 2 * r) * 3 + row;
    // Every float is written before it is read (ring rows are filtered before use, the padded row
    // and the accumulator are filled whole), so the scratch is grown but never cleared.
    if scratch.len() < need {
        scratch.resize(need, 0.0);
    }
    let (ring, rest) = scratch.split_at_mut(slots * row);
    let (padded, acc) = rest.split_at_mut((w + 2 * r) * 3);
    let acc = acc.get_mut(..row).unwrap_or_default();

    let mut next = 0usize; // next source row to filter horizontally
    for y in 0..h {
        // Rows y - r ..= y + r (reflected) must be in the ring: filter up to min(y + r, h - 1).
        // Source rows are read before row y is overwritten (next > y always holds below).
        let last = (y + r).min(h - 1);
        while next <= last {
            let slot = next % slots;
            if let (Some(src), Some(out)) = (
                buf.get(next * row..(next + 1) * row),
                ring.get_mut(slot * row..(slot + 1) * row),
            ) {
                filter_row(src, padded, out, kernel);
            }
            next += 1;
        }
        let ring = &*ring;
        let ring_row = |i: isize| {
            let slot = reflect(i, h) % slots;
            ring.get(slot * row..(slot + 1) * row).unwrap_or(&[])
        };
        let (Some(w), centre) = (kernel.get(r..), ring_row(y as isize)) else {
            continue;
        };
        let side = |j: usize| (ring_row(y as isize - j as isize), ring_row((y + j) as isize));
        taps_any(acc, centre, side, w);
        if let Some(dst) = buf.get_mut(y * row..(y + 1) * row) {
            for (d, &a) in dst.iter_mut().zip(acc.iter()) {
                *d = round_u8(a);
            }
        }
    }
}
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::image::RgbImage;

    /// A real photo (tests/fixtures, `crate::image::testdata`).
    fn photo() -> RgbImage {
        crate::image::testdata::astronaut()
    }

    /// Direct 2-D convolution in f64 on the reflect-padded image: the definition, slowly.
    fn reference(img: &RgbImage, kernel: &[f32]) -> Vec<u8> {
        let (w, h) = (img.width, img.height);
        let r = (kernel.len() / 2) as isize;
        let mut out = vec![0u8; w * h * 3];
        for y in 0..h {
            for x in 0..w {
                for c in 0..3 {
                    let mut acc = 0f64;
                    for dy in -r..=r {
                        for dx in -r..=r {
                            let sy = reflect(y as isize + dy, h);
                            let sx = reflect(x as isize + dx, w);
                            let k = f64::from(kernel[(dy + r) as usize]) * f64::from(kernel[(dx + r) as usize]);
                            acc += k * f64::from(img.data[(sy * w + sx) * 3 + c]);
                        }
                    }
                    out[(y * w + x) * 3 + c] = acc.round_ties_even() as u8;
                }
            }
        }
        out
    }

    fn crop(img: &RgbImage, x0: usize, y0: usize, w: usize, h: usize) -> RgbImage {
        let mut data = Vec::with_capacity(w * h * 3);
        for y in y0..y0 + h {
            data.extend_from_slice(&img.data[(y * img.width + x0) * 3..(y * img.width + x0 + w) * 3]);
        }
        RgbImage::from_vec(w, h, data).unwrap()
    }

    #[test]
    fn kernel_is_normalised_and_symmetric() {
        for (ks, sigma) in [(3, 0.1), (7, 1.0), (13, 2.0), (5, 10.0)] {
            let k = gaussian_kernel(ks, sigma);
            assert_eq!(k.len(), ks);
            let sum: f64 = k.iter().map(|&v| f64::from(v)).sum();
            assert!((sum - 1.0).abs() < 1e-6, "{sum}");
            for i in 0..ks {
                assert_eq!(k[i], k[ks - 1 - i]);
            }
        }
        assert_eq!(default_kernel_size(0.1), 3);
        assert_eq!(default_kernel_size(1.0), 7);
        assert_eq!(default_kernel_size(2.0), 13);
    }

    #[test]
    fn separable_blur_matches_the_2d_definition() {
        let img = photo();
        for (w, h, sigma, ks) in [
            (40, 31, 1.0, None),
            (17, 23, 2.0, None),
            (9, 12, 0.7, Some(5)),
            (7, 7, 3.0, Some(13)),
            (20, 5, 2.0, Some(9)),
            (5, 20, 2.0, Some(9)),
        ] {
            let part = crop(&img, 200, 180, w, h);
            let ks_used = ks.unwrap_or_else(|| default_kernel_size(sigma));
            let want = reference(&part, &gaussian_kernel(ks_used, sigma));
            let mut got = part.data.clone();
            gaussian_blur(&mut got, w, h, sigma, ks).unwrap();
            let diff: Vec<_> = got.iter().zip(&want).filter(|(a, b)| a != b).collect();
            // f32 vs f64 sums: only values within ~1e-5 of a half-integer may round differently.
            assert!(diff.len() * 1000 <= got.len(), "{} of {} differ", diff.len(), got.len());
            assert!(diff.iter().all(|(&a, &b)| a.abs_diff(b) == 1));
        }
    }

    #[test]
    fn small_sigma_is_nearly_the_identity_and_a_flat_image_stays_flat() {
        let img = crop(&photo(), 100, 100, 64, 48);
        let mut out = img.data.clone();
        // sigma 0.1: side taps are exp(-50) ~ 2e-22 of the centre: the image comes back.
        gaussian_blur(&mut out, 64, 48, 0.1, None).unwrap();
        assert_eq!(out, img.data);
        let mut flat = vec![77u8; 30 * 20 * 3];
        gaussian_blur(&mut flat, 30, 20, 2.0, None).unwrap();
        assert!(flat.iter().all(|&v| v == 77));
    }

    #[test]
    fn blur_reduces_detail() {
        let img = crop(&photo(), 0, 0, 96, 96);
        let mut out = img.data.clone();
        gaussian_blur(&mut out, 96, 96, 2.0, None).unwrap();
        // Squared differences between horizontal neighbours (high-frequency energy).
        let energy = |d: &[u8]| -> u64 {
            d.chunks_exact(96 * 3)
                .flat_map(|row| row.chunks_exact(3).zip(row.chunks_exact(3).skip(1)))
                .map(|(a, b)| u64::from(a[1].abs_diff(b[1])).pow(2))
                .sum()
        };
        let (before, after) = (energy(&img.data), energy(&out));
        assert!(after * 2 < before, "gradient energy {before} -> {after}");
    }

    #[test]
    fn scratch_is_reused_and_results_do_not_depend_on_it() {
        let img = crop(&photo(), 50, 60, 96, 80);
        let mut scratch = vec![123.0f32; 7];
        let mut a = img.data.clone();
        gaussian_blur_with_scratch(&mut a, 96, 80, 1.5, None, &mut scratch).unwrap();
        let mut b = img.data.clone();
        gaussian_blur(&mut b, 96, 80, 1.5, None).unwrap();
        assert_eq!(a, b);
        let cap = scratch.capacity();
        let mut c = img.data.clone();
        gaussian_blur_with_scratch(&mut c, 96, 80, 1.5, None, &mut scratch).unwrap();
        assert_eq!(c, a);
        assert_eq!(scratch.capacity(), cap);
        // A scratch longer than needed and full of garbage (it is never cleared) changes nothing.
        let mut garbage = vec![f32::NAN; 100_000];
        for sigma in [2.0, 0.7, 1.5] {
            let (mut d, mut e) = (img.data.clone(), img.data.clone());
            gaussian_blur_with_scratch(&mut d, 96, 80, sigma, None, &mut garbage).unwrap();
            gaussian_blur(&mut e, 96, 80, sigma, None).unwrap();
            assert_eq!(d, e, "sigma {sigma}");
        }
    }

    #[test]
    fn bad_parameters_are_errors() {
        let mut buf = vec![0u8; 10 * 8 * 3];
        let err = |r: Result<()>| match r {
            Err(ImageError::Parameter(m)) => m,
            other => panic!("expected a parameter error, got {other:?}"),
        };
        assert!(err(gaussian_blur(&mut buf, 10, 9, 1.0, None)).contains("buffer holds 240"));
        assert!(err(gaussian_blur(&mut buf, 10, 8, 0.0, None)).contains("sigma"));
        assert!(err(gaussian_blur(&mut buf, 10, 8, -1.0, None)).contains("sigma"));
        assert!(err(gaussian_blur(&mut buf, 10, 8, f64::NAN, None)).contains("sigma"));
        assert!(err(gaussian_blur(&mut buf, 10, 8, 1.0, Some(4))).contains("odd"));
        assert!(err(gaussian_blur(&mut buf, 10, 8, 1.0, Some(0))).contains("odd"));
        assert!(err(gaussian_blur(&mut buf, 10, 8, 1.0, Some(17))).contains("too large"));
        assert!(err(gaussian_blur(&mut buf, 10, 8, 3.0, None)).contains("radius"));
        assert!(err(gaussian_blur(&mut buf, usize::MAX, 2, 1.0, None)).contains("usize::MAX"));
        // Largest allowed: radius 7 < 8.
        assert!(gaussian_blur(&mut buf, 10, 8, 1.0, Some(15)).is_ok());
        assert!(gaussian_blur(&mut [], 0, 0, 1.0, None).is_ok());
    }
}
