//! The colour stage of the multi-crop pipeline as batched tch operations, so that it can run on
//! the training device: `trex.MultiCropLoader(..., device=...)`.
//!
//! The loader's worker threads cut every crop (resampled crop box, flip) on the CPU and leave the
//! colour stage to this module (`LoaderConfig::defer_colour`); each batch carries every crop's
//! drawn parameters (the `return_params` rows, the same keyed draws as on the CPU path). Here one
//! output tensor of uint8 crops, `[n, 3, h, w]`, goes to the device and gets the whole colour
//! stage in one pass over the group: for each of the four jitter positions and each op, the crops
//! that have that op at that position (host-side index lists) are gathered, transformed with their
//! own factors (a per-crop tensor broadcast over the pixels) and scattered back; then grayscale,
//! blur and solarize on the crops that drew them, then the normalisation table. No kernel runs
//! per crop: every op is a handful of kernels over all the crops that need it. With
//! `resize_on_device` (`LoaderConfig::defer_resize`) the workers only decode, and the crops
//! themselves are cut here first from the batch's decoded images (`resample.rs`).
//!
//! The arithmetic is the CPU path's (`src/image/color.rs`, `src/image/blur.rs`), op for op, in
//! f32 tensors holding integer values 0..=255 between the ops:
//! - brightness, contrast, saturation: Pillow's blend `in1 + alpha * (in2 - in1)` in f32 (one
//!   rounding per tensor op, as in C; no fused multiply-add: `mul` and `add` are separate kernels),
//!   truncated and clipped; the contrast mean `int(mean(L) + 0.5)` in exact integer arithmetic;
//! - luma (Pillow's fixed point) in f32, exact (every partial sum is an integer below 2^24);
//! - hue: Pillow's uint8 HSV round trip through two tables built from the transcriptions of
//!   Pillow's C code in `color.rs` (RGB -> (H, S) and (H, S, V) -> RGB, 2^24 entries each, 80 MB
//!   on the device, built once per process and device, shared by all loaders), with the hue byte
//!   shifted per crop;
//! - blur: the CPU's separable f32 kernel (`gaussian_kernel`, kernel size per crop as
//!   `crop_blur_kernel_size`), reflect padding, taps summed in the CPU's order (`c0 * centre`, then
//!   `+ w_j * (left_j + right_j)` for j = 1..r), zero weights past a crop's own radius (adding
//!   `0 * x` changes no float), rounded half to even;
//! - normalisation: the CPU's own table `(v / 255 - mean) / std` (`normalize_lut`), gathered.
//!
//! So on a CPU device the output equals the CPU path's bit for bit (the tests measure it), and
//! on CUDA it does too as long as the kernels round as IEEE f32 does (elementwise kernels, no
//! division by a CPU scalar: those become a reciprocal multiplication on CUDA; none is used).
//!
//! Host-to-device: the per-group parameters are packed into one f64 buffer, pinned (on CUDA) and
//! copied without blocking; the crops come from the loader's pinned batch (torch's caching host
//! allocator: blocks are reused, and not before the copy that reads them has completed). Every
//! kernel is queued on the calling thread's current stream: the Python wrapper calls in under a
//! side stream (`torch.cuda.stream`) and makes the training stream wait for it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use tch::{Device, Kind, TchError, Tensor};

use crate::image::blur::gaussian_kernel;
use crate::image::color::{hue_shift, pillow_hsv_to_rgb, pillow_rgb_to_hsv};
use crate::pipeline::augment::{crop_blur_kernel_size, normalize_lut};
use crate::pipeline::recipe::PARAM_FIELDS;

mod resample;
#[cfg(test)]
mod tests;

pub use resample::{CropPlan, ResampleStats};

/// Columns of a parameter row (`CropParams::to_row`).
mod col {
    pub const JITTER: usize = 5;
    pub const BRIGHTNESS: usize = 6;
    pub const CONTRAST: usize = 7;
    pub const SATURATION: usize = 8;
    pub const HUE: usize = 9;
    pub const ORDER: usize = 10;
    pub const GRAYSCALE: usize = 14;
    pub const BLUR_SIGMA: usize = 15;
    pub const SOLARIZE: usize = 16;
}

