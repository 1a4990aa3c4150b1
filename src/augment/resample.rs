//! The crops' resampling on the device (`MultiCropLoader(..., resize_on_device=True)`): the
//! loader's threads only decode, and ship each batch's decoded images in one flat buffer with
//! every crop's resampling plan (`crate::image::resize::resample_plan`, the CPU resampler's own
//! fixed-point taps); here a whole crop group is resampled with a few batched tensor ops.
//!
//! Per crop, each pass becomes a dense matrix over the crop's source window (the pixels its
//! non-zero taps read), built on the device by scattering the taps; crops are chunked by window
//! area, windows padded to their chunk's largest and gathered from the flat image buffer with one
//! index per chunk. A pass is then one
//! batched matrix product per channel, `acc = window @ taps^T`, followed by the CPU's rounding,
//! `clamp(floor((acc + HALF) / 2^bits), 0, 255)`. The products run in f64 on integers: every
//! partial sum is an integer far below 2^53 (a byte times a 16-bit tap, summed over a window), so
//! any summation order gives the exact integer the CPU computes, and the crops equal the CPU
//! path's bit for bit, on any device. Padding reads clamped pixels with weight zero.

use tch::{Device, Kind, Tensor};

use super::{upload, AugmentError, Result};
use crate::image::resize::{ResamplePlan, Taps, PLAN_BITS};
use crate::pipeline::loader::ImageSlot;

/// Bytes of f64 window a chunk of crops may take on the device at once (the chunks of a group
/// run one after another).
const CHUNK_BYTES: usize = 1 << 30;

/// Chunks per pass order and group, of crops with similar window areas: padding every window to
/// the group's largest would multiply the work of small crops (t-ReX's local crops span a 3x
/// range of sides), one chunk per crop would launch kernels per crop.
const BUCKETS: usize = 4;

/// One crop of a group: the image it is cut from and its plan.
pub struct CropPlan<'a> {
    pub image: ImageSlot,
    pub plan: &'a ResamplePlan,
}

/// A pass's taps as positions relative to the window start (clamped into `0..window`) and
/// weights, padded to `ksize` taps per output pixel, appended to `pos` / `weight`.
fn push_taps(t: &Taps, lo: usize, window: usize, ksize: usize, pos: &mut Vec<i64>, weight: &mut Vec<f64>) {
    let last = window.saturating_sub(1) as i64;
    for (i, &s) in t.start.iter().enumerate() {
        for j in 0..ksize {
            let k = if j < t.ksize { t.k[i * t.ksize + j] } else { 0 };
            pos.push((s as i64 + j as i64 - lo as i64).clamp(0, last));
            weight.push(f64::from(k));
        }
    }
}

/// The CPU's rounding of a pass: `clamp(floor((acc + HALF) / 2^bits), 0, 255)`, exact in f64.
fn round_pass(acc: &Tensor) -> Result<Tensor> {
    let half = f64::from(1u32 << (PLAN_BITS - 1));
    let scale = 1.0 / f64::from(1u32 << PLAN_BITS);
    Ok(acc.f_add_scalar(half)?.f_mul_scalar(scale)?.f_floor()?.f_clamp(0.0, 255.0)?)
}

