//! Pixel layout: interleaved RGB (H x W x 3, what decoding and resampling produce) to planes
//! (3 x H x W, what a batch tensor holds).

use super::{ImageError, Result};

/// Splits interleaved RGB pixels into three planes. `r`, `g` and `b` must each hold one value
/// per whole pixel of `hwc` (a trailing partial pixel is an error).
pub fn deinterleave_rgb(hwc: &[u8], r: &mut [u8], g: &mut [u8], b: &mut [u8]) -> Result<()> {
    let n = hwc.len() / 3;
    if !hwc.len().is_multiple_of(3) || r.len() != n || g.len() != n || b.len() != n {
        return Err(ImageError::BufferSize { expected: 3 * r.len().min(g.len()).min(b.len()), got: hwc.len() });
    }
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("ssse3") {
        // SAFETY: the CPU supports SSSE3 (checked just above); lengths checked above.
        done = unsafe { ssse3::deinterleave(hwc, r, g, b) };
    }
    let tail = hwc.get(done * 3..).unwrap_or_default();
    for (i, px) in tail.chunks_exact(3).enumerate() {
        let k = done + i;
        if let (Some(r), Some(g), Some(b)) = (r.get_mut(k), g.get_mut(k), b.get_mut(k)) {
            (*r, *g, *b) = (px[0], px[1], px[2]);
        }
    }
    Ok(())
}

#[cfg(target_arch = "x86_64")]
mod ssse3 {
    use std::arch::x86_64::*;

    /// Byte shuffles that gather, from each of three consecutive 16-byte loads (16 pixels), the
    /// values of one channel into their place in a 16-byte plane; -1 writes a zero.
    const fn masks() -> [[[i8; 16]; 3]; 3] {
        let mut m = [[[-1i8; 16]; 3]; 3];
        let mut ch = 0;
        while ch < 3 {
            let mut i = 0;
            while i < 16 {
                let byte = 3 * i + ch; // byte of pixel i's channel in the 48-byte block
                m[ch][byte / 16][i] = (byte % 16) as i8;
                i += 1;
            }
            ch += 1;
        }
        m
    }
    const MASKS: [[[i8; 16]; 3]; 3] = masks();

    /// Deinterleaves whole blocks of 16 pixels; returns the number of pixels written.
    ///
    /// # Safety
    /// The CPU supports SSSE3; `r`, `g`, `b` hold at least `hwc.len() / 3` values each.
    #[target_feature(enable = "ssse3")]
    pub unsafe fn deinterleave(hwc: &[u8], r: &mut [u8], g: &mut [u8], b: &mut [u8]) -> usize {
        let blocks = hwc.len() / 48;
        let load = |m: &[i8; 16]| _mm_loadu_si128(m.as_ptr().cast());
        let mask = MASKS.map(|per_load| per_load.map(|m| load(&m)));
        let src = hwc.as_ptr();
        let planes = [r.as_mut_ptr(), g.as_mut_ptr(), b.as_mut_ptr()];
        for k in 0..blocks {
            let v = [0, 16, 32].map(|o| _mm_loadu_si128(src.add(48 * k + o).cast()));
            for (plane, m) in planes.iter().zip(&mask) {
                let x = _mm_or_si128(
                    _mm_or_si128(_mm_shuffle_epi8(v[0], m[0]), _mm_shuffle_epi8(v[1], m[1])),
                    _mm_shuffle_epi8(v[2], m[2]),
                );
                _mm_storeu_si128(plane.add(16 * k).cast(), x);
            }
        }
        blocks * 16
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn planes_hold_each_channel_in_pixel_order() {
        // Lengths around the 16-pixel block, so that both the vector and the scalar tail run.
        for n in [0, 1, 15, 16, 17, 33, 100, 9216] {
            let hwc: Vec<u8> = (0..3 * n).map(|i| (i * 7 % 251) as u8).collect();
            let (mut r, mut g, mut b) = (vec![0; n], vec![0; n], vec![0; n]);
            deinterleave_rgb(&hwc, &mut r, &mut g, &mut b).unwrap();
            for i in 0..n {
                assert_eq!([r[i], g[i], b[i]], [hwc[3 * i], hwc[3 * i + 1], hwc[3 * i + 2]], "pixel {i} of {n}");
            }
        }
    }

    #[test]
    fn mismatched_lengths_are_errors() {
        let hwc = [0u8; 12];
        let (mut r, mut g, mut b) = (vec![0; 4], vec![0; 4], vec![0; 3]);
        assert!(deinterleave_rgb(&hwc, &mut r, &mut g, &mut b).is_err());
        let mut b4 = vec![0; 4];
        assert!(deinterleave_rgb(&hwc[..11], &mut r, &mut g, &mut b4).is_err());
    }
}