#[derive(Debug, thiserror::Error)]
pub enum AugmentError {
    #[error("{0}")]
    Tch(#[from] TchError),
    #[error("{0}")]
    Input(String),
}

pub type Result<T> = std::result::Result<T, AugmentError>;

/// Parses a device string: `cpu`, `cuda` (device 0) or `cuda:N`, checking that a CUDA device
/// exists. Nothing else (no `mps`, no `meta`).
pub fn parse_device(name: &str) -> Result<Device> {
    let cuda_index = match name {
        "cpu" => return Ok(Device::Cpu),
        "cuda" => 0,
        _ => match name.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(i)) => i,
            _ => return Err(AugmentError::Input(format!("device must be 'cpu', 'cuda' or 'cuda:N', got {name:?}"))),
        },
    };
    let count = tch::Cuda::device_count();
    if !tch::Cuda::is_available() || count <= 0 {
        return Err(AugmentError::Input(format!("device {name:?}: CUDA is not available (torch sees no GPU)")));
    }
    if cuda_index as i64 >= count {
        return Err(AugmentError::Input(format!("device {name:?}: only {count} CUDA device(s)")));
    }
    Ok(Device::Cuda(cuda_index))
}

/// The host-side hue tables, built once per process: `[2^24 * 2]` (H, S) of each RGB colour and
/// `[2^24 * 3]` RGB of each (H, S, V).
fn host_hue_tables() -> &'static (Vec<u8>, Vec<u8>) {
    static TABLES: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    TABLES.get_or_init(|| {
        let n = 1usize << 24;
        let mut hs = vec![0u8; 2 * n];
        let mut rgb = vec![0u8; 3 * n];
        // Eight threads of their own (a one-off of about a CPU-second in total).
        let chunk = n / 8;
        std::thread::scope(|s| {
            for (k, (hs, rgb)) in hs.chunks_mut(2 * chunk).zip(rgb.chunks_mut(3 * chunk)).enumerate() {
                s.spawn(move || {
                    for (j, (o, p)) in hs.chunks_exact_mut(2).zip(rgb.chunks_exact_mut(3)).enumerate() {
                        let c = k * chunk + j;
                        let (a, b, d) = ((c >> 16) as u8, (c >> 8) as u8, c as u8);
                        let [h, sat, _] = pillow_rgb_to_hsv(a, b, d);
                        o.copy_from_slice(&[h, sat]);
                        p.copy_from_slice(&pillow_hsv_to_rgb(a, b, d));
                    }
                });
            }
        });
        (hs, rgb)
    })
}

/// The hue tables on `device`: uploaded once per device and process (80 MB each), shared by every
/// loader's stage there (shallow copies of the same tensors).
fn device_hue_tables(device: Device) -> Result<(Tensor, Tensor)> {
    static ON_DEVICE: Mutex<Vec<(Device, Tensor, Tensor)>> = Mutex::new(Vec::new());
    let mut cache = ON_DEVICE.lock().map_err(|_| AugmentError::Input("hue table cache lock poisoned".into()))?;
    if let Some((_, hs, rgb)) = cache.iter().find(|(d, _, _)| *d == device) {
        return Ok((hs.shallow_clone(), rgb.shallow_clone()));
    }
    let (hs, rgb) = host_hue_tables();
    // Views of the process-wide host tables (used as they are on a CPU device, copied once to
    // another): they live as long as the process and nothing writes to them.
    let view = |t: &'static [u8], width: i64| -> Result<Tensor> {
        // SAFETY: `t` is 'static and holds 2^24 * width bytes; the tensor is only read
        // (index_select), never written, and may be dropped at any time.
        Ok(unsafe {
            Tensor::f_from_blob(t.as_ptr().cast_mut(), &[1 << 24, width], &[width, 1], Kind::Uint8, Device::Cpu)
        }?)
    };
    let (hs, rgb) = (upload(view(hs, 2)?, device, false)?, upload(view(rgb, 3)?, device, false)?);
    cache.push((device, hs.shallow_clone(), rgb.shallow_clone()));
    Ok((hs, rgb))
}

/// The device tensors, built on first use.
struct Tables {
    /// `[3 * 256]` f32: the normalised value of each channel value.
    norm: Tensor,
    /// `[3]` i64: 0, 256, 512, each channel's offset into `norm`.
    offsets: Tensor,
    /// `[2^24, 2]` u8 and `[2^24, 3]` u8 (see [`host_hue_tables`]), once a crop needs the hue op.
    hue: Option<(Tensor, Tensor)>,
}

