//! The two passes with AVX2 intrinsics: the same integer arithmetic as the generic code
//! (`super::kernels`, and so the same bytes), 8 lanes at a time.

use std::arch::x86_64::*;

use super::coeffs::Coeffs;
use super::{prefix, Rows, HALF, PRECISION_BITS};
use crate::image::{ImageError, Result};

/// Widens `src` (RGB u8 pixels) into `wide` (4 x i16 per pixel, the 4th lane 0).
#[target_feature(enable = "avx2")]
fn widen(src: &[u8], wide: &mut [i16]) {
    let n = (src.len() / 3).min(wide.len() / 4);
    // Bytes of 4 RGB pixels spread to 4 x (R, G, B, 0); -1 selects a zero.
    let spread = _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1);
    let mut x = 0;
    // A 16-byte load at pixel x reads 5 1/3 pixels: stop while 6 remain.
    while x + 6 <= n {
        // SAFETY: x + 6 <= n gives x * 3 + 16 < n * 3 <= src.len() bytes read, and
        // (x + 4) * 4 <= n * 4 <= wide.len() i16 written; unaligned load and store.
        unsafe {
            let v = _mm_loadu_si128(src.as_ptr().add(x * 3).cast());
            let w = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(v, spread));
            _mm256_storeu_si256(wide.as_mut_ptr().add(x * 4).cast(), w);
        }
        x += 4;
    }
    for (w4, p) in wide[x * 4..n * 4].chunks_exact_mut(4).zip(src[x * 3..].chunks_exact(3)) {
        w4[0] = i16::from(p[0]);
        w4[1] = i16::from(p[1]);
        w4[2] = i16::from(p[2]);
        w4[3] = 0;
    }
}

/// The coefficients of `c` for `_mm256_madd_epi16`, per output pixel and group of 4 taps
/// t..t + 4 (the first `groups` groups of each pixel), as [k(t), k(t+1)] x 4 then
/// [k(t+2), k(t+3)] x 4.
#[target_feature(enable = "avx2")]
fn coeff_table(c: &Coeffs, groups: usize) -> Vec<__m256i> {
    let mut table = Vec::with_capacity(c.start.len() * groups);
    for row in c.k.chunks_exact(c.ksize) {
        for group in row.chunks_exact(4).take(groups) {
            if let [k0, k1, k2, k3] = *group {
                table.push(_mm256_setr_epi16(k0, k1, k0, k1, k0, k1, k0, k1, k2, k3, k2, k3, k2, k3, k2, k3));
            }
        }
    }
    table
}

/// See `horizontal_generic`. Per output pixel and 4 taps: one load of 4 widened pixels, one
/// shuffle that pairs the taps channel by channel, and one `madd`; rounding, packing and
/// the RGBX -> RGB compression run on 8 output pixels at a time.
#[target_feature(enable = "avx2")]
pub(super) fn horizontal(rows: Rows<'_>, first: usize, c: &Coeffs, out: &mut [u8], wide: &mut Vec<i16>) -> Result<()> {
    // Every pixel runs the same number of groups of 4 taps, enough for the widest one
    // (coefficients past a pixel's own taps are zero).
    let groups = c.count.iter().copied().max().unwrap_or(0).div_ceil(4).max(1);
    let table = coeff_table(c, groups);
    // Every output pixel reads the pixels start..start + 4 * groups of `wide` and the table
    // entries xx * groups..(xx + 1) * groups: check once that all of them exist.
    let in_w = rows.len / 3;
    let max_start = c.start.iter().copied().max().unwrap_or(0);
    let wide_px = in_w + 4 * groups;
    if max_start > in_w || table.len() != c.start.len() * groups || 4 * groups > c.ksize {
        return Err(ImageError::Geometry("filter taps outside the source row".into()));
    }
    // The row buffer: pixels in_w.. must read as zeros; 0..in_w are rewritten per row.
    let wide = prefix(wide, wide_px * 4);
    wide.get_mut(in_w * 4..).unwrap_or_default().fill(0);
    let k = Kernel { table: &table, start: &c.start, wide, groups };
    match groups {
        1 => k.run::<1>(rows, first, out),
        2 => k.run::<2>(rows, first, out),
        3 => k.run::<3>(rows, first, out),
        4 => k.run::<4>(rows, first, out),
        5 => k.run::<5>(rows, first, out),
        6 => k.run::<6>(rows, first, out),
        _ => k.run::<0>(rows, first, out),
    }
}

/// The horizontal pass of one call, its invariants checked by `horizontal`: every
/// `start[xx] + 4 * groups <= wide.len() / 4` and `table.len() == start.len() * groups`.
struct Kernel<'a> {
    table: &'a [__m256i],
    start: &'a [usize],
    /// One source row, 4 x i16 per pixel, zero padded by `4 * groups` pixels.
    wide: &'a mut [i16],
    groups: usize,
}

