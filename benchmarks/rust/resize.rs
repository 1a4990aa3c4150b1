//! Crop-and-resize throughput of the image core on a real photo: the hot loop of the multi-crop
//! pipeline (per image 1 crop at 224 px and 8 at 96 px).
//!
//! `cargo bench --bench resize`; criterion's time per iteration is the time per crop.
//! Two groups: `resized_crop` in wall-clock time, and `resized_crop_cpu` in the CPU time of
//! the benchmark thread (Linux `CLOCK_THREAD_CPUTIME_ID`), which stays meaningful on a machine
//! shared with other work, where wall-clock time includes waiting for a core.

// A benchmark may stop on a missing photo: it is not library code.
#![allow(clippy::panic)]

use std::hint::black_box;

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

use _trex::image::decode::{decode, decode_into, read_header, DecodeOptions};
use _trex::image::geometry::{sample_resized_crop, CropBox};
use _trex::image::resize::{resized_crop, Interpolation};
use _trex::image::rng::Rng;
use _trex::image::RgbImage;

/// A real photo from Debian's plasma-workspace-wallpapers (`make system-deps`).
const PHOTO: &str = "/usr/share/wallpapers/Autumn/contents/images/2560x1600.jpg";

fn photo() -> RgbImage {
    let data = std::fs::read(PHOTO).unwrap_or_else(|e| panic!("{PHOTO}: {e} (run `make system-deps`)"));
    decode(&data, &DecodeOptions::default()).unwrap_or_else(|e| panic!("{PHOTO}: {e}"))
}

#[path = "cpu_time.rs"]
mod cpu_time;
use cpu_time::ThreadCpuTime;

struct Nanoseconds;

impl ValueFormatter for Nanoseconds {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (div, unit) = match typical {
            t if t < 1e3 => (1.0, "ns"),
            t if t < 1e6 => (1e3, "µs"),
            t if t < 1e9 => (1e6, "ms"),
            _ => (1e9, "s"),
        };
        values.iter_mut().for_each(|v| *v /= div);
        unit
    }
    fn scale_throughputs(&self, _: f64, throughput: &Throughput, values: &mut [f64]) -> &'static str {
        let n = match *throughput {
            Throughput::Elements(n) => n as f64,
            _ => 1.0,
        };
        values.iter_mut().for_each(|v| *v = n * 1e9 / *v);
        "elem/s"
    }
    fn scale_for_machines(&self, _: &mut [f64]) -> &'static str {
        "ns"
    }
}

type Case = (&'static str, CropBox, usize, Interpolation);

fn cases(img: &RgbImage) -> Vec<Case> {
    let centre =
        |size: usize| CropBox { top: (img.height - size) / 2, left: (img.width - size) / 2, height: size, width: size };
    vec![
        ("400x400 -> 224 bicubic", centre(400), 224, Interpolation::Bicubic),
        ("400x400 -> 96 bicubic", centre(400), 96, Interpolation::Bicubic),
        ("180x180 -> 96 bicubic", centre(180), 96, Interpolation::Bicubic),
        ("400x400 -> 224 bilinear", centre(400), 224, Interpolation::Bilinear),
    ]
}

fn run_cases<M: Measurement>(group: &mut BenchmarkGroup<'_, M>, img: &RgbImage) {
    for (name, crop, size, interp) in cases(img) {
        let mut out = vec![0u8; size * size * 3];
        group.bench_function(name, |b| {
            b.iter(|| {
                resized_crop(black_box(&img.data), img.width, img.height, crop, size, size, interp, &mut out)
                    .unwrap_or_else(|e| panic!("{e}"));
                black_box(&out);
            })
        });
    }
}

/// The same photo decoded at 1/4 scale: 640x400, the size of an ImageNet training image.
fn imagenet_sized_photo() -> RgbImage {
    let data = std::fs::read(PHOTO).unwrap_or_else(|e| panic!("{PHOTO}: {e}"));
    let opts = DecodeOptions::default();
    let header = read_header(&data, &opts).unwrap_or_else(|e| panic!("{PHOTO}: {e}"));
    let (w, h) = header.scaled_size(4);
    let mut out = vec![0u8; w * h * 3];
    decode_into(&data, &header, 4, &mut out).unwrap_or_else(|e| panic!("{PHOTO}: {e}"));
    RgbImage { width: w, height: h, data: out }
}

/// The crops of one image of the t-ReX recipe: 1 at 224 px with scale (0.25, 1) and 8 at 96 px
/// with scale (0.05, 0.25), freshly sampled for every image (the time is per image, 9 crops).
fn run_recipe<M: Measurement>(group: &mut BenchmarkGroup<'_, M>, img: &RgbImage) {
    let ratio = (3.0 / 4.0, 4.0 / 3.0);
    let mut global = vec![0u8; 224 * 224 * 3];
    let mut local = vec![0u8; 96 * 96 * 3];
    let mut i = 0u64;
    group.bench_function("t-ReX image 640x400: 1 x 224 + 8 x 96 bicubic", |b| {
        b.iter(|| {
            i += 1;
            for crop in 0..9u64 {
                let mut rng = Rng::keyed(0, &[i, crop]);
                let (scale, size, out) =
                    if crop == 0 { ((0.25, 1.0), 224, &mut global) } else { ((0.05, 0.25), 96, &mut local) };
                let b = sample_resized_crop(img.width, img.height, scale, ratio, &mut rng);
                resized_crop(&img.data, img.width, img.height, b, size, size, Interpolation::Bicubic, out)
                    .unwrap_or_else(|e| panic!("{e}"));
                black_box(&out);
            }
        })
    });
}

fn bench_wall(c: &mut Criterion) {
    let img = photo();
    let mut group = c.benchmark_group("resized_crop");
    run_cases(&mut group, &img);
    run_recipe(&mut group, &imagenet_sized_photo());
    group.finish();
}

fn bench_cpu(c: &mut Criterion<ThreadCpuTime>) {
    let img = photo();
    let mut group = c.benchmark_group("resized_crop_cpu");
    run_cases(&mut group, &img);
    run_recipe(&mut group, &imagenet_sized_photo());
    group.finish();
}

criterion_group!(wall, bench_wall);
criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(ThreadCpuTime(&Nanoseconds));
    targets = bench_cpu
}
criterion_main!(wall, cpu);