/// The colour stage on one device, for a loader's mean and std.
pub struct DeviceColour {
    device: Device,
    channels_last: bool,
    tables: Mutex<Tables>,
    /// f64 multiply-adds of the resampling's matrix products so far, and nanoseconds the
    /// calling threads spent preparing them on the host.
    resample_macs: AtomicU64,
    resample_host_ns: AtomicU64,
}

/// One op over a subset of a group's crops, with its per-crop values at `values` in the packed
/// parameter buffer.
enum Step {
    Brightness,
    Contrast,
    Saturation,
    Hue,
    Grayscale,
    /// `radius`: the largest kernel radius of the subset; values: `radius + 1` taps per crop.
    Blur {
        radius: usize,
    },
    Solarize,
}

struct Segment {
    step: Step,
    /// Offset and length of the crop indices in the packed buffer.
    index: (usize, usize),
    /// Offset and length of the per-crop values.
    values: (usize, usize),
}

/// Every subset and value of one group, packed into one f64 buffer (one upload per group).
struct Plan {
    packed: Vec<f64>,
    segments: Vec<Segment>,
}

fn flag(v: f64) -> bool {
    v != 0.0
}

impl Plan {
    fn push(&mut self, step: Step, crops: &[usize], values: &[f64]) {
        if crops.is_empty() {
            return;
        }
        let index = (self.packed.len(), crops.len());
        self.packed.extend(crops.iter().map(|&i| i as f64));
        let values_at = (self.packed.len(), values.len());
        self.packed.extend_from_slice(values);
        self.segments.push(Segment { step, index, values: values_at });
    }

    /// The steps for `n` crops of `h` x `w` with parameter rows `rows` and solarize thresholds
    /// `thresholds`, in the CPU path's order (`render_colour`).
    fn new(rows: &[f64], thresholds: &[u8], h: usize, w: usize) -> Plan {
        let mut plan = Plan { packed: Vec::new(), segments: Vec::new() };
        let rows: Vec<&[f64]> = rows.chunks_exact(PARAM_FIELDS).collect();
        for pos in 0..4 {
            for op in 0..4u8 {
                let (mut crops, mut values) = (Vec::new(), Vec::new());
                for (i, r) in rows.iter().enumerate() {
                    if flag(r[col::JITTER]) && r[col::ORDER + pos] == f64::from(op) {
                        crops.push(i);
                        values.push(match op {
                            // Pillow's blend takes the factor as a C float (`pillow_alpha`).
                            0 => f64::from(r[col::BRIGHTNESS] as f32),
                            1 => f64::from(r[col::CONTRAST] as f32),
                            2 => f64::from(r[col::SATURATION] as f32),
                            _ => f64::from(hue_shift(r[col::HUE])),
                        });
                    }
                }
                let step = match op {
                    0 => Step::Brightness,
                    1 => Step::Contrast,
                    2 => Step::Saturation,
                    _ => Step::Hue,
                };
                plan.push(step, &crops, &values);
            }
        }
        let gray: Vec<usize> = (0..rows.len()).filter(|&i| flag(rows[i][col::GRAYSCALE])).collect();
        plan.push(Step::Grayscale, &gray, &[]);

        // Blur: the CPU skips a kernel of one tap and one whose centre tap is 1.0 in f32.
        let mut blurred: Vec<(usize, Vec<f32>)> = Vec::new();
        for (i, r) in rows.iter().enumerate() {
            let sigma = r[col::BLUR_SIGMA];
            if sigma > 0.0 {
                let ks = crop_blur_kernel_size(sigma, w, h);
                if ks > 1 {
                    let kernel = gaussian_kernel(ks, sigma);
                    if kernel.get(ks / 2) != Some(&1.0) {
                        blurred.push((i, kernel[ks / 2..].to_vec()));
                    }
                }
            }
        }
        let radius = blurred.iter().map(|(_, taps)| taps.len() - 1).max().unwrap_or(0);
        let crops: Vec<usize> = blurred.iter().map(|(i, _)| *i).collect();
        let mut taps = Vec::with_capacity(blurred.len() * (radius + 1));
        for (_, t) in &blurred {
            taps.extend(t.iter().map(|&v| f64::from(v)));
            taps.extend(std::iter::repeat_n(0.0, radius + 1 - t.len()));
        }
        plan.push(Step::Blur { radius }, &crops, &taps);

        let (mut crops, mut values) = (Vec::new(), Vec::new());
        for (i, r) in rows.iter().enumerate() {
            if flag(r[col::SOLARIZE]) {
                crops.push(i);
                values.push(f64::from(thresholds.get(i).copied().unwrap_or(128)));
            }
        }
        plan.push(Step::Solarize, &crops, &values);
        plan
    }
}

