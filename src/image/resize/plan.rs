//! [`resample_region_flip`](super::resample_region_flip) written out as data, for a resampler
//! that runs elsewhere (`src/augment` resamples a batch's crops with tch on the training device).
//!
//! Every case of the CPU resampler (Pillow's crop shortcut, NEAREST, one pass, two passes in
//! either order, the fused flip) is the same two separable passes over fixed-point taps: a pass
//! the CPU skips, or the nearest pixel, is a pass of one tap of weight `1 << PLAN_BITS`, which
//! reproduces its source byte exactly. Each output pixel of a pass is
//! `clamp((HALF + sum_j k[j] * src[start + j]) >> PLAN_BITS, 0, 255)`, in integers, with the
//! source index absolute (in the whole image), so that whoever applies the plan computes the same
//! bytes as the CPU: [`apply_plan`] is the reference, and the tests hold it to the CPU resampler.

use super::coeffs::{coeffs, Coeffs};
use super::{
    covered, horizontal_first, is_plain_crop, nearest_positions, needed_passes, Interpolation, HALF, PRECISION_BITS,
};
use crate::image::{ImageError, Result};

/// Fractional bits of a plan's fixed-point taps.
pub const PLAN_BITS: u32 = PRECISION_BITS;

/// One pass: for output pixel `i`, the taps `k[i * ksize..][..ksize]` (zero past the pixel's
/// own) over source pixels `start[i]..start[i] + ksize` (absolute coordinates along the pass's
/// axis; taps of weight zero may point past the image and read nothing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taps {
    pub start: Vec<usize>,
    pub ksize: usize,
    pub k: Vec<i16>,
}

impl Taps {
    /// No output pixel.
    pub const EMPTY: Taps = Taps { start: Vec::new(), ksize: 1, k: Vec::new() };

    /// One tap of weight one per output pixel, at `origin + source[i]`, the outputs in reverse
    /// order when `mirrored`.
    fn identity(source: impl DoubleEndedIterator<Item = usize>, origin: usize, mirrored: bool) -> Taps {
        let start: Vec<usize> =
            if mirrored { source.rev().map(|s| origin + s).collect() } else { source.map(|s| origin + s).collect() };
        let k = vec![1i16 << PLAN_BITS; start.len()];
        Taps { start, ksize: 1, k }
    }

    /// A coefficient table of the CPU resampler, moved to absolute coordinates (`origin`).
    fn from_coeffs(c: &Coeffs, origin: usize) -> Taps {
        Taps { start: c.start.iter().map(|s| s + origin).collect(), ksize: c.ksize, k: c.k.clone() }
    }

    /// Output pixels of the pass.
    pub fn len(&self) -> usize {
        self.start.len()
    }

    pub fn is_empty(&self) -> bool {
        self.start.is_empty()
    }

    /// The source pixels the taps reach, zero padding included: from the smallest start to the
    /// largest start plus `ksize` (may run past the image, where only zero taps fall). Cheap: one
    /// step per output pixel.
    pub fn reach(&self) -> (usize, usize) {
        let lo = self.start.iter().copied().min().unwrap_or(0);
        let hi = self.start.iter().copied().max().map_or(0, |s| s + self.ksize);
        (lo, hi)
    }

    /// The source pixels the non-zero taps read: `lo..hi` (empty for an empty pass).
    pub fn span(&self) -> (usize, usize) {
        let mut span = (usize::MAX, 0);
        for (&s, ks) in self.start.iter().zip(self.k.chunks_exact(self.ksize.max(1))) {
            for (j, &k) in ks.iter().enumerate() {
                if k != 0 {
                    span = (span.0.min(s + j), span.1.max(s + j + 1));
                }
            }
        }
        if span.0 == usize::MAX {
            (0, 0)
        } else {
            span
        }
    }
}

/// A resampling as two passes: `horizontal` (output columns, mirrored when flipped) and
/// `vertical` (output rows), the horizontal one first when `horizontal_first`. The order only
/// matters when both passes resample (each rounds to bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResamplePlan {
    pub horizontal: Taps,
    pub vertical: Taps,
    pub horizontal_first: bool,
}

impl ResamplePlan {
    /// A plan of no output (a placeholder).
    pub const EMPTY: ResamplePlan =
        ResamplePlan { horizontal: Taps::EMPTY, vertical: Taps::EMPTY, horizontal_first: true };
}

