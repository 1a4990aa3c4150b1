//! Where the multi-crop pipeline spends its time, stage by stage, on one thread.
//! `cargo run --release --example profile_pipeline -- DIR [N]`
use std::time::Instant;

use _trex::image::blur::gaussian_blur_with_scratch;
use _trex::image::color::{adjust_brightness, adjust_contrast, adjust_hue, adjust_saturation, solarize, to_grayscale};
use _trex::image::decode::{decode_into, read_header, DecodeOptions};
use _trex::image::geometry::hflip;
use _trex::image::resize::{resample_region, Interpolation};
use _trex::image::rng::Rng;
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
        count, size: (size, size), scale, ratio: (0.75, 4.0 / 3.0), interpolation: Interpolation::Bicubic,
        flip_p: 0.5, jitter, grayscale_p: 0.2, blur_p, blur_sigma: (0.1, 2.0), solarize_p, solarize_threshold: 128,
    };
    let recipe = Recipe { groups: vec![g(1, 224, (0.25, 1.0), 0.2, 0.2), g(8, 96, (0.05, 0.25), 0.5, 0.0)] };
    let opts = DecodeOptions::default();
    let names = ["header", "decode", "resample", "flip", "brightness", "contrast", "saturation", "hue", "gray", "blur", "solarize"];
    let mut t = [0f64; 11];
    let (mut buf, mut crop, mut scratch) = (Vec::new(), Vec::new(), Vec::new());
    let start = Instant::now();
    for (i, data) in datas.iter().enumerate() {
        let s = Instant::now();
        let h = read_header(data, &opts)?;
        t[0] += s.elapsed().as_secs_f64();
        let (w, hh) = h.size();
        let s = Instant::now();
        buf.resize(w * hh * 3, 0);
        decode_into(data, &h, 1, &mut buf)?;
        t[1] += s.elapsed().as_secs_f64();
        let params = recipe.sample_params(w, hh, 0, 0, i as u64);
        for (grp, p) in recipe.crop_groups().zip(&params) {
            let (oh, ow) = grp.size;
            crop.resize(oh * ow * 3, 0);
            let b = p.crop;
            let s = Instant::now();
            resample_region(&buf, w, hh, [b.left as f64, b.top as f64, (b.left + b.width) as f64, (b.top + b.height) as f64], ow, oh, Interpolation::Bicubic, &mut crop)?;
            t[2] += s.elapsed().as_secs_f64();
            let mut time = |k: usize, f: &mut dyn FnMut(&mut Vec<u8>)| { let s = Instant::now(); f(&mut crop); t[k] += s.elapsed().as_secs_f64(); };
            if p.flip { time(3, &mut |c| hflip(c, ow, oh)); }
            if p.jitter {
                time(4, &mut |c| adjust_brightness(c, p.brightness));
                time(5, &mut |c| adjust_contrast(c, p.contrast));
                time(6, &mut |c| adjust_saturation(c, p.saturation));
                time(7, &mut |c| adjust_hue(c, p.hue));
            }
            if p.grayscale { time(8, &mut |c| to_grayscale(c)); }
            if p.blur_sigma > 0.0 { time(9, &mut |c| { let _ = gaussian_blur_with_scratch(c, ow, oh, p.blur_sigma, None, &mut scratch); }); }
            if p.solarize { time(10, &mut |c| solarize(c, 128)); }
        }
    }
    let total = start.elapsed().as_secs_f64();
    let n = datas.len() as f64;
    println!("{} images, {:.1} images/s on one thread ({:.2} ms/image)", n, n / total, 1e3 * total / n);
    for (name, v) in names.iter().zip(t) {
        println!("{name:12} {:7.3} ms/image {:5.1}%", 1e3 * v / n, 100.0 * v / total);
    }
    let _ = Rng::keyed(0, &[]);
    Ok(())
}