/// `t` (on the CPU) on `device`; with `non_blocking`, staged in pinned memory (torch's caching
/// host allocator) so that the copy does not block.
pub(crate) fn upload(t: Tensor, device: Device, non_blocking: bool) -> Result<Tensor> {
    match device {
        Device::Cpu => Ok(t),
        d => {
            let t = if non_blocking { t.f_internal_pin_memory(d)? } else { t };
            Ok(t.f_to_device_(d, t.kind(), non_blocking, false)?)
        }
    }
}

/// `n` crops need `n` parameter rows and `n` solarize thresholds.
fn check_rows(n: usize, rows: &[f64], thresholds: &[u8]) -> Result<()> {
    if rows.len() != n * PARAM_FIELDS || thresholds.len() != n {
        return Err(AugmentError::Input(format!(
            "{n} crops need {n} parameter rows and thresholds, got {} values and {} thresholds",
            rows.len(),
            thresholds.len()
        )));
    }
    Ok(())
}

/// Pillow's `L` of a `[m, 3, h, w]` f32 tensor of integers, as `[m, 1, h, w]` (exact in f32).
fn luma(x: &Tensor) -> Result<Tensor> {
    let c = |i: i64, k: f64| -> Result<Tensor> { Ok(x.f_narrow(1, i, 1)?.f_mul_scalar(k)?) };
    let sum = c(0, 19595.0)?.f_add(&c(1, 38470.0)?)?.f_add(&c(2, 7471.0)?)?.f_add_scalar(32768.0)?;
    Ok(sum.f_mul_scalar(1.0 / 65536.0)?.f_floor()?)
}

/// Pillow's blend `in1 + alpha * (in2 - in1)`: three f32 ops, truncated, clipped to 0..=255.
fn blend(in1: &Tensor, in2: &Tensor, alpha: &Tensor) -> Result<Tensor> {
    let d = in2.f_sub(in1)?;
    Ok(in1.f_add(&d.f_mul(alpha)?)?.f_trunc()?.f_clamp(0.0, 255.0)?)
}

impl DeviceColour {
    /// The stage on `device` for normalisation `mean` / `std` (uploads the normalisation table).
    pub fn new(device: Device, mean: [f32; 3], std: [f32; 3], channels_last: bool) -> Result<DeviceColour> {
        let lut = normalize_lut(mean, std);
        let flat: Vec<f32> = lut.iter().flatten().copied().collect();
        let norm = Tensor::f_from_slice(&flat)?.f_to_device_(device, Kind::Float, false, false)?;
        let offsets = Tensor::f_from_slice(&[0i64, 256, 512])?.f_to_device_(device, Kind::Int64, false, false)?;
        let tables = Mutex::new(Tables { norm, offsets, hue: None });
        let (resample_macs, resample_host_ns) = (AtomicU64::new(0), AtomicU64::new(0));
        Ok(DeviceColour { device, channels_last, tables, resample_macs, resample_host_ns })
    }

    pub fn device(&self) -> Device {
        self.device
    }

    /// What resampling crops on the device (`resize_on_device`) has cost so far: the f64
    /// multiply-adds of its matrix products (its device work) and the nanoseconds the calling
    /// threads spent preparing them on the host.
    pub fn resample_stats(&self) -> ResampleStats {
        let macs = self.resample_macs.load(Ordering::Relaxed);
        ResampleStats { macs, host_ns: self.resample_host_ns.load(Ordering::Relaxed) }
    }

    fn upload(&self, t: Tensor, non_blocking: bool) -> Result<Tensor> {
        upload(t, self.device, non_blocking)
    }