/// The plan of `resample_region_flip(src, src_w, src_h, region, out_w, out_h, interp, flip)`:
/// the same checks and errors (but for the buffers), the same bytes once applied.
#[allow(clippy::too_many_arguments)]
pub fn resample_plan(
    src_w: usize,
    src_h: usize,
    region: [f64; 4],
    out_w: usize,
    out_h: usize,
    interp: Interpolation,
    flip: bool,
) -> Result<ResamplePlan> {
    if out_w == 0 || out_h == 0 {
        return Err(ImageError::Geometry(format!("output size {out_w}x{out_h} is empty")));
    }
    let (ox, oy, in_w, in_h, b) = covered(src_w, src_h, region)?;
    if is_plain_crop(b, out_w, out_h) {
        let (x, y) = (b[0] as usize, b[1] as usize);
        return Ok(ResamplePlan {
            horizontal: Taps::identity(x..x + out_w, ox, flip),
            vertical: Taps::identity(y..y + out_h, oy, false),
            horizontal_first: true,
        });
    }
    if interp == Interpolation::Nearest {
        let (xs, ys) = (nearest_positions(b[0], b[2], out_w, in_w), nearest_positions(b[1], b[3], out_h, in_h));
        return Ok(ResamplePlan {
            horizontal: Taps::identity(xs.into_iter(), ox, flip),
            vertical: Taps::identity(ys.into_iter(), oy, false),
            horizontal_first: true,
        });
    }
    let (need_h, need_v) = needed_passes(b, in_w, in_h, out_w, out_h);
    let horizontal = if need_h {
        // The CPU mirrors the table itself (`coeffs(.., flip)`): the same taps reversed.
        Taps::from_coeffs(&*coeffs(in_w, b[0], b[2], out_w, interp, flip)?, ox)
    } else {
        Taps::identity(0..out_w, ox, flip)
    };
    let vertical = if need_v {
        Taps::from_coeffs(&*coeffs(in_h, b[1], b[3], out_h, interp, false)?, oy)
    } else {
        Taps::identity(0..out_h, oy, false)
    };
    let horizontal_first = !(need_h && need_v) || horizontal_first(in_w, in_h, out_w, out_h);
    Ok(ResamplePlan { horizontal, vertical, horizontal_first })
}

/// One fixed-point tap sum, clipped to a byte.
fn tap_sum(taps: &Taps, i: usize, read: impl Fn(usize) -> Result<i32>) -> Result<u8> {
    let mut acc = HALF;
    for (j, &k) in taps.k[i * taps.ksize..][..taps.ksize].iter().enumerate() {
        if k != 0 {
            acc += i32::from(k) * read(taps.start[i] + j)?;
        }
    }
    Ok((acc >> PLAN_BITS).clamp(0, 255) as u8)
}

