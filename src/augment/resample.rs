//! The crops' resampling on the device (`MultiCropLoader(..., resize_on_device=True)`): the
//! loader's threads only decode, and ship each batch's decoded images in one flat buffer with
//! every crop's resampling plan (`crate::image::resize::resample_plan`, the CPU resampler's own
//! fixed-point taps); here a whole crop group is resampled with a few batched tensor ops.
//!
//! Each crop's source window (the pixels its taps reach) is gathered from the flat image
//! buffer with one index per chunk of crops (chunked by window area, windows padded to their
//! chunk's largest). A pass tiles each crop's outputs by 32; a tile's taps read one band of
//! source pixels, so the pass is one batched product of small tap matrices (scattered on the
//! device from the plans) with the bands, `acc = taps @ band`, followed by the CPU's rounding,
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

/// What resampling a group cost: f64 multiply-adds of its matrix products (device work) and
/// the calling thread's CPU nanoseconds spent preparing the host-side indices and taps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResampleStats {
    pub macs: u64,
    pub host_ns: u64,
}

/// CPU time of the calling thread, in nanoseconds (wall time where there is no thread clock).
fn thread_cpu_ns() -> u64 {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid timespec for the call to write.
        if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0 {
            return ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
        }
    }
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    EPOCH.get_or_init(std::time::Instant::now).elapsed().as_nanos() as u64
}

/// One crop of a group: the image it is cut from and its plan.
pub struct CropPlan<'a> {
    pub image: ImageSlot,
    pub plan: &'a ResamplePlan,
}

/// Output pixels per tile of a pass: each tile's taps read one band of source pixels.
const TILE: usize = 32;

/// One pass over the crops of a chunk, tiled: the outputs of each crop in tiles of [`TILE`], each
/// tile reading a band of `band` consecutive source pixels (the chunk's widest), so that a pass
/// is one batched product of `[TILE, band]` tap matrices with `[band, F]` bands, instead of a
/// dense `[out, window]` matrix that is mostly zeros (a tap row is a few pixels wide).
///
/// The host only works per output pixel and per band pixel, never per tap: each output's `ksize`
/// taps (zero-padded to the chunk's largest, `ktaps`) go up as the plan holds them, and the
/// device places tap `j` of an output at `base + j` in the flat tap matrices.
struct TiledPass {
    out: usize,
    tiles: usize,
    band: usize,
    ktaps: usize,
    /// `[n * tiles * band]`: the source row (of the `[n * len, F]` input) of each band pixel.
    gather: Vec<i64>,
    /// `[n * out]`: where each output's first tap goes in the flat `[n, tiles, TILE, band]`.
    base: Vec<i64>,
    /// `[n * out * ktaps]`: the taps, zero past each crop's own `ksize`.
    taps: Vec<i16>,
}

impl TiledPass {
    /// The pass of each crop's taps, with source positions relative to the crop's window start
    /// (the second of each pair), along an axis of `len` pixels per crop.
    fn new(passes: &[(&Taps, usize)], len: usize) -> TiledPass {
        let out = passes.first().map_or(0, |(t, _)| t.len());
        let tiles = out.div_ceil(TILE).max(1);
        let ktaps = passes.iter().map(|(t, _)| t.ksize).max().unwrap_or(1).max(1);
        // A tile's band runs from its first output's first tap to past its last output's last
        // (padded) tap: starts are monotonic along a pass, mirrored or not.
        let mut lo = vec![0; passes.len() * tiles];
        let mut band = 1;
        for (c, &(t, origin)) in passes.iter().enumerate() {
            for (tile, starts) in t.start.chunks(TILE).enumerate() {
                let first = starts.iter().copied().min().unwrap_or(origin);
                let last = starts.iter().copied().max().unwrap_or(origin);
                lo[c * tiles + tile] = first - origin;
                band = band.max(last + ktaps - first);
            }
        }
        let last = len.saturating_sub(1);
        let mut gather = Vec::with_capacity(lo.len() * band);
        for (ct, &l) in lo.iter().enumerate() {
            let c = ct / tiles;
            gather.extend((0..band).map(|b| (c * len + (l + b).min(last)) as i64));
        }
        let mut base = Vec::with_capacity(passes.len() * out);
        let mut taps = Vec::with_capacity(passes.len() * out * ktaps);
        for (c, &(t, origin)) in passes.iter().enumerate() {
            for (o, &s) in t.start.iter().enumerate() {
                let row = c * tiles * TILE + o;
                base.push((row * band + (s - origin - lo[c * tiles + o / TILE])) as i64);
            }
            if t.ksize == ktaps {
                taps.extend_from_slice(&t.k);
            } else {
                for ks in t.k.chunks_exact(t.ksize) {
                    taps.extend_from_slice(ks);
                    taps.extend(std::iter::repeat_n(0, ktaps - t.ksize));
                }
            }
        }
        TiledPass { out, tiles, band, ktaps, gather, base, taps }
    }

