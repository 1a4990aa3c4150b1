//! The batched colour stage against the CPU path (`render_colour`) on crops of a real photo. Run
//! with `cargo test --release --features torch` and LD_LIBRARY_PATH set to the venv's torch/lib.
#![allow(clippy::unwrap_used, clippy::panic)]

use tch::{Device, Kind, Tensor};

use super::{parse_device, DeviceColour};
use crate::image::decode;
use crate::image::resize::Interpolation;
use crate::image::rng::Rng;
use crate::pipeline::augment::{normalize_lut, render_colour, write_chw_f32};
use crate::pipeline::recipe::{CropGroup, Jitter, PARAM_FIELDS};

const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];

fn photo() -> (Vec<u8>, usize, usize) {
    let root = env!("CARGO_MANIFEST_DIR");
    for py in ["python3.11", "python3.12"] {
        let path = format!("{root}/.venv/lib/{py}/site-packages/skimage/data/astronaut.png");
        if let Ok(bytes) = std::fs::read(&path) {
            let img = decode::decode(&bytes, &Default::default()).unwrap();
            return (img.data, img.width, img.height);
        }
    }
    panic!("skimage's astronaut.png not found under {root}/.venv: run `make venv` first");
}

fn group(size: (usize, usize), jitter_p: f64, blur_p: f64, solarize_p: f64, grayscale_p: f64) -> CropGroup {
    CropGroup {
        count: 1,
        size,
        scale: (0.1, 1.0),
        ratio: (0.75, 4.0 / 3.0),
        interpolation: Interpolation::Bicubic,
        flip_p: 0.5,
        jitter: Jitter { p: jitter_p, brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1 },
        grayscale_p,
        blur_p,
        blur_sigma: (0.1, 2.0),
        solarize_p,
        solarize_threshold: 128,
    }
}

/// `n` windows of the photo of the group's size, their parameters, the CPU path's normalised
/// CHW output and the device stage's, as flat f32.
fn both_paths(g: &CropGroup, n: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let (img, iw, ih) = photo();
    let (h, w) = g.size;
    let lut = normalize_lut(MEAN, STD);
    let (mut chw_u8, mut rows, mut want) = (Vec::new(), Vec::new(), Vec::new());
    let mut blur = Vec::new();
    for i in 0..n {
        let mut rng = Rng::keyed(seed, &[i as u64]);
        let (x0, y0) = (rng.below((iw - w) as u64) as usize, rng.below((ih - h) as u64) as usize);
        let mut crop = Vec::with_capacity(w * h * 3);
        for y in y0..y0 + h {
            crop.extend_from_slice(&img[(y * iw + x0) * 3..(y * iw + x0 + w) * 3]);
        }
        for c in 0..3 {
            chw_u8.extend(crop.chunks_exact(3).map(|p| p[c]));
        }
        let p = g.sample(iw, ih, &mut rng);
        rows.extend_from_slice(&p.to_row());
        render_colour(g, &p, &mut crop, &mut blur).unwrap();
        let mut out = vec![0f32; crop.len()];
        write_chw_f32(&crop, &lut, &mut out).unwrap();
        want.extend(out);
    }
    assert_eq!(rows.len(), n * PARAM_FIELDS);
    let crops = Tensor::from_slice(&chw_u8).view([n as i64, 3, h as i64, w as i64]);
    let stage = DeviceColour::new(Device::Cpu, MEAN, STD, false).unwrap();
    let got = stage.apply(&crops, &rows, &vec![g.solarize_threshold; n], false).unwrap();
    assert_eq!(got.size(), [n as i64, 3, h as i64, w as i64]);
    assert_eq!(got.kind(), Kind::Float);
    let got: Vec<f32> = Vec::try_from(got.flatten(0, -1)).unwrap();
    (want, got)
}

#[test]
fn every_op_matches_the_cpu_path_bit_for_bit() {
    for (g, n) in [
        (group((96, 96), 1.0, 0.0, 0.0, 0.0), 24),  // jitter only, every order
        (group((64, 80), 0.0, 0.0, 0.0, 1.0), 4),   // grayscale only
        (group((96, 96), 0.0, 1.0, 0.0, 0.0), 16),  // blur only, sigma 0.1..2
        (group((32, 40), 0.0, 0.0, 1.0, 0.0), 4),   // solarize only
        (group((96, 96), 0.8, 0.5, 0.2, 0.2), 32),  // everything (DINO's local crops)
        (group((5, 7), 0.8, 1.0, 0.2, 0.2), 16),    // tiny: blur kernels shortened
        (group((160, 128), 0.8, 1.0, 0.2, 0.2), 8), // not square, a larger crop
    ] {
        let (want, got) = both_paths(&g, n, 7);
        let differ = want.iter().zip(&got).filter(|(a, b)| a != b).count();
        assert_eq!(differ, 0, "{differ} of {} values differ for {g:?}", want.len());
    }
}

