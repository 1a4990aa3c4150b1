//! The filter taps of one pass, Pillow's `precompute_coeffs` in fixed point, and the cache that
//! shares them across calls and threads.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use super::{Interpolation, PRECISION_BITS};
use crate::image::{ImageError, Result};

impl Interpolation {
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
                // Both pieces computed and one selected: which piece a tap falls in is a coin
                // toss, and a mispredicted branch per tap cost more than the arithmetic.
                let inner = ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
                let outer = (((x - 5.0) * x + 8.0) * x - 4.0) * A;
                let v = if x < 2.0 { outer } else { 0.0 };
                if x < 1.0 {
                    inner
                } else {
                    v
                }
            }
        }
    }
}

/// Per-output-pixel filter taps of one pass, in fixed point.
pub(super) struct Coeffs {
    /// First source index (relative to the region's first covered pixel) of each output pixel.
    pub(super) start: Vec<usize>,
    /// Number of taps of each output pixel (at most `ksize`).
    pub(super) count: Vec<usize>,
    /// Row length of `k`: the most taps any output pixel can have, rounded up to a multiple of
    /// 4 (the AVX2 kernel runs taps in fours).
    pub(super) ksize: usize,
    /// `out_size * ksize` coefficients, zero past each pixel's `count`; 16 bits each, so that the
    /// AVX2 passes multiply-add them in pairs.
    pub(super) k: Vec<i16>,
}

impl Coeffs {
    /// The same taps for the output pixels in reverse order: a pass with these writes its row
    /// mirrored left to right.
    pub(super) fn mirror(&mut self) {
        self.start.reverse();
        self.count.reverse();
        let k: Vec<i16> = self.k.chunks_exact(self.ksize).rev().flatten().copied().collect();
        self.k = k;
    }
}

/// Which pass a coefficient table is for: everything `precompute` reads, and the mirroring.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct CoeffKey {
    in_size: usize,
    in0: u32,
    in1: u32,
    out_size: usize,
    interp: Interpolation,
    mirrored: bool,
}

/// Coefficient tables already built, shared by all threads. A pass's table depends only on its
/// [`CoeffKey`], and the integer crop boxes of a recipe repeat the same keys from image to image
/// (a few hundred crop sides per output size), so that after the first images most passes find
/// their table here instead of evaluating the filter for every tap again.
#[derive(Default)]
pub(super) struct CoeffCache {
    pub(super) tables: HashMap<CoeffKey, Arc<Coeffs>>,
    pub(super) bytes: usize,
}

/// The cache is emptied when it would grow past this.
pub(super) const COEFF_CACHE_BYTES: usize = 16 << 20;

pub(super) static COEFF_CACHE: LazyLock<Mutex<CoeffCache>> = LazyLock::new(Mutex::default);

impl Coeffs {
    pub(super) fn heap_bytes(&self) -> usize {
        (self.start.len() + self.count.len()) * size_of::<usize>() + self.k.len() * size_of::<i16>()
    }
}

/// [`precompute`]'s table (mirrored when asked), from the cache when it is there.
pub(super) fn coeffs(
    in_size: usize,
    in0: f32,
    in1: f32,
    out_size: usize,
    interp: Interpolation,
    mirrored: bool,
) -> Result<Arc<Coeffs>> {
    let key = CoeffKey { in_size, in0: in0.to_bits(), in1: in1.to_bits(), out_size, interp, mirrored };
    // A poisoned lock (a panic elsewhere while holding it) only turns the cache off.
    if let Some(hit) = COEFF_CACHE.lock().ok().and_then(|cache| cache.tables.get(&key).cloned()) {
        return Ok(hit);
    }
    let mut table = precompute(in_size, in0, in1, out_size, interp)?;
    if mirrored {
        table.mirror();
    }
    let table = Arc::new(table);
    if let Ok(mut cache) = COEFF_CACHE.lock() {
        let size = table.heap_bytes();
        if cache.bytes + size > COEFF_CACHE_BYTES {
            *cache = CoeffCache::default();
        }
        if size <= COEFF_CACHE_BYTES && cache.tables.insert(key, table.clone()).is_none() {
            cache.bytes += size;
        }
    }
    Ok(table)
}

/// Pillow's `precompute_coeffs` followed by `normalize_coeffs_8bpc`.
///
/// `in_size` source pixels, the box `[in0, in1)` in their coordinates (single precision, as
/// Pillow stores the box), `out_size` output pixels.
pub(super) fn precompute(in_size: usize, in0: f32, in1: f32, out_size: usize, interp: Interpolation) -> Result<Coeffs> {
    // One copy per filter, so that the kernel is inlined into the loop.
    match interp {
        Interpolation::Nearest => {
            precompute_with(in_size, in0, in1, out_size, interp, |x| Interpolation::Nearest.filter(x))
        }
        Interpolation::Bilinear => {
            precompute_with(in_size, in0, in1, out_size, interp, |x| Interpolation::Bilinear.filter(x))
        }
        Interpolation::Bicubic => {
            precompute_with(in_size, in0, in1, out_size, interp, |x| Interpolation::Bicubic.filter(x))
        }
    }
}

#[inline(always)]
fn precompute_with(
    in_size: usize,
    in0: f32,
    in1: f32,
    out_size: usize,
    interp: Interpolation,
    filter: impl Fn(f64) -> f64,
) -> Result<Coeffs> {
    // Pillow subtracts in single precision, then divides in double.
    let scale = f64::from(in1 - in0) / out_size as f64;
    let filterscale = if scale < 1.0 { 1.0 } else { scale };
    let support = interp.support() * filterscale;
    let too_big =
        || ImageError::Geometry(format!("resampling {in_size} pixels to {out_size} needs too many filter taps"));
    let ksize = (support.ceil() as usize).checked_mul(2).and_then(|n| n.checked_add(4)).ok_or_else(too_big)? & !3;
    let total = out_size.checked_mul(ksize).filter(|&n| n <= (1 << 28)).ok_or_else(too_big)?;

    let mut start = Vec::with_capacity(out_size);
    let mut count = Vec::with_capacity(out_size);
    let mut k = vec![0i16; total];
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
            *w = filter(((x + xmin) as f64 - center + 0.5) * ss);
            ww += *w;
        }
        for (kk, &w) in krow.iter_mut().zip(&weights[..n]) {
            let w = if ww != 0.0 { w / ww } else { w };
            let scaled = w * f64::from(1u32 << PRECISION_BITS);
            let rounded = if w < 0.0 { (-0.5 + scaled) as i32 } else { (0.5 + scaled) as i32 };
            *kk = i16::try_from(rounded)
                .map_err(|_| ImageError::Geometry(format!("filter weight {w} is out of the 16-bit range")))?;
        }
        start.push(xmin);
        count.push(n);
    }
    Ok(Coeffs { start, count, ksize, k })
}
