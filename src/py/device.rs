//! The loader's device colour stage (`src/augment`) at the Python boundary: building it from
//! the loader's arguments, and applying it to a finished batch with the GIL released.

use std::sync::Arc;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use tch::{Device, Kind, Tensor};

use super::errors::released;
use crate::augment::{parse_device, AugmentError, CropPlan, DeviceColour};
use crate::image::resize::ResamplePlan;
use crate::pipeline::loader::ImageSlot;
use crate::pipeline::recipe::{Recipe, PARAM_FIELDS};

pub fn augment_error(e: AugmentError) -> PyErr {
    match e {
        AugmentError::Input(m) => PyValueError::new_err(m),
        AugmentError::Tch(e) => PyRuntimeError::new_err(format!("device colour stage: {e}")),
    }
}

/// The colour stage on `device` ('cpu', 'cuda', 'cuda:N'), checked and set up with the GIL
/// released (the first CUDA call initialises the driver).
pub fn colour_stage(
    py: Python<'_>,
    device: &str,
    mean: [f32; 3],
    std: [f32; 3],
    channels_last: bool,
) -> PyResult<Arc<DeviceColour>> {
    let stage = released(py, || -> Result<DeviceColour, AugmentError> {
        let device = parse_device(device)?;
        DeviceColour::new(device, mean, std, channels_last)
    })?
    .map_err(augment_error)?;
    Ok(Arc::new(stage))
}

/// One output tensor of a batch of `b` samples: its size, the batch's crop slots it holds
/// (crop-major, as the parameter rows and the plans), and each slot's solarize threshold (slot
/// k of an output holds crop k / B of the output's crops, so each crop's threshold repeats B
/// times).
struct OutputSlots {
    size: (usize, usize),
    slots: std::ops::Range<usize>,
    thresholds: Vec<u8>,
}

impl OutputSlots {
    /// Every output of `recipe` for `b` samples.
    fn all(recipe: &Recipe, b: usize) -> Vec<OutputSlots> {
        let per_crop: Vec<u8> = recipe.crop_groups().map(|g| g.solarize_threshold).collect();
        let mut start = 0;
        recipe
            .outputs()
            .iter()
            .map(|&(h, w, n)| {
                let thresholds = per_crop[start..start + n].iter().flat_map(|&t| std::iter::repeat_n(t, b)).collect();
                let slots = start * b..(start + n) * b;
                start += n;
                OutputSlots { size: (h, w), slots, thresholds }
            })
            .collect()
    }

    /// The output's parameter rows in the batch's `params`.
    fn rows<'p>(&self, params: &'p [f64]) -> Result<&'p [f64], AugmentError> {
        params
            .get(self.slots.start * PARAM_FIELDS..self.slots.end * PARAM_FIELDS)
            .ok_or_else(|| AugmentError::Input("batch parameters missing".into()))
    }
}

/// A batch's crops as the device stage takes them: a uint8 [n, 3, h, w] tensor and whether it
/// sits in pinned memory (so that the copy to the device may be asynchronous).
pub struct GroupCrops {
    pub crops: Tensor,
    pub pinned: bool,
}

/// Applies the stage to every output of a batch (`crops[j]` is output j, `params` the batch's
/// rows, crop-major as the outputs), GIL released; `keep` is dropped only after every view of
/// it is gone (the host buffers the unpinned crop tensors are views of).
pub fn apply_batch<K: Send>(
    py: Python<'_>,
    stage: &DeviceColour,
    recipe: &Recipe,
    crops: Vec<GroupCrops>,
    params: &[f64],
    b: usize,
    keep: K,
) -> PyResult<Vec<Tensor>> {
    let outputs = OutputSlots::all(recipe, b);
    released(py, move || -> Result<Vec<Tensor>, AugmentError> {
        let mut out = Vec::with_capacity(crops.len());
        for (group, o) in crops.into_iter().zip(&outputs) {
            let non_blocking = group.pinned && stage.device() != Device::Cpu;
            out.push(stage.apply(&group.crops, o.rows(params)?, &o.thresholds, non_blocking)?);
        }
        drop(keep);
        Ok(out)
    })?
    .map_err(augment_error)
}

/// [`apply_batch`] for a batch of decoded images (`LoaderConfig::defer_resize`): `pixels` the
/// flat uint8 images (`[pixels, 3]`, CPU, pinned when `pinned`), `images` where each sample's
/// lies, `plans` every crop's resampling plan (crop-major, as `params`).
#[allow(clippy::too_many_arguments)]
pub fn apply_batch_resampled<K: Send>(
    py: Python<'_>,
    stage: &DeviceColour,
    recipe: &Recipe,
    pixels: GroupCrops,
    images: &[ImageSlot],
    plans: &[ResamplePlan],
    params: &[f64],
    keep: K,
) -> PyResult<Vec<Tensor>> {
    let b = images.len();
    let outputs = OutputSlots::all(recipe, b);
    released(py, move || -> Result<Vec<Tensor>, AugmentError> {
        let non_blocking = pixels.pinned && stage.device() != Device::Cpu;
        // On a CPU device this is `pixels` itself, a view of `keep`'s memory: both are dropped last.
        let on_device = pixels.crops.f_to_device_(stage.device(), Kind::Uint8, non_blocking, false)?;
        let mut out = Vec::with_capacity(outputs.len());
        for o in &outputs {
            let crops: Vec<CropPlan<'_>> = plans
                .get(o.slots.clone())
                .ok_or_else(|| AugmentError::Input("batch plans missing".into()))?
                .iter()
                .enumerate()
                .map(|(i, plan)| CropPlan { image: images[i % b], plan })
                .collect();
            out.push(stage.apply_resampled(
                &on_device,
                &crops,
                o.size,
                o.rows(params)?,
                &o.thresholds,
                non_blocking,
            )?);
        }
        drop(on_device);
        drop(pixels);
        drop(keep);
        Ok(out)
    })?
    .map_err(augment_error)
}

/// A uint8 [n, 3, h, w] view of host memory at `ptr`.
///
/// # Safety
/// `ptr` must hold the whole contiguous batch and outlive the view.
pub unsafe fn host_view(ptr: *mut u8, shape: [usize; 4]) -> PyResult<Tensor> {
    let size = shape.map(|d| d as i64);
    let strides = [size[1] * size[2] * size[3], size[2] * size[3], size[3], 1];
    Tensor::f_from_blob(ptr, &size, &strides, Kind::Uint8, Device::Cpu)
        .map_err(|e| PyRuntimeError::new_err(format!("device colour stage: {e}")))
}
