//! Criterion micro-benchmarks of the colour ops and the Gaussian blur on the crop sizes of the
//! t-ReX recipe (224 x 224 global, 96 x 96 local), cut from a real photo.
//!
//! Run: `cargo bench --bench color` (add `-- hue` to filter). Each iteration gets a fresh copy of
//! the crop made just before it, outside the timed region (`iter_batched_ref` with
//! `PerIteration`): the time is the op alone, on a crop that is in cache as it is in the loader.
//! `*_baseline` entries time the build without AVX2 (what a CPU without AVX2 runs).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};

use _trex::image::{blur, color, decode, RgbImage};

/// The first real photo found: a Debian wallpaper, else scikit-image's coffee.png from the venv.
fn photo() -> RgbImage {
    let root = env!("CARGO_MANIFEST_DIR");
    let candidates = [
        "/usr/share/wallpapers/Autumn/contents/images/1280x1024.jpg".to_string(),
        format!("{root}/.venv/lib/python3.11/site-packages/skimage/data/coffee.png"),
        format!("{root}/.venv/lib/python3.12/site-packages/skimage/data/coffee.png"),
    ];
    for path in &candidates {
        if let Ok(bytes) = std::fs::read(path) {
            match decode::decode(&bytes, &Default::default()) {
                Ok(img) => {
                    eprintln!("benchmark photo: {path} ({}x{})", img.width, img.height);
                    return img;
                }
                Err(e) => eprintln!("{path}: {e}"),
            }
        }
    }
    eprintln!("no photo found (tried {candidates:?}); install the wallpapers or run `make venv`");
    std::process::exit(1);
}

/// The `size` x `size` crop centred at (cx, cy) (clamped into the image).
fn crop(img: &RgbImage, size: usize, cx: usize, cy: usize) -> Vec<u8> {
    let x0 = cx.saturating_sub(size / 2).min(img.width - size);
    let y0 = cy.saturating_sub(size / 2).min(img.height - size);
    let mut out = Vec::with_capacity(size * size * 3);
    for y in y0..y0 + size {
        let start = (y * img.width + x0) * 3;
        out.extend_from_slice(&img.data[start..start + size * 3]);
    }
    out
}

fn bench_ops(c: &mut Criterion) {
    let img = photo();
    let crops = [
        ("224", 224usize, crop(&img, 224, img.width / 2, img.height / 2)),
        ("96", 96usize, crop(&img, 96, img.width / 3, img.height / 3)),
    ];
    let mut group = c.benchmark_group("color");
    group.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
    for (label, size, data) in &crops {
        type Op = Box<dyn Fn(&mut Vec<u8>)>;
        let ops: Vec<(&str, Op)> = vec![
            ("brightness_1.4", Box::new(|b| color::adjust_brightness(b, 1.4))),
            ("contrast_0.6", Box::new(|b| color::adjust_contrast(b, 0.6))),
            ("saturation_1.2", Box::new(|b| color::adjust_saturation(b, 1.2))),
            ("hue_0.1", Box::new(|b| color::adjust_hue(b, 0.1))),
            ("hue_0.1_baseline", Box::new(|b| color::adjust_hue_shift_baseline(b, color::hue_shift(0.1)))),
            ("saturation_1.2_baseline", Box::new(|b| color::adjust_saturation_baseline(b, 1.2))),
            ("grayscale", Box::new(|b| color::to_grayscale(b))),
            ("solarize_128", Box::new(|b| color::solarize(b, 128))),
        ];
        for (name, op) in &ops {
            group.bench_with_input(BenchmarkId::new(*name, label), data, |bch, data| {
                bch.iter_batched_ref(|| data.clone(), |buf| op(black_box(buf)), BatchSize::PerIteration)
            });
        }
        for sigma in [0.1, 0.5, 1.0, 2.0] {
            let mut scratch = Vec::new();
            let s = *size;
            group.bench_with_input(BenchmarkId::new(format!("blur_sigma{sigma}"), label), data, |bch, data| {
                bch.iter_batched_ref(
                    || data.clone(),
                    |buf| blur::gaussian_blur_with_scratch(black_box(buf), s, s, sigma, None, &mut scratch),
                    BatchSize::PerIteration,
                )
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_ops);
criterion_main!(benches);