    /// Multiply-adds of the pass over `n` crops of `f` values per source pixel.
    fn macs(&self, n: usize, f: usize) -> u64 {
        (n * self.tiles * TILE * self.band) as u64 * f as u64
    }

    /// The pass on `y`, bytes `[n, len, F]` (uint8): `[n, out, F]` uint8, rounded as the CPU
    /// rounds. Only the gathered bands and the products are f64 (bytes keep the copies small).
    fn apply(&self, y: &Tensor, device: Device, non_blocking: bool) -> Result<Tensor> {
        let size = y.size();
        let (n, len, f) = (size[0], size[1], size[2]);
        let (tiles, band, tile, k) = (self.tiles as i64, self.band as i64, TILE as i64, self.ktaps as i64);
        let rows = y
            .f_reshape([n * len, f])?
            .f_index_select(0, &upload_slice(&self.gather, device, non_blocking)?)?
            .f_view([n, tiles, band, f])?
            .f_to_kind(Kind::Double)?;
        // Tap j of an output goes j places past its first: all places distinct, a plain put.
        let j = Tensor::f_arange(k, (Kind::Int64, device))?;
        let at = upload_slice(&self.base, device, non_blocking)?.f_view([-1, 1])?.f_add(&j)?.f_view([-1])?;
        let taps = upload_slice(&self.taps, device, non_blocking)?.f_to_kind(Kind::Double)?;
        let mut w = Tensor::f_zeros([n * tiles * tile * band], (Kind::Double, device))?;
        let _ = w.f_index_put_(&[Some(at)], &taps, false)?;
        let acc = w.f_view([n, tiles, tile, band])?.f_matmul(&rows)?; // [n, tiles, TILE, F]
        Ok(round_pass(&acc.f_reshape([n, tiles * tile, f])?.f_narrow(1, 0, self.out as i64)?)?
            .f_to_kind(Kind::Uint8)?)
    }
}

/// `v` as a 1-d tensor on `device`.
fn upload_slice<T: tch::kind::Element>(v: &[T], device: Device, non_blocking: bool) -> Result<Tensor> {
    upload(Tensor::f_from_slice(v)?, device, non_blocking)
}

/// The CPU's rounding of a pass: `clamp(floor((acc + HALF) / 2^bits), 0, 255)`, exact in f64.
fn round_pass(acc: &Tensor) -> Result<Tensor> {
    let half = f64::from(1u32 << (PLAN_BITS - 1));
    let scale = 1.0 / f64::from(1u32 << PLAN_BITS);
    Ok(acc.f_add_scalar(half)?.f_mul_scalar(scale)?.f_floor()?.f_clamp(0.0, 255.0)?)
}

/// Resamples `crops` (all with `out_h` x `out_w` plans) from `pixels`, the batch's flat images
/// on `device` (`[pixels, 3]` uint8), to f32 `[n, 3, out_h, out_w]` holding bytes 0..=255, and
/// what it cost ([`ResampleStats`]).
pub fn resample_group(
    pixels: &Tensor,
    crops: &[CropPlan<'_>],
    out_h: usize,
    out_w: usize,
    device: Device,
    non_blocking: bool,
) -> Result<(Tensor, ResampleStats)> {
    let started = thread_cpu_ns();
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
    let mut windows = Vec::with_capacity(crops.len());
    for c in crops {
        let (h, v) = (&c.plan.horizontal, &c.plan.vertical);
        let ((x0, x1), (y0, y1)) = (h.reach(), v.reach());
        // Every output's taps start inside the image (taps past it are zero padding, and the
        // windows clamp their reads to the image).
        let (x, y) = (x1 - h.ksize, y1 - v.ksize);
        let im = c.image;
        if x >= im.width || y >= im.height || im.offset + im.width * im.height > total {
            return Err(AugmentError::Input(format!(
                "a crop plan starts taps at column {x} and row {y} of a {}x{} image at pixel {} of {total}",
                im.width, im.height, im.offset
            )));
        }
        windows.push(Window { x0, y0, rows: (y1 - y0).max(1), cols: (x1 - x0).max(1) });
    }
    let mut stats = ResampleStats::default();
    // The group's own host work (checks, windows) besides the chunks'.
    stats.host_ns += thread_cpu_ns().saturating_sub(started);
    // Every crop lands in exactly one chunk, so every row of `out` is written.
    let n = crops.len() as i64;
    let mut out = Tensor::f_empty([n, 3, out_h as i64, out_w as i64], (Kind::Float, device))?;
    // The crops of each pass order, by window area, in up to BUCKETS chunks of similar windows
    // (each padded to its own largest, not the group's), each within the memory bound.
    for horizontal_first in [true, false] {
        let mut chosen: Vec<usize> =
            (0..crops.len()).filter(|&i| crops[i].plan.horizontal_first == horizontal_first).collect();
        chosen.sort_by_key(|&i| windows[i].rows * windows[i].cols);
        let mut rest = chosen.as_slice();
        let bucket = chosen.len().div_ceil(BUCKETS).max(1);
        while !rest.is_empty() {
            let take = rest.len().min(bucket);
            let (hw, ww) =
                rest[..take].iter().fold((1, 1), |(h, w), &i| (h.max(windows[i].rows), w.max(windows[i].cols)));
            let take = take.min((CHUNK_BYTES / (hw * ww * 3 * 8)).max(1));
            let (part, tail) = rest.split_at(take);
            rest = tail;
            let chunk = Chunk { part, windows: &windows, hw, ww, horizontal_first };
            let (got, m) = resample_chunk(pixels, crops, &chunk, (out_h, out_w), device, non_blocking)?;
            stats.macs += m.macs;
            stats.host_ns += m.host_ns;
            let index = upload_slice(&part.iter().map(|&i| i as i64).collect::<Vec<_>>(), device, non_blocking)?;
            let _ = out.f_index_copy_(0, &index, &got)?;
        }
    }
    Ok((out, stats))
}

/// A crop's source window: its first column and row, and its size, from its taps' reach.
struct Window {
    x0: usize,
    y0: usize,
    rows: usize,
    cols: usize,
}

/// Crops `part` (indices into the group), all with the same pass order, resampled together
/// through windows padded to `hw` x `ww`.
struct Chunk<'a> {
    part: &'a [usize],
    windows: &'a [Window],
    hw: usize,
    ww: usize,
    horizontal_first: bool,
}

