//! JPEG decoders on the same real, ImageNet-sized files: libjpeg-turbo through trex's decoder
//! (full size and 1/2 DCT scaling) and zune-jpeg, plus the cost of the TurboJPEG handle that trex
//! makes for each image.
//!
//! The files come from `trex.data.photos.make_corpus` (real photos cut to a short side of
//! 300-500 px, quality 75-95, a quarter progressive). `make bench-rust` makes them and runs this;
//! by hand:
//!   .venv/bin/python -c "from trex.data.photos import make_corpus; make_corpus('.bench/corpus', 200)"
//!   TREX_BENCH_CORPUS=.bench/corpus cargo bench --bench decode
//! Time is this thread's CPU time (not wall time), so throughput is images per second of one
//! core, and other processes on a shared machine do not count against it.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::path::PathBuf;

use _trex::image::decode::{self, DecodeOptions};
use criterion::measurement::ValueFormatter;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::JpegDecoder;

#[path = "cpu_time.rs"]
mod cpu_time;
use cpu_time::ThreadCpuTime;

struct CpuFormatter;

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, _typical: f64, values: &mut [f64]) -> &'static str {
        values.iter_mut().for_each(|v| *v /= 1e6);
        "ms (CPU)"
    }
    fn scale_throughputs(&self, _typical: f64, t: &Throughput, values: &mut [f64]) -> &'static str {
        let n = match t {
            Throughput::Elements(n) | Throughput::ElementsAndBytes { elements: n, .. } => *n as f64,
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) | Throughput::Bits(n) => *n as f64,
        };
        values.iter_mut().for_each(|v| *v = n * 1e9 / *v);
        "images/s/core"
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

fn corpus() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(std::env::var("TREX_BENCH_CORPUS").unwrap_or_else(|_| ".bench/corpus".into()));
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}; make the corpus first (see the top of this file)", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jpg"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no .jpg files in {}", dir.display());
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn zune_rgb(data: &[u8]) -> Vec<u8> {
    let options = zune_jpeg::zune_core::options::DecoderOptions::default()
        .jpeg_set_out_colorspace(zune_jpeg::zune_core::colorspace::ColorSpace::RGB);
    JpegDecoder::new_with_options(ZCursor::new(data), options).decode().unwrap()
}

/// How far zune-jpeg's pixels are from libjpeg-turbo's (which equal Pillow's).
fn report_agreement(files: &[Vec<u8>]) {
    let opts = DecodeOptions::default();
    let (mut sum, mut n, mut worst, mut pixels) = (0u64, 0u64, 0u8, 0usize);
    for data in files {
        let ours = decode::decode(data, &opts).unwrap();
        let zune = zune_rgb(data);
        assert_eq!(zune.len(), ours.data.len(), "zune-jpeg gave another size");
        for (a, b) in ours.data.iter().zip(&zune) {
            let d = a.abs_diff(*b);
            sum += d as u64;
            worst = worst.max(d);
        }
        n += ours.data.len() as u64;
        pixels += ours.width * ours.height;
    }
    eprintln!(
        "corpus: {} files, {:.0} pixels on average; zune-jpeg vs libjpeg-turbo: mean |diff| {:.3}, max {}",
        files.len(),
        pixels as f64 / files.len() as f64,
        sum as f64 / n as f64,
        worst
    );
}

fn bench(c: &mut Criterion<ThreadCpuTime>) {
    let files = corpus();
    report_agreement(&files);
    let opts = DecodeOptions::default();
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(files.len() as u64));
    g.sample_size(10);
    g.bench_function("turbojpeg (trex decode, full size)", |b| {
        b.iter(|| {
            for data in &files {
                std::hint::black_box(decode::decode(data, &opts).unwrap());
            }
        })
    });
    g.bench_function("turbojpeg (trex decode, 1/2 DCT scale)", |b| {
        b.iter_batched(
            || (),
            |_| {
                for data in &files {
                    let header = decode::read_header(data, &opts).unwrap();
                    let (w, h) = header.scaled_size(2);
                    let mut out = vec![0u8; w * h * 3];
                    decode::decode_into(data, &header, 2, &mut out).unwrap();
                    std::hint::black_box(out);
                }
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("turbojpeg handle create + destroy only", |b| {
        b.iter(|| {
            for _ in &files {
                std::hint::black_box(turbojpeg::Decompressor::new().unwrap());
            }
        })
    });
    g.bench_function("zune-jpeg", |b| {
        b.iter(|| {
            for data in &files {
                std::hint::black_box(zune_rgb(data));
            }
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpuTime(&CpuFormatter));
    targets = bench
}
criterion_main!(benches);