impl Kernel<'_> {
    /// `G` groups of 4 taps per pixel, or `self.groups` when `G == 0`.
    #[target_feature(enable = "avx2")]
    fn run<const G: usize>(self, rows: Rows<'_>, first: usize, out: &mut [u8]) -> Result<()> {
        let out_w = self.start.len();
        let half = _mm256_set1_epi32(HALF);
        let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        // 4 pixels (R, G, B, X) -> 12 bytes RGB then 4 zeros, in each 128-bit lane.
        let compress = _mm256_setr_epi8(
            0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1, //
            0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1,
        );
        let row_out = out_w * 3;
        for (y, out_row) in out.chunks_exact_mut(row_out).enumerate() {
            widen(rows.row(first + y)?, self.wide);
            let mut xx = 0;
            // Eight output pixels per round: one pack, one permute, one shuffle, two stores.
            while xx + 8 <= out_w {
                // SAFETY (all four): xx + 7 < out_w, and `Kernel`'s invariants.
                let (s0, s1, s2, s3) = unsafe {
                    (
                        self.two::<G>(xx, half),
                        self.two::<G>(xx + 2, half),
                        self.two::<G>(xx + 4, half),
                        self.two::<G>(xx + 6, half),
                    )
                };
                let p0 = _mm256_packs_epi32(s0, s1); // [a c | b d]
                let p1 = _mm256_packs_epi32(s2, s3); // [e g | f h]
                let q = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(p0, p1), order);
                let r = _mm256_shuffle_epi8(q, compress);
                let lo = _mm256_castsi256_si128(r);
                let hi = _mm256_extracti128_si256::<1>(r);
                let o = xx * 3;
                // 12 bytes of lane 0 then 12 of lane 1; 16-byte stores where 4 bytes of
                // slack remain (the next store overwrites them), exact copies at the end.
                if o + 28 <= row_out {
                    // SAFETY: o + 28 <= row_out == out_row.len(); unaligned stores.
                    unsafe {
                        _mm_storeu_si128(out_row.as_mut_ptr().add(o).cast(), lo);
                        _mm_storeu_si128(out_row.as_mut_ptr().add(o + 12).cast(), hi);
                    }
                } else {
                    let mut bytes = [0u8; 32];
                    // SAFETY: `bytes` holds 32 bytes; unaligned stores.
                    unsafe {
                        _mm_storeu_si128(bytes.as_mut_ptr().cast(), lo);
                        _mm_storeu_si128(bytes.as_mut_ptr().add(16).cast(), hi);
                    }
                    if let Some(dst) = out_row.get_mut(o..o + 24) {
                        dst[..12].copy_from_slice(&bytes[..12]);
                        dst[12..].copy_from_slice(&bytes[16..28]);
                    }
                }
                xx += 8;
            }
            for xx in xx..out_w {
                // SAFETY: xx < out_w, and `Kernel`'s invariants.
                let a = unsafe { self.pixel::<G>(xx) };
                let s = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256::<1>(a));
                let s = _mm_add_epi32(s, _mm256_castsi256_si128(half));
                let s = _mm_srai_epi32::<{ PRECISION_BITS as i32 }>(s);
                let s = _mm_packus_epi16(_mm_packs_epi32(s, s), _mm_setzero_si128());
                let v = _mm_cvtsi128_si32(s).to_le_bytes();
                if let Some(dst) = out_row.get_mut(xx * 3..xx * 3 + 3) {
                    dst.copy_from_slice(&v[..3]);
                }
            }
        }
        Ok(())
    }

    /// Output pixels xx and xx + 1 as [sum(xx) | sum(xx + 1)], rounded and shifted.
    ///
    /// # Safety
    /// `xx + 1 < self.start.len()`, and `Kernel`'s invariants.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn two<const G: usize>(&self, xx: usize, half: __m256i) -> __m256i {
        let (a, b) = (self.pixel::<G>(xx), self.pixel::<G>(xx + 1));
        let s = _mm256_add_epi32(_mm256_permute2x128_si256::<0x20>(a, b), _mm256_permute2x128_si256::<0x31>(a, b));
        _mm256_srai_epi32::<{ PRECISION_BITS as i32 }>(_mm256_add_epi32(s, half))
    }

    /// The filter sum of output pixel `xx` as [taps 4g, 4g+1 | taps 4g+2, 4g+3] summed over
    /// the groups g, per channel (R, G, B, X); the two halves still need adding.
    ///
    /// # Safety
    /// `xx < self.start.len()`, and `Kernel`'s invariants.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn pixel<const G: usize>(&self, xx: usize) -> __m256i {
        // [R0 G0 B0 X0 R1 G1 B1 X1] (i16) -> [R0 R1 G0 G1 B0 B1 X0 X1], in each lane.
        let pairs = _mm256_setr_epi8(
            0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15, //
            0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15,
        );
        let groups = if G == 0 { self.groups } else { G };
        let px = self.wide.as_ptr().add(*self.start.get_unchecked(xx) * 4);
        let ks = self.table.as_ptr().add(xx * groups);
        let mut acc = _mm256_setzero_si256();
        for g in 0..groups {
            let p = _mm256_shuffle_epi8(_mm256_loadu_si256(px.add(g * 16).cast()), pairs);
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, *ks.add(g)));
        }
        acc
    }
}

