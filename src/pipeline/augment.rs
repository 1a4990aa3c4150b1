//! Turning one decoded image into its crops: resample the crop box, then flip, colour jitter in
//! the sampled order, grayscale, blur and solarize, then write CHW into the batch slot.

use super::recipe::{CropGroup, CropParams};
use crate::image::blur::{default_kernel_size, gaussian_blur_with_scratch};
use crate::image::color::{adjust_brightness, adjust_contrast, adjust_hue, adjust_saturation, solarize, to_grayscale};
use crate::image::layout::deinterleave_rgb;
use crate::image::resize::{resample_plan, resample_region_flip, ResamplePlan};
use crate::image::{ImageError, Result};

/// A decoded image, possibly decoded at a reduced DCT scale: `scale_x` / `scale_y` map
/// coordinates of the full-size image (where crop boxes live) to this buffer.
pub struct Decoded<'a> {
    pub data: &'a [u8],
    pub width: usize,
    pub height: usize,
    pub scale_x: f64,
    pub scale_y: f64,
}

/// Renders one crop as HWC RGB into `crop` (resized to the group's size); `blur` is scratch.
pub fn render_crop(
    img: &Decoded<'_>,
    group: &CropGroup,
    p: &CropParams,
    crop: &mut Vec<u8>,
    blur: &mut Vec<f32>,
) -> Result<()> {
    render_geometry(img, group, p, crop)?;
    render_colour(group, p, crop, blur)
}

/// The geometric part of [`render_crop`]: the resized crop, flipped, as HWC RGB into `crop`.
/// With the colour stage on a device (`LoaderConfig::defer_colour`) this is all the CPU does.
pub fn render_geometry(img: &Decoded<'_>, group: &CropGroup, p: &CropParams, crop: &mut Vec<u8>) -> Result<()> {
    let (out_h, out_w) = group.size;
    crop.resize(out_h * out_w * 3, 0);
    let region = crop_region(img, p);
    // The flip is fused into the resampler (mirrored output order): same bytes, one pass fewer.
    resample_region_flip(img.data, img.width, img.height, region, out_w, out_h, group.interpolation, p.flip, crop)
}

/// [`render_geometry`] as a plan for a resampler elsewhere (`LoaderConfig::defer_resize`): the
/// same bytes once applied to the decoded image (`apply_plan`).
pub fn geometry_plan(img: &Decoded<'_>, group: &CropGroup, p: &CropParams) -> Result<ResamplePlan> {
    let (out_h, out_w) = group.size;
    resample_plan(img.width, img.height, crop_region(img, p), out_w, out_h, group.interpolation, p.flip)
}

/// The crop box in the coordinates of the decoded (possibly DCT-scaled) image.
fn crop_region(img: &Decoded<'_>, p: &CropParams) -> [f64; 4] {
    let b = p.crop;
    [
        b.left as f64 * img.scale_x,
        b.top as f64 * img.scale_y,
        ((b.left + b.width) as f64 * img.scale_x).min(img.width as f64),
        ((b.top + b.height) as f64 * img.scale_y).min(img.height as f64),
    ]
}

/// The colour part of [`render_crop`], in place on the HWC crop: jitter in the drawn order,
/// grayscale, blur, solarize (`src/augment` runs the same stage batched with tch).
pub fn render_colour(group: &CropGroup, p: &CropParams, crop: &mut [u8], blur: &mut Vec<f32>) -> Result<()> {
    let (out_h, out_w) = group.size;
    if p.jitter {
        for op in p.order {
            match op {
                0 => adjust_brightness(crop, p.brightness),
                1 => adjust_contrast(crop, p.contrast),
                2 => adjust_saturation(crop, p.saturation),
                _ => adjust_hue(crop, p.hue),
            }
        }
    }
    if p.grayscale {
        to_grayscale(crop);
    }
    if p.blur_sigma > 0.0 {
        let kernel = crop_blur_kernel_size(p.blur_sigma, out_w, out_h);
        if kernel > 1 {
            gaussian_blur_with_scratch(crop, out_w, out_h, p.blur_sigma, Some(kernel), blur)?;
        }
    }
    if p.solarize {
        solarize(crop, group.solarize_threshold);
    }
    Ok(())
}

/// The blur kernel size a crop of `w` x `h` gets for `sigma`: `2 ceil(3 sigma) + 1`, shortened
/// for tiny crops (reflect padding needs a radius below the crop's smaller side).
pub fn crop_blur_kernel_size(sigma: f64, w: usize, h: usize) -> usize {
    let max_kernel = 2 * (w.min(h).max(1) - 1) + 1;
    default_kernel_size(sigma).min(max_kernel | 1)
}

/// The three channel planes of a CHW output slot for the HWC pixels `hwc`.
fn chw_planes<'a, T>(hwc: &[u8], out: &'a mut [T]) -> Result<[&'a mut [T]; 3]> {
    if out.len() != hwc.len() {
        return Err(ImageError::BufferSize { expected: hwc.len(), got: out.len() });
    }
    let plane = hwc.len() / 3;
    let (r, rest) = out.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    Ok([r, g, b])
}

/// HWC u8 -> CHW u8.
pub fn write_chw_u8(hwc: &[u8], out: &mut [u8]) -> Result<()> {
    let [r, g, b] = chw_planes(hwc, out)?;
    deinterleave_rgb(hwc, r, g, b)
}

/// Per-channel table of normalised values: (v / 255 - mean) / std computed in f32 in that order,
/// as `trex.normalize` does on the device, so both paths give the same numbers.
pub fn normalize_lut(mean: [f32; 3], std: [f32; 3]) -> [[f32; 256]; 3] {
    let mut lut = [[0f32; 256]; 3];
    for ((table, m), s) in lut.iter_mut().zip(mean).zip(std) {
        for (v, out) in table.iter_mut().enumerate() {
            *out = (v as f32 / 255.0 - m) / s;
        }
    }
    lut
}

/// HWC u8 -> normalised CHW f32: planes of a block of pixels first (vectorised), then one
/// table lookup per value.
pub fn write_chw_f32(hwc: &[u8], lut: &[[f32; 256]; 3], out: &mut [f32]) -> Result<()> {
    const BLOCK: usize = 1024;
    let [r, g, b] = chw_planes(hwc, out)?;
    let mut planes = [[0u8; BLOCK]; 3];
    for (((px, r), g), b) in
        hwc.chunks(3 * BLOCK).zip(r.chunks_mut(BLOCK)).zip(g.chunks_mut(BLOCK)).zip(b.chunks_mut(BLOCK))
    {
        let n = px.len() / 3;
        let [pr, pg, pb] = &mut planes;
        deinterleave_rgb(px, &mut pr[..n], &mut pg[..n], &mut pb[..n])?;
        for ((dst, src), table) in [r, g, b].into_iter().zip(&planes).zip(lut) {
            for (d, &v) in dst.iter_mut().zip(src) {
                *d = table[v as usize];
            }
        }
    }
    Ok(())
}