/// The crops of `chunk` as f32 `[n, 3, out_h, out_w]`, and what they cost.
fn resample_chunk(
    pixels: &Tensor,
    crops: &[CropPlan<'_>],
    chunk: &Chunk<'_>,
    (out_h, out_w): (usize, usize),
    device: Device,
    non_blocking: bool,
) -> Result<(Tensor, ResampleStats)> {
    let started = thread_cpu_ns();
    let Chunk { part, windows, hw, ww, horizontal_first } = *chunk;
    let n = part.len();
    let (mut rows, mut cols) = (Vec::with_capacity(n * hw), Vec::with_capacity(n * ww));
    let (mut hpasses, mut vpasses) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for &i in part {
        let CropPlan { image: im, plan } = &crops[i];
        let Window { x0, y0, .. } = windows[i];
        // Window pixels past the image read its last row / column, with weight zero.
        rows.extend((0..hw).map(|r| (im.offset + (y0 + r).min(im.height - 1) * im.width) as i64));
        cols.extend((0..ww).map(|x| (x0 + x).min(im.width - 1) as i64));
        hpasses.push((&plan.horizontal, x0));
        vpasses.push((&plan.vertical, y0));
    }
    let (h, v) = (TiledPass::new(&hpasses, ww), TiledPass::new(&vpasses, hw));
    let host_ns = thread_cpu_ns().saturating_sub(started);
    let (n, hw, ww, out_h, out_w) = (n as i64, hw as i64, ww as i64, out_h as i64, out_w as i64);
    let rows = upload_slice(&rows, device, non_blocking)?.f_view([n, hw, 1])?;
    let index = rows.f_add(&upload_slice(&cols, device, non_blocking)?.f_view([n, 1, ww])?)?.f_view([-1])?;
    let window = pixels.f_index_select(0, &index)?.f_view([n, hw, ww, 3])?; // uint8
    let (nu, f) = (n as usize, |a: i64| (a * 3) as usize);
    let (out, macs) = if horizontal_first {
        // Columns: [n, ww, hw * 3] -> [n, out_w, hw * 3]; rows: [n, hw, out_w * 3] -> [n, out_h, out_w * 3].
        let mid = h.apply(&window.f_permute([0, 2, 1, 3])?.f_reshape([n, ww, hw * 3])?, device, non_blocking)?;
        let mid = mid.f_view([n, out_w, hw, 3])?.f_permute([0, 2, 1, 3])?.f_reshape([n, hw, out_w * 3])?;
        let out = v.apply(&mid, device, non_blocking)?.f_view([n, out_h, out_w, 3])?;
        (out, h.macs(nu, f(hw)) + v.macs(nu, f(out_w)))
    } else {
        // Rows: [n, hw, ww * 3] -> [n, out_h, ww * 3]; columns: [n, ww, out_h * 3] -> [n, out_w, out_h * 3].
        let mid = v.apply(&window.f_reshape([n, hw, ww * 3])?, device, non_blocking)?;
        let mid = mid.f_view([n, out_h, ww, 3])?.f_permute([0, 2, 1, 3])?.f_reshape([n, ww, out_h * 3])?;
        let out = h.apply(&mid, device, non_blocking)?.f_view([n, out_w, out_h, 3])?.f_permute([0, 2, 1, 3])?;
        (out, v.macs(nu, f(ww)) + h.macs(nu, f(out_h)))
    };
    Ok((out.f_permute([0, 3, 1, 2])?.f_to_kind(Kind::Float)?, ResampleStats { macs, host_ns }))
}
