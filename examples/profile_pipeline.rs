//! Where the multi-crop pipeline spends its time, stage by stage, on one thread.
//! `cargo run --release --example profile_pipeline -- DIR [N]`
//! Times are the thread's CPU time, so that other work on a shared machine does not count.

use _trex::image::blur::gaussian_blur_with_scratch;
use _trex::image::color::{adjust_brightness, adjust_contrast, adjust_hue, adjust_saturation, solarize, to_grayscale};
use _trex::image::decode::{decode_into, read_header, DecodeOptions};
use _trex::image::resize::{resample_region_flip, Interpolation};
use _trex::image::rng::Rng;
#[path = "../benchmarks/rust/cpu_time.rs"]
mod cpu_time;

use _trex::pipeline::augment::write_chw_u8;
use _trex::pipeline::recipe::{CropGroup, Jitter, Recipe};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).ok_or("usage: profile_pipeline DIR [N]")?;
    let n: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(200);
    let mut files: Vec<_> = std::fs::read_dir(dir)?.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    files.sort();
    let datas: Vec<Vec<u8>> = files.iter().take(n).map(std::fs::read).collect::<Result<_, _>>()?;
    let jitter = Jitter { p: 0.8, brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1 };
    let g = |count, size, scale, blur_p, solarize_p| CropGroup {
        count,
        size: (size, size),
        scale,
        ratio: (0.75, 4.0 / 3.0),
        interpolation: Interpolation::Bicubic,
        flip_p: 0.5,
        jitter,
        grayscale_p: 0.2,
        blur_p,
        blur_sigma: (0.1, 2.0),
        solarize_p,
        solarize_threshold: 128,
    };
    let recipe = Recipe { groups: vec![g(1, 224, (0.25, 1.0), 0.2, 0.2), g(8, 96, (0.05, 0.25), 0.5, 0.0)] };
    let opts = DecodeOptions::default();
    let names = [
        "header",
        "decode",
        "resample+flip",
        "-",
        "brightness",
        "contrast",
        "saturation",
        "hue",
        "gray",
        "blur",
        "solarize",
        "write chw",
    ];
    let mut t = [0f64; 12];
    let mut chw = Vec::new();
    let (mut buf, mut crop, mut scratch) = (Vec::new(), Vec::new(), Vec::new());
    let start = Clock::now();
    for (i, data) in datas.iter().enumerate() {
        let s = Clock::now();
        let h = read_header(data, &opts)?;
        t[0] += s.elapsed();
        let (w, hh) = h.size();
        let s = Clock::now();
        buf.resize(w * hh * 3, 0);
        decode_into(data, &h, 1, &mut buf)?;
        t[1] += s.elapsed();
        let params = recipe.sample_params(w, hh, 0, 0, i as u64);
        for (grp, p) in recipe.crop_groups().zip(&params) {
            let (oh, ow) = grp.size;
            crop.resize(oh * ow * 3, 0);
            let b = p.crop;
            let s = Clock::now();
            // The flip is fused into the resampler, as in the loader.
            resample_region_flip(
                &buf,
                w,
                hh,
                [b.left as f64, b.top as f64, (b.left + b.width) as f64, (b.top + b.height) as f64],
                ow,
                oh,
                Interpolation::Bicubic,
                p.flip,
                &mut crop,
            )?;
            t[2] += s.elapsed();
            let mut time = |k: usize, f: &mut dyn FnMut(&mut Vec<u8>)| {
                let s = Clock::now();
                f(&mut crop);
                t[k] += s.elapsed();
            };
            if p.jitter {
                time(4, &mut |c| adjust_brightness(c, p.brightness));
                time(5, &mut |c| adjust_contrast(c, p.contrast));
                time(6, &mut |c| adjust_saturation(c, p.saturation));
                time(7, &mut |c| adjust_hue(c, p.hue));
            }
            if p.grayscale {
                time(8, &mut |c| to_grayscale(c));
            }
            if p.blur_sigma > 0.0 {
                time(9, &mut |c| {
                    let _ = gaussian_blur_with_scratch(c, ow, oh, p.blur_sigma, None, &mut scratch);
                });
            }
            if p.solarize {
                time(10, &mut |c| solarize(c, 128));
            }
            chw.resize(crop.len(), 0);
            let s = Clock::now();
            write_chw_u8(&crop, &mut chw)?;
            t[11] += s.elapsed();
        }
    }
    let total = start.elapsed();
    let n = datas.len() as f64;
    println!("{} images, {:.1} images/s on one thread ({:.2} ms/image)", n, n / total, 1e3 * total / n);
    for (name, v) in names.iter().zip(t).filter(|(n, _)| **n != "-") {
        println!("{name:12} {:7.3} ms/image {:5.1}%", 1e3 * v / n, 100.0 * v / total);
    }
    let _ = Rng::keyed(0, &[]);
    Ok(())
}

/// A point in the calling thread's CPU time (what it spent running, not waiting for a core).
struct Clock(u64);

impl Clock {
    fn now() -> Clock {
        Clock(cpu_time::thread_cpu_ns())
    }

    /// Seconds of thread CPU time since `self`.
    fn elapsed(&self) -> f64 {
        Clock::now().0.saturating_sub(self.0) as f64 * 1e-9
    }
}
