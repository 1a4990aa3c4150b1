//! The two separable passes over fixed-point taps: the plain loops, and the dispatch to the AVX2
//! ones (`super::avx2`, the same integers) when the CPU has AVX2.

use super::coeffs::Coeffs;
use super::{clip8, Rows, Scratch, HALF};
use crate::image::Result;

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
        for ((o, &start), ks) in out_row.chunks_exact_mut(3).zip(&c.start).zip(c.k.chunks_exact(c.ksize)) {
            let px = wide.get(start * 4..).unwrap_or_default();
            let mut acc = [HALF; 4];
            for (p, &k) in px.chunks_exact(4).zip(ks) {
                for (a, &v) in acc.iter_mut().zip(p) {
                    *a = a.wrapping_add(v.wrapping_mul(i32::from(k)));
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
    for (((out_row, &start), &n), ks) in
        out.chunks_exact_mut(rows.len).zip(&c.start).zip(&c.count).zip(c.k.chunks_exact(c.ksize))
    {
        acc.fill(HALF);
        for (y, &k) in (start..start + n).zip(ks) {
            let src = rows.row(y - first)?;
            for (a, &p) in acc.iter_mut().zip(src) {
                *a = a.wrapping_add(i32::from(p).wrapping_mul(i32::from(k)));
            }
        }
        for (o, &a) in out_row.iter_mut().zip(&acc) {
            *o = clip8(a);
        }
    }
    Ok(())
}

pub(super) fn horizontal(
    rows: Rows<'_>,
    first: usize,
    c: &Coeffs,
    out: &mut [u8],
    scratch: &mut Scratch,
) -> Result<()> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && !force_generic() {
        // SAFETY: the CPU supports AVX2, checked just above; the function is otherwise safe.
        return unsafe { super::avx2::horizontal(rows, first, c, out, &mut scratch.wide) };
    }
    let _ = scratch;
    horizontal_generic(rows, first, c, out)
}

pub(super) fn vertical(rows: Rows<'_>, first: usize, c: &Coeffs, out: &mut [u8]) -> Result<()> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && !force_generic() {
        // SAFETY: the CPU supports AVX2, checked just above; the function is otherwise safe.
        return unsafe { super::avx2::vertical(rows, first, c, out) };
    }
    vertical_generic(rows, first, c, out)
}

#[cfg(test)]
thread_local! {
    /// Tests compare the AVX2 kernels against the generic ones by switching this on.
    pub(super) static FORCE_GENERIC: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[cfg(test)]
fn force_generic() -> bool {
    FORCE_GENERIC.with(|f| f.get())
}

#[cfg(not(test))]
#[inline(always)]
fn force_generic() -> bool {
    false
}