/// Applies `plan` to an HWC RGB u8 image of `src_w` x `src_h`, writing the HWC output (as
/// `plan.horizontal.len()` x `plan.vertical.len()`) to `out`: plain loops, the reference for any
/// other implementation.
pub fn apply_plan(src: &[u8], src_w: usize, src_h: usize, plan: &ResamplePlan, out: &mut [u8]) -> Result<()> {
    let (out_w, out_h) = (plan.horizontal.len(), plan.vertical.len());
    if src.len() != src_w * src_h * 3 || out.len() != out_w * out_h * 3 {
        return Err(ImageError::BufferSize { expected: out_w * out_h * 3, got: out.len() });
    }
    let outside = |what: &str, i: usize| ImageError::Geometry(format!("plan reads {what} {i}, outside the image"));
    // An image of w x h as a function of (x, y, c).
    let pass_h = |w: usize, h: usize, get: &dyn Fn(usize, usize, usize) -> u8| -> Result<Vec<u8>> {
        let mut t = vec![0u8; out_w * h * 3];
        for y in 0..h {
            for x in 0..out_w {
                for c in 0..3 {
                    let read = |sx: usize| {
                        if sx < w {
                            Ok(i32::from(get(sx, y, c)))
                        } else {
                            Err(outside("column", sx))
                        }
                    };
                    t[(y * out_w + x) * 3 + c] = tap_sum(&plan.horizontal, x, read)?;
                }
            }
        }
        Ok(t)
    };
    let pass_v = |w: usize, h: usize, get: &dyn Fn(usize, usize, usize) -> u8| -> Result<Vec<u8>> {
        let mut t = vec![0u8; w * out_h * 3];
        for y in 0..out_h {
            for x in 0..w {
                for c in 0..3 {
                    let read = |sy: usize| {
                        if sy < h {
                            Ok(i32::from(get(x, sy, c)))
                        } else {
                            Err(outside("row", sy))
                        }
                    };
                    t[(y * w + x) * 3 + c] = tap_sum(&plan.vertical, y, read)?;
                }
            }
        }
        Ok(t)
    };
    let source = |x: usize, y: usize, c: usize| src[(y * src_w + x) * 3 + c];
    let result = if plan.horizontal_first {
        let mid = pass_h(src_w, src_h, &source)?;
        pass_v(out_w, src_h, &|x, y, c| mid[(y * out_w + x) * 3 + c])?
    } else {
        let mid = pass_v(src_w, src_h, &source)?;
        pass_h(src_w, out_h, &|x, y, c| mid[(y * src_w + x) * 3 + c])?
    };
    out.copy_from_slice(&result);
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::image::resize::resample_region_flip;
    use crate::image::rng::Rng;

    #[test]
    fn applied_plans_equal_the_cpu_resampler_bit_for_bit() {
        let (w, h) = (160, 120);
        let img = crate::image::testdata::chelsea_crop(w, h);
        let mut rng = Rng::keyed(7, &[1]);
        let mut cases = 0;
        for interp in [Interpolation::Nearest, Interpolation::Bilinear, Interpolation::Bicubic] {
            for case in 0..60 {
                let flip = case % 2 == 1;
                // Fractional and integer regions, up- and downscaling, tall and wide, and the
                // shortcuts: a crop of exactly the output size, a pass that does not resample.
                let (region, out_w, out_h) = match case % 6 {
                    0 => ([10.0, 20.0, 42.0, 45.0], 32, 25),
                    1 => ([0.0, 0.0, w as f64, h as f64], w, 37),
                    2 => ([0.0, 5.0, 23.0, 100.0], 23, 9),
                    _ => {
                        let x0 = rng.uniform_in(0.0, w as f64 - 8.0);
                        let y0 = rng.uniform_in(0.0, h as f64 - 8.0);
                        let x1 = rng.uniform_in(x0 + 1.0, w as f64);
                        let y1 = rng.uniform_in(y0 + 1.0, h as f64);
                        let r = if case % 6 == 3 {
                            [x0.floor(), y0.floor(), x1.floor(), y1.floor()]
                        } else {
                            [x0, y0, x1, y1]
                        };
                        (r, 1 + rng.below(90) as usize, 1 + rng.below(90) as usize)
                    }
                };
                if !(region[0] < region[2] && region[1] < region[3]) {
                    continue;
                }
                let mut expected = vec![0u8; out_w * out_h * 3];
                resample_region_flip(&img, w, h, region, out_w, out_h, interp, flip, &mut expected).unwrap();
                let plan = resample_plan(w, h, region, out_w, out_h, interp, flip).unwrap();
                let (lo, hi) = plan.horizontal.span();
                assert!(lo < hi && hi <= w, "{region:?}: columns {lo}..{hi}");
                let mut got = vec![0u8; out_w * out_h * 3];
                apply_plan(&img, w, h, &plan, &mut got).unwrap();
                assert!(got == expected, "{interp:?} {region:?} -> {out_w}x{out_h} flip {flip}");
                cases += 1;
            }
        }
        assert!(cases > 150);
    }

    #[test]
    fn plans_refuse_what_the_resampler_refuses() {
        for (region, out) in [([0.0, 0.0, 200.0, 10.0], (4, 4)), ([5.0, 5.0, 5.0, 9.0], (4, 4)), ([0.0; 4], (0, 3))] {
            let mut buf = vec![0u8; out.0 * out.1 * 3];
            let img = vec![0u8; 100 * 50 * 3];
            let cpu =
                resample_region_flip(&img, 100, 50, region, out.0, out.1, Interpolation::Bicubic, false, &mut buf);
            assert!(cpu.is_err());
            assert!(resample_plan(100, 50, region, out.0, out.1, Interpolation::Bicubic, false).is_err());
        }
    }
}
