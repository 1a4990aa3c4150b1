//! Crop-and-resize throughput of the image core on a real photo: the hot loop of the multi-crop
//! pipeline (per image 1 crop at 224 px and 8 at 96 px).
//!
//! `cargo bench --bench resize`; criterion's time per iteration is the time per crop.

// A benchmark may stop on a missing photo: it is not library code.
#![allow(clippy::panic)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};

use _trex::image::decode::{decode, DecodeOptions};
use _trex::image::geometry::CropBox;
use _trex::image::resize::{resized_crop, Interpolation};
use _trex::image::RgbImage;

/// A real photo from Debian's plasma-workspace-wallpapers (`make system-deps`).
const PHOTO: &str = "/usr/share/wallpapers/Autumn/contents/images/2560x1600.jpg";

fn photo() -> RgbImage {
    let data =
        std::fs::read(PHOTO).unwrap_or_else(|e| panic!("{PHOTO}: {e} (run `make system-deps`)"));
    decode(&data, &DecodeOptions::default()).unwrap_or_else(|e| panic!("{PHOTO}: {e}"))
}

fn bench_resize(c: &mut Criterion) {
    let img = photo();
    let centre = |size: usize| CropBox {
        top: (img.height - size) / 2,
        left: (img.width - size) / 2,
        height: size,
        width: size,
    };
    let cases = [
        (
            "400x400 -> 224 bicubic",
            centre(400),
            224,
            Interpolation::Bicubic,
        ),
        (
            "400x400 -> 96 bicubic",
            centre(400),
            96,
            Interpolation::Bicubic,
        ),
        (
            "180x180 -> 96 bicubic",
            centre(180),
            96,
            Interpolation::Bicubic,
        ),
        (
            "400x400 -> 224 bilinear",
            centre(400),
            224,
            Interpolation::Bilinear,
        ),
    ];
    let mut group = c.benchmark_group("resized_crop");
    for (name, crop, size, interp) in cases {
        let mut out = vec![0u8; size * size * 3];
        group.bench_function(name, |b| {
            b.iter(|| {
                resized_crop(
                    black_box(&img.data),
                    img.width,
                    img.height,
                    crop,
                    size,
                    size,
                    interp,
                    &mut out,
                )
                .unwrap_or_else(|e| panic!("{e}"));
                black_box(&out);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_resize);
criterion_main!(benches);