    /// The colour stage of one output group: `crops` uint8 `[n, 3, h, w]` (CPU, pinned on CUDA
    /// when `non_blocking`), `rows` the n parameter rows (`CropParams::to_row`, crop order of the
    /// tensor), `thresholds` each crop's solarize threshold. Returns normalised f32 `[n, 3, h, w]`
    /// on the device (channels_last strides when asked). Never keeps a view of `crops`.
    pub fn apply(&self, crops: &Tensor, rows: &[f64], thresholds: &[u8], non_blocking: bool) -> Result<Tensor> {
        let size = crops.size();
        let n = match size[..] {
            [n, 3, _, _] if crops.kind() == Kind::Uint8 => n,
            _ => {
                return Err(AugmentError::Input(format!(
                    "crops must be uint8 [n, 3, h, w], got {:?} {size:?}",
                    crops.kind()
                )))
            }
        };
        check_rows(n as usize, rows, thresholds)?;
        // A new f32 tensor on the device: nothing below aliases `crops`.
        let x = crops.f_to_device_(self.device, Kind::Uint8, non_blocking, false)?.f_to_kind(Kind::Float)?;
        self.colour(x, rows, thresholds, non_blocking)
    }

    /// The resampling and the colour stage of one output group: `pixels` the batch's decoded
    /// images (`[pixels, 3]` uint8, on the device), `crops` each crop's image and plan (all of
    /// `out_h` x `out_w`), `rows` and `thresholds` as for [`DeviceColour::apply`].
    pub fn apply_resampled(
        &self,
        pixels: &Tensor,
        crops: &[CropPlan<'_>],
        (out_h, out_w): (usize, usize),
        rows: &[f64],
        thresholds: &[u8],
        non_blocking: bool,
    ) -> Result<Tensor> {
        check_rows(crops.len(), rows, thresholds)?;
        let (x, stats) = resample::resample_group(pixels, crops, out_h, out_w, self.device, non_blocking)?;
        self.resample_macs.fetch_add(stats.macs, Ordering::Relaxed);
        self.resample_host_ns.fetch_add(stats.host_ns, Ordering::Relaxed);
        self.colour(x, rows, thresholds, non_blocking)
    }

    /// The colour stage on `x`, f32 `[n, 3, h, w]` bytes on the device (consumed in place).
    fn colour(&self, mut x: Tensor, rows: &[f64], thresholds: &[u8], non_blocking: bool) -> Result<Tensor> {
        let size = x.size();
        let (h, w) = (size[2], size[3]);
        let plan = Plan::new(rows, thresholds, h as usize, w as usize);
        let mut tables = self.tables.lock().map_err(|_| AugmentError::Input("colour tables lock poisoned".into()))?;
        if tables.hue.is_none() && plan.segments.iter().any(|s| matches!(s.step, Step::Hue)) {
            tables.hue = Some(device_hue_tables(self.device)?);
        }
        let packed = if plan.packed.is_empty() {
            None
        } else {
            Some(self.upload(Tensor::f_from_slice(&plan.packed)?, non_blocking)?)
        };
        if let Some(packed) = &packed {
            for seg in &plan.segments {
                let index = packed.f_narrow(0, seg.index.0 as i64, seg.index.1 as i64)?.f_to_kind(Kind::Int64)?;
                let values = packed.f_narrow(0, seg.values.0 as i64, seg.values.1 as i64)?;
                let m = seg.index.1 as i64;
                let sub = x.f_index_select(0, &index)?;
                let out = self.step(&seg.step, &sub, &values, m, &tables)?;
                let _ = x.f_index_copy_(0, &index, &out)?;
            }
        }
        // Normalise: the CPU's table, indexed by value + 256 * channel.
        let offsets = &tables.offsets;
        let values = x.f_to_kind(Kind::Int64)?;
        if self.channels_last {
            let idx = values.f_permute([0, 2, 3, 1])?.f_add(offsets)?;
            Ok(tables.norm.f_take(&idx)?.f_permute([0, 3, 1, 2])?)
        } else {
            let idx = values.f_add(&offsets.f_view([1, 3, 1, 1])?)?;
            Ok(tables.norm.f_take(&idx)?)
        }
    }

    /// One step on the `m` crops `sub` ([m, 3, h, w] f32 integers) with their `values`.
    fn step(&self, step: &Step, sub: &Tensor, values: &Tensor, m: i64, tables: &Tables) -> Result<Tensor> {
        let per_crop = || -> Result<Tensor> { Ok(values.f_to_kind(Kind::Float)?.f_view([m, 1, 1, 1])?) };
        match step {
            Step::Brightness => Ok(blend(&sub.f_zeros_like()?, sub, &per_crop()?)?),
            Step::Contrast => {
                // int(sum / count + 0.5) = floor((2 sum + count) / (2 count)), in integers.
                let size = sub.size();
                let count = size[2] * size[3];
                let sum = luma(sub)?.f_sum_dim_intlist([1i64, 2, 3].as_slice(), true, Kind::Int64)?;
                let mean = sum
                    .f_mul_scalar(2)?
                    .f_add_scalar(count)?
                    .f_floor_divide_scalar(2 * count)?
                    .f_to_kind(Kind::Float)?;
                blend(&mean, sub, &per_crop()?)
            }
            Step::Saturation => blend(&luma(sub)?, sub, &per_crop()?),
            Step::Grayscale => Ok(luma(sub)?.f_repeat([1, 3, 1, 1])?),
            Step::Solarize => {
                let thr = per_crop()?;
                let inv = sub.f_neg()?.f_add_scalar(255.0)?;
                Ok(inv.f_where_self(&sub.f_ge_tensor(&thr)?, sub)?)
            }
            Step::Hue => {
                let Some((hs_table, rgb_table)) = &tables.hue else {
                    return Err(AugmentError::Input("hue tables missing".into()));
                };
                let size = sub.size();
                let (hh, ww) = (size[2], size[3]);
                let xi = sub.f_to_kind(Kind::Int64)?;
                let ch = |i: i64| xi.f_narrow(1, i, 1);
                let (r, g, b) = (ch(0)?, ch(1)?, ch(2)?);
                let idx = r.f_mul_scalar(65536)?.f_add(&g.f_mul_scalar(256)?)?.f_add(&b)?.f_view([-1])?;
                let hs = hs_table.f_index_select(0, &idx)?.f_to_kind(Kind::Int64)?; // [m*h*w, 2]
                let shift = values.f_to_kind(Kind::Int64)?.f_view([m, 1])?;
                let hue = hs.f_select(1, 0)?.f_view([m, -1])?.f_add(&shift)?.f_bitwise_and(255)?;
                let sat = hs.f_select(1, 1)?.f_view([m, -1])?;
                let v = r.f_maximum(&g)?.f_maximum(&b)?.f_view([m, -1])?;
                let idx2 = hue.f_mul_scalar(65536)?.f_add(&sat.f_mul_scalar(256)?)?.f_add(&v)?.f_view([-1])?;
                let rgb = rgb_table.f_index_select(0, &idx2)?; // [m*h*w, 3]
                Ok(rgb.f_view([m, hh, ww, 3])?.f_permute([0, 3, 1, 2])?.f_to_kind(Kind::Float)?.f_contiguous()?)
            }
            Step::Blur { radius } => {
                let r = *radius as i64;
                let size = sub.size();
                let (hh, ww) = (size[2], size[3]);
                let taps = values.f_to_kind(Kind::Float)?.f_view([m, r + 1])?;
                let tap = |j: i64| -> Result<Tensor> { Ok(taps.f_narrow(1, j, 1)?.f_view([m, 1, 1, 1])?) };
                let padded = sub.f_reflection_pad2d([r, r, r, r])?;
                // Horizontal pass over every padded row, then vertical, each summed in the CPU's order.
                let pass = |src: &Tensor, dim: i64, len: i64| -> Result<Tensor> {
                    let mut acc = src.f_narrow(dim, r, len)?.f_mul(&tap(0)?)?;
                    for j in 1..=r {
                        let pair = src.f_narrow(dim, r - j, len)?.f_add(&src.f_narrow(dim, r + j, len)?)?;
                        acc = acc.f_add(&pair.f_mul(&tap(j)?)?)?;
                    }
                    Ok(acc)
                };
                let horizontal = pass(&padded, 3, ww)?;
                let vertical = pass(&horizontal, 2, hh)?;
                Ok(vertical.f_round()?.f_clamp(0.0, 255.0)?)
            }
        }
    }
}