/// Resamples `crops` (all with `out_h` x `out_w` plans) from `pixels`, the batch's flat images
/// on `device` (`[pixels, 3]` uint8), to f32 `[n, 3, out_h, out_w]` holding bytes 0..=255.
pub fn resample_group(
    pixels: &Tensor,
    crops: &[CropPlan<'_>],
    out_h: usize,
    out_w: usize,
    device: Device,
    non_blocking: bool,
) -> Result<Tensor> {
    for c in crops {
        if c.plan.horizontal.len() != out_w || c.plan.vertical.len() != out_h {
            return Err(AugmentError::Input(format!(
                "a crop plan of {}x{} in a group of {out_w}x{out_h}",
                c.plan.horizontal.len(),
                c.plan.vertical.len()
            )));
        }
    }
    let total = pixels.size().first().copied().unwrap_or(0) as usize;
    for c in crops {
        let (x, y) = (c.plan.horizontal.span(), c.plan.vertical.span());
        let im = c.image;
        if x.1 > im.width || y.1 > im.height || im.offset + im.width * im.height > total {
            return Err(AugmentError::Input(format!(
                "a crop plan reads columns {}..{} and rows {}..{} of a {}x{} image at pixel {} of {total}",
                x.0, x.1, y.0, y.1, im.width, im.height, im.offset
            )));
        }
    }
    let n = crops.len() as i64;
    let mut out = Tensor::f_zeros([n, 3, out_h as i64, out_w as i64], (Kind::Float, device))?;
    // Window sizes: (rows, columns) each crop's passes read.
    let windows: Vec<(usize, usize)> = crops
        .iter()
        .map(|c| {
            let ((x0, x1), (y0, y1)) = (c.plan.horizontal.span(), c.plan.vertical.span());
            ((y1 - y0).max(1), (x1 - x0).max(1))
        })
        .collect();
    // The crops of each pass order, by window area, in up to BUCKETS chunks of similar windows
    // (each padded to its own largest, not the group's), each within the memory bound.
    for horizontal_first in [true, false] {
        let mut chosen: Vec<usize> =
            (0..crops.len()).filter(|&i| crops[i].plan.horizontal_first == horizontal_first).collect();
        chosen.sort_by_key(|&i| windows[i].0 * windows[i].1);
        let mut rest = chosen.as_slice();
        let bucket = chosen.len().div_ceil(BUCKETS).max(1);
        while !rest.is_empty() {
            let take = rest.len().min(bucket);
            let (hw, ww) = rest[..take].iter().fold((1, 1), |(h, w), &i| (h.max(windows[i].0), w.max(windows[i].1)));
            let take = take.min((CHUNK_BYTES / (hw * ww * 3 * 8)).max(1));
            let (part, tail) = rest.split_at(take);
            rest = tail;
            let got =
                resample_chunk(pixels, crops, part, (hw, ww), (out_h, out_w), horizontal_first, device, non_blocking)?;
            let index = Tensor::f_from_slice(&part.iter().map(|&i| i as i64).collect::<Vec<_>>())?;
            let index = upload(index, device, non_blocking)?;
            let _ = out.f_index_copy_(0, &index, &got)?;
        }
    }
    Ok(out)
}

/// The crops `part` of `crops`, all with the same pass order, through windows of `hw` x `ww`.
#[allow(clippy::too_many_arguments)]
fn resample_chunk(
    pixels: &Tensor,
    crops: &[CropPlan<'_>],
    part: &[usize],
    (hw, ww): (usize, usize),
    (out_h, out_w): (usize, usize),
    horizontal_first: bool,
    device: Device,
    non_blocking: bool,
) -> Result<Tensor> {
    let n = part.len();
    let kh = part.iter().map(|&i| crops[i].plan.horizontal.ksize).max().unwrap_or(1);
    let kv = part.iter().map(|&i| crops[i].plan.vertical.ksize).max().unwrap_or(1);
    let (mut rows, mut cols) = (Vec::with_capacity(n * hw), Vec::with_capacity(n * ww));
    let (mut hpos, mut hweight) = (Vec::with_capacity(n * out_w * kh), Vec::with_capacity(n * out_w * kh));
    let (mut vpos, mut vweight) = (Vec::with_capacity(n * out_h * kv), Vec::with_capacity(n * out_h * kv));
    for &i in part {
        let CropPlan { image: im, plan } = &crops[i];
        let (x0, _) = plan.horizontal.span();
        let (y0, _) = plan.vertical.span();
        // Window pixels past the image read its last row / column, with weight zero.
        rows.extend((0..hw).map(|r| (im.offset + (y0 + r).min(im.height - 1) * im.width) as i64));
        cols.extend((0..ww).map(|x| (x0 + x).min(im.width - 1) as i64));
        push_taps(&plan.horizontal, x0, ww, kh, &mut hpos, &mut hweight);
        push_taps(&plan.vertical, y0, hw, kv, &mut vpos, &mut vweight);
    }
    let (n, hw, ww, out_h, out_w) = (n as i64, hw as i64, ww as i64, out_h as i64, out_w as i64);
    let up = |v: &[i64], shape: &[i64]| -> Result<Tensor> {
        upload(Tensor::f_from_slice(v)?.f_view(shape)?, device, non_blocking)
    };
    let upf = |v: &[f64], shape: &[i64]| -> Result<Tensor> {
        upload(Tensor::f_from_slice(v)?.f_view(shape)?, device, non_blocking)
    };
    // Dense taps: [n, out_w, ww] and [n, out_h, hw] (scatter_add: padding taps add 0.0).
    let dense = |pos: Tensor, weight: Tensor, len: i64, window: i64| -> Result<Tensor> {
        let zeros = Tensor::f_zeros([n, len, window], (Kind::Double, device))?;
        Ok(zeros.f_scatter_add(2, &pos, &weight)?)
    };
    let a = dense(up(&hpos, &[n, out_w, kh as i64])?, upf(&hweight, &[n, out_w, kh as i64])?, out_w, ww)?;
    let b = dense(up(&vpos, &[n, out_h, kv as i64])?, upf(&vweight, &[n, out_h, kv as i64])?, out_h, hw)?;
    let index = up(&rows, &[n, hw, 1])?.f_add(&up(&cols, &[n, 1, ww])?)?.f_view([-1])?;
    let window =
        pixels.f_index_select(0, &index)?.f_view([n, hw, ww, 3])?.f_permute([0, 3, 1, 2])?.f_to_kind(Kind::Double)?;
    // [n, 1, ww, out_w] and [n, 1, out_h, hw], broadcast over the channels.
    let at = a.f_transpose(1, 2)?.f_unsqueeze(1)?;
    let b = b.f_unsqueeze(1)?;
    let out = if horizontal_first {
        let mid = round_pass(&window.f_matmul(&at)?)?;
        round_pass(&b.f_matmul(&mid)?)?
    } else {
        let mid = round_pass(&b.f_matmul(&window)?)?;
        round_pass(&mid.f_matmul(&at)?)?
    };
    Ok(out.f_to_kind(Kind::Float)?)
}