#[test]
fn channels_last_gives_the_same_values() {
    let g = group((48, 40), 0.8, 0.5, 0.2, 0.2);
    let crops = Tensor::arange(8 * 3 * 48 * 40, (Kind::Int64, Device::Cpu)).remainder(251).to_kind(Kind::Uint8);
    let crops = crops.view([8, 3, 48, 40]);
    let mut rows = Vec::new();
    for i in 0..8 {
        rows.extend_from_slice(&g.sample(400, 300, &mut Rng::keyed(3, &[i])).to_row());
    }
    let a = DeviceColour::new(Device::Cpu, MEAN, STD, false).unwrap().apply(&crops, &rows, &[128; 8], false).unwrap();
    let b = DeviceColour::new(Device::Cpu, MEAN, STD, true).unwrap().apply(&crops, &rows, &[128; 8], false).unwrap();
    assert_eq!(a.size(), b.size());
    assert!(!b.is_contiguous());
    assert!(b.permute([0, 2, 3, 1]).is_contiguous());
    assert!(a.equal(&b));
}

#[test]
fn bad_inputs_are_errors() {
    let stage = DeviceColour::new(Device::Cpu, MEAN, STD, false).unwrap();
    let crops = Tensor::zeros([2, 3, 8, 8], (Kind::Uint8, Device::Cpu));
    let row = [0.0; PARAM_FIELDS];
    assert!(stage.apply(&crops, &row, &[128], false).is_err()); // one row for two crops
    assert!(stage.apply(&crops.to_kind(Kind::Float), &[row, row].concat(), &[128; 2], false).is_err());
    assert!(stage.apply(&crops.view([2, 3, 64]), &[row, row].concat(), &[128; 2], false).is_err());
    assert!(stage.apply(&crops, &[row, row].concat(), &[128; 2], false).is_ok());
    assert_eq!(parse_device("cpu").unwrap(), Device::Cpu);
    for bad in ["nonsense", "cuda:x", "mps", "", "CPU"] {
        assert!(parse_device(bad).is_err(), "{bad}");
    }
    if !tch::Cuda::is_available() {
        let err = parse_device("cuda").unwrap_err().to_string();
        assert!(err.contains("CUDA is not available"), "{err}");
    }
}

/// The device resampler against the CPU one, on crops of two real photos in one flat buffer:
/// every interpolation, flips, fractional and integer boxes, up- and downscaling, both pass
/// orders and the shortcuts; bit for bit.
#[test]
fn resampled_groups_equal_the_cpu_resampler() {
    use super::resample::{resample_group, CropPlan};
    use crate::image::resize::{resample_plan, resample_region_flip};
    use crate::pipeline::loader::ImageSlot;

    let images = [crate::image::testdata::chelsea(), crate::image::testdata::astronaut()];
    let mut flat = Vec::new();
    let mut slots = Vec::new();
    for im in &images {
        slots.push(ImageSlot { offset: flat.len() / 3, width: im.width, height: im.height });
        flat.extend_from_slice(&im.data);
    }
    let pixels = Tensor::f_from_slice(&flat).unwrap().view([-1, 3]);
    for interp in [Interpolation::Nearest, Interpolation::Bilinear, Interpolation::Bicubic] {
        for (out_h, out_w) in [(24usize, 24usize), (40, 17), (36, 70)] {
            let mut rng = Rng::keyed(11, &[out_h as u64, interp as u64]);
            let mut plans = Vec::new();
            let mut want = Vec::new();
            for i in 0..24 {
                let k = i % 2;
                let (w, h) = (slots[k].width as f64, slots[k].height as f64);
                let region = match i % 8 {
                    // A crop of exactly the output size, and a tall strip (vertical pass first).
                    0 => [5.0, 7.0, 5.0 + out_w as f64, 7.0 + out_h as f64],
                    1 => [3.0, 0.0, 3.0 + 2.0 * out_w as f64, h],
                    2 => [10.0, 10.0, 10.0 + out_w as f64 / 2.5, 10.0 + out_h as f64 / 3.0],
                    _ => {
                        let x0 = rng.uniform_in(0.0, w - 30.0);
                        let y0 = rng.uniform_in(0.0, h - 30.0);
                        let r = [x0, y0, rng.uniform_in(x0 + 8.0, w), rng.uniform_in(y0 + 8.0, h)];
                        if i % 8 == 3 {
                            r.map(f64::floor)
                        } else {
                            r
                        }
                    }
                };
                let flip = i % 3 == 1;
                let im = &images[k];
                let mut hwc = vec![0u8; out_h * out_w * 3];
                resample_region_flip(&im.data, im.width, im.height, region, out_w, out_h, interp, flip, &mut hwc)
                    .unwrap();
                want.push(hwc);
                plans.push((k, resample_plan(im.width, im.height, region, out_w, out_h, interp, flip).unwrap()));
            }
            assert!(interp == Interpolation::Nearest || plans.iter().any(|(_, p)| !p.horizontal_first));
            let crops: Vec<CropPlan<'_>> = plans.iter().map(|(k, plan)| CropPlan { image: slots[*k], plan }).collect();
            let (got, stats) = resample_group(&pixels, &crops, out_h, out_w, Device::Cpu, false).unwrap();
            assert!(stats.macs >= 24 * 3 * (out_h * out_w) as u64 && stats.host_ns > 0, "{stats:?}");
            assert_eq!(got.size(), [24, 3, out_h as i64, out_w as i64]);
            let got = Vec::<f32>::try_from(got.permute([0, 2, 3, 1]).contiguous().view([-1])).unwrap();
            for (i, hwc) in want.iter().enumerate() {
                let mine = &got[i * hwc.len()..(i + 1) * hwc.len()];
                let differ = mine.iter().zip(hwc).filter(|(a, &b)| **a != f32::from(b)).count();
                assert_eq!(differ, 0, "{interp:?} {out_w}x{out_h} crop {i}");
            }
        }
    }
}