/// See `vertical_generic`. Per 32 bytes and pair of tap rows: the two rows' bytes
/// interleaved and widened to i16 pairs, one `madd` with the pair of coefficients per 8
/// bytes (an odd last row is paired with itself under a zero coefficient).
#[target_feature(enable = "avx2")]
pub(super) fn vertical(rows: Rows<'_>, first: usize, c: &Coeffs, out: &mut [u8]) -> Result<()> {
    let len = rows.len;
    let blocks = len / 32;
    let mut taps: Vec<&[u8]> = Vec::with_capacity(c.ksize + 1);
    let mut pairs: Vec<__m256i> = Vec::with_capacity(c.ksize.div_ceil(2));
    let half = _mm256_set1_epi32(HALF);
    for (((out_row, &start), &n), ks) in
        out.chunks_exact_mut(len).zip(&c.start).zip(&c.count).zip(c.k.chunks_exact(c.ksize))
    {
        taps.clear();
        for y in start..start + n {
            taps.push(rows.row(y - first)?);
        }
        if let Some(&last) = taps.last() {
            if n % 2 == 1 {
                taps.push(last);
            }
        }
        pairs.clear();
        for pair in ks.get(..n).unwrap_or_default().chunks(2) {
            let (k0, k1) = (pair[0], pair.get(1).copied().unwrap_or(0));
            pairs.push(_mm256_set1_epi32((i32::from(k1) << 16) | i32::from(k0 as u16)));
        }
        for b in 0..blocks {
            let x = b * 32;
            let (mut a0, mut a1, mut a2, mut a3) = (half, half, half, half);
            for (two, &k) in taps.chunks_exact(2).zip(&pairs) {
                // SAFETY: every tap row holds `len` bytes and x + 32 <= blocks * 32 <= len;
                // unaligned 32-byte loads at x of both rows.
                let (u, v) = unsafe {
                    (
                        _mm256_loadu_si256(two[0].as_ptr().add(x).cast()),
                        _mm256_loadu_si256(two[1].as_ptr().add(x).cast()),
                    )
                };
                // Bytes of the two rows interleaved, then widened to (row 0, row 1) i16 pairs,
                // all within 128-bit lanes: a0 holds bytes 0-3 and 16-19, a1 4-7 and 20-23,
                // a2 8-11 and 24-27, a3 12-15 and 28-31, which the packs below put back in
                // order.
                let (lo, hi) = (_mm256_unpacklo_epi8(u, v), _mm256_unpackhi_epi8(u, v));
                let zero = _mm256_setzero_si256();
                a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_unpacklo_epi8(lo, zero), k));
                a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_unpackhi_epi8(lo, zero), k));
                a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(_mm256_unpacklo_epi8(hi, zero), k));
                a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(_mm256_unpackhi_epi8(hi, zero), k));
            }
            const S: i32 = PRECISION_BITS as i32;
            let p01 = _mm256_packs_epi32(_mm256_srai_epi32::<S>(a0), _mm256_srai_epi32::<S>(a1));
            let p23 = _mm256_packs_epi32(_mm256_srai_epi32::<S>(a2), _mm256_srai_epi32::<S>(a3));
            let p = _mm256_packus_epi16(p01, p23);
            // SAFETY: x + 32 <= len == out_row.len(); unaligned store.
            unsafe { _mm256_storeu_si256(out_row.as_mut_ptr().add(x).cast(), p) };
        }
        // The last len % 32 bytes, as the generic code does them.
        let x0 = blocks * 32;
        for (x, o) in out_row.iter_mut().enumerate().skip(x0) {
            let mut acc = HALF;
            for (row, &k) in taps.iter().take(n).zip(ks) {
                acc = acc.wrapping_add(i32::from(row.get(x).copied().unwrap_or(0)).wrapping_mul(i32::from(k)));
            }
            *o = super::clip8(acc);
        }
    }
    Ok(())
}
