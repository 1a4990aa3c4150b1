//! The multi-crop loader: epoch plans (shuffle, DDP shard, batches), and a background producer
//! thread that builds batches on a rayon pool, `prefetch` ahead, into buffers from an
//! [`Allocator`] (torch tensors in the bindings, `Vec<u8>` in tests), each sample writing its
//! crops straight into its slots of the batch.
//!
//! Every random draw is keyed on (seed, epoch, sample index, crop index), so batches do not depend
//! on the thread count or on which thread processed a sample.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rayon::prelude::*;

use super::augment::{
    geometry_plan, normalize_lut, render_crop, render_geometry, write_chw_f32, write_chw_u8, Decoded,
};
use super::recipe::{CropParams, Recipe, PARAM_FIELDS};
use crate::image::decode::{self, DecodeOptions, Header};
use crate::image::file::{read_image_file, FileError, MAX_FILE_BYTES};
#[cfg(test)]
use crate::image::resize::apply_plan;
use crate::image::resize::ResamplePlan;
use crate::image::rng::Rng;
use crate::image::{ImageError, Named};

/// Stream tag for the epoch shuffle, apart from the per-sample streams.
const SHUFFLE_STREAM: u64 = u64::MAX;
/// How many consecutive unreadable files `on_error = skip` steps over before giving up.
const MAX_CONSECUTIVE_SKIPS: usize = 64;
/// Batches prepared ahead at most: each one is a whole batch of memory.
pub const MAX_PREFETCH: usize = 64;
/// Decode threads at most.
pub const MAX_THREADS: usize = 1024;

/// The element type of the batches: uint8 0-255, or float32 normalised with (mean, std).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutDtype {
    U8,
    F32,
}

impl OutDtype {
    pub fn size(self) -> usize {
        match self {
            OutDtype::U8 => 1,
            OutDtype::F32 => 4,
        }
    }
}

impl Named for OutDtype {
    const WHAT: &'static str = "dtype";
    const ALL: &'static [(&'static str, Self)] = &[("uint8", OutDtype::U8), ("float32", OutDtype::F32)];
}

/// What an unreadable file does: raise an error naming it, or be replaced by the next readable one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnError {
    Raise,
    Skip,
}

impl Named for OnError {
    const WHAT: &'static str = "on_error";
    const ALL: &'static [(&'static str, Self)] = &[("raise", OnError::Raise), ("skip", OnError::Skip)];
}

/// Every option of a [`Loader`] but the samples and the recipe. The bindings read it, field by
/// field, from `trex.data.loader.LoaderSpec` (src/py/spec.rs): a new option is a field here and
/// one line there, and a field of `LoaderSpec` in Python.
#[derive(Clone, Debug)]
pub struct LoaderConfig {
    pub batch_size: usize,
    pub seed: u64,
    pub shuffle: bool,
    pub drop_last: bool,
    pub rank: usize,
    pub world_size: usize,
    pub num_threads: usize,
    pub prefetch: usize,
    pub dtype: OutDtype,
    pub on_error: OnError,
    pub decode: DecodeOptions,
    pub return_params: bool,
    /// Decode JPEGs at a reduced DCT scale when every crop of the image stays at least as
    /// large as its output at that scale.
    pub dct_scaling: bool,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// Leave the colour stage (jitter, grayscale, blur, solarize) to the consumer: crops are only
    /// resampled and flipped, written as uint8 (needs `dtype` U8), and every batch carries its
    /// parameters (as with `return_params`) for the device stage (`src/augment`) to apply.
    pub defer_colour: bool,
    /// Leave the resampling to the consumer too (needs `defer_colour`): the workers only decode;
    /// each batch carries its decoded images in one flat buffer and every crop's resampling plan
    /// (`Batch::images`, `Batch::plans`) instead of crops.
    pub defer_resize: bool,
}

#[derive(Clone, Debug)]
pub struct Sample {
    pub path: PathBuf,
    pub label: i64,
}

/// Why a sample could not be loaded, with the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleError {
    Io { path: String, kind: std::io::ErrorKind, message: String },
    Image { path: String, error: ImageError },
}

impl std::fmt::Display for SampleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SampleError::Io { path, message, .. } => write!(f, "{path}: {message}"),
            SampleError::Image { path, error } => write!(f, "{path}: {error}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoaderError {
    /// A file could not be loaded (`on_error = raise`).
    #[error("{0}")]
    Sample(SampleError),
    /// `on_error = skip` gave up: this many files in a row, from dataset index `from`, could not
    /// be read; `last` is the last one's error.
    #[error("{count} consecutive files from index {from} could not be read (last: {last})")]
    TooManyUnreadable { count: usize, from: usize, last: String },
    /// An option out of its range (the caller's mistake).
    #[error("{0}")]
    Config(String),
    #[error("could not allocate a batch: {0}")]
    Alloc(String),
    #[error("{0}")]
    Image(#[from] ImageError),
    /// The consumer went away while a batch was being built; nobody is left to see this.
    #[error("the epoch was stopped")]
    Cancelled,
    /// Something that should not happen: a poisoned lock, a thread that could not be started, a
    /// producer that died without a word.
    #[error("{0}")]
    Internal(String),
}

/// Where the producer puts a batch: one buffer per output resolution.
///
/// The producer thread owns every buffer until it queues the batch, and drops the buffers of a
/// batch it discards (an error, or a consumer gone): dropping a `Buf` or an `Out` must therefore
/// never wait for anything the consumer may hold (in the bindings: the GIL).
pub trait Allocator: Send + Sync + 'static {
    type Buf: Send + 'static;
    /// What a filled buffer becomes before it is queued.
    type Out: Send + 'static;
    /// A buffer for `shape` = [crops * batch, 3, H, W] elements of `dtype`.
    fn alloc(&self, shape: [usize; 4], dtype: OutDtype) -> Result<Self::Buf, String>;
    /// The buffer's bytes, valid until the buffer is dropped.
    fn bytes<'a>(&self, buf: &'a mut Self::Buf) -> &'a mut [u8];
    /// Turns a filled buffer into what the consumer receives (on the producer thread).
    fn finish(&self, buf: Self::Buf, shape: [usize; 4], dtype: OutDtype) -> Result<Self::Out, String>;
}

/// The bytes of a [crops * batch, 3, H, W] buffer of `dtype`, or an error when that overflows.
pub fn buffer_bytes(shape: [usize; 4], dtype: OutDtype) -> Result<usize, String> {
    shape
        .iter()
        .try_fold(dtype.size(), |n, &d| n.checked_mul(d))
        .filter(|&n| n <= isize::MAX as usize)
        .ok_or_else(|| format!("a batch buffer of shape {shape:?} is too large"))
}

/// Plain heap buffers, for tests and benchmarks.
pub struct VecAllocator;

impl Allocator for VecAllocator {
    type Buf = Vec<u8>;
    type Out = Vec<u8>;
    fn alloc(&self, shape: [usize; 4], dtype: OutDtype) -> Result<Vec<u8>, String> {
        let n = buffer_bytes(shape, dtype)?;
        let mut v = Vec::new();
        v.try_reserve_exact(n).map_err(|e| format!("{n} bytes: {e}"))?;
        v.resize(n, 0);
        Ok(v)
    }
    fn bytes<'a>(&self, buf: &'a mut Vec<u8>) -> &'a mut [u8] {
        buf.as_mut_slice()
    }
    fn finish(&self, buf: Vec<u8>, _: [usize; 4], _: OutDtype) -> Result<Vec<u8>, String> {
        Ok(buf)
    }
}

/// One batch: buffers per output resolution, crop-major ([n_crops * B, 3, H, W]).
pub struct Batch<B> {
    pub buffers: Vec<B>,
    pub labels: Vec<i64>,
    /// The dataset index each sample came from (a replacement's when a file was skipped).
    pub indices: Vec<i64>,
    /// [n_crops][B][PARAM_FIELDS] when `return_params` or `defer_colour`, else empty.
    pub params: Vec<f64>,
    /// Files skipped while building this batch, with the reason.
    pub skipped: Vec<SampleError>,
    /// With `defer_resize`: where each sample's decoded image lies in the one buffer of
    /// `buffers` (HWC RGB u8, `[pixels, 3, 1, 1]`), in batch order; else empty.
    pub images: Vec<ImageSlot>,
    /// With `defer_resize`: each crop's resampling plan in the decoded image of its sample,
    /// crop-major as `params` (crop c of sample k at `c * B + k`); else empty.
    pub plans: Vec<ResamplePlan>,
}

/// A decoded image inside a batch's flat image buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageSlot {
    /// First pixel (pixels, not bytes, from the start of the buffer).
    pub offset: usize,
    pub width: usize,
    pub height: usize,
}

pub struct Loader {
    samples: Arc<Vec<Sample>>,
    recipe: Arc<Recipe>,
    config: LoaderConfig,
    pool: Mutex<Option<(u32, Arc<rayon::ThreadPool>)>>,
    /// With `defer_resize`: decode buffers given back once their batch has gathered them, so that
    /// the next images decode into memory already mapped (a fresh buffer costs a page fault per
    /// page, as much as the copy).
    spare_images: Mutex<Vec<Vec<u8>>>,
}

impl Loader {
    pub fn new(samples: Vec<Sample>, recipe: Recipe, config: LoaderConfig) -> Result<Loader, LoaderError> {
        recipe.validate()?;
        let c = &config;
        if c.batch_size == 0 {
            return Err(LoaderError::Config("batch_size must be >= 1".into()));
        }
        if c.world_size == 0 || c.rank >= c.world_size {
            return Err(LoaderError::Config(format!("rank {} is not in [0, world_size = {})", c.rank, c.world_size)));
        }
        if c.num_threads == 0 || c.num_threads > MAX_THREADS {
            return Err(LoaderError::Config(format!(
                "num_threads must be in [1, {MAX_THREADS}], got {}",
                c.num_threads
            )));
        }
        if c.prefetch == 0 || c.prefetch > MAX_PREFETCH {
            return Err(LoaderError::Config(format!("prefetch must be in [1, {MAX_PREFETCH}], got {}", c.prefetch)));
        }
        if c.mean.iter().any(|m| !m.is_finite()) {
            return Err(LoaderError::Config(format!("mean {:?} must be finite", c.mean)));
        }
        if c.defer_colour && c.dtype != OutDtype::U8 {
            return Err(LoaderError::Config("a deferred colour stage needs uint8 crops".into()));
        }
        if c.defer_resize && !c.defer_colour {
            return Err(LoaderError::Config("deferring the resampling needs the colour stage deferred too".into()));
        }
        if samples.is_empty() {
            return Err(LoaderError::Config("the dataset is empty".into()));
        }
        if c.std.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(LoaderError::Config(format!("std {:?} must be finite and positive", c.std)));
        }
        Ok(Loader {
            samples: Arc::new(samples),
            recipe: Arc::new(recipe),
            config,
            pool: Mutex::new(None),
            spare_images: Mutex::new(Vec::new()),
        })
    }

    pub fn config(&self) -> &LoaderConfig {
        &self.config
    }

    pub fn recipe(&self) -> &Recipe {
        &self.recipe
    }

    pub fn num_samples(&self) -> usize {
        self.samples.len()
    }

    /// Samples this rank sees per epoch (DistributedSampler's rule).
    fn per_rank(&self) -> usize {
        let (n, ws) = (self.samples.len(), self.config.world_size);
        if self.config.drop_last {
            n / ws
        } else {
            n.div_ceil(ws)
        }
    }

    /// Batches per epoch on this rank; the same on every rank.
    pub fn num_batches(&self) -> usize {
        let (per_rank, b) = (self.per_rank(), self.config.batch_size);
        if self.config.drop_last {
            per_rank / b
        } else {
            per_rank.div_ceil(b)
        }
    }

    /// This rank's sample indices for `epoch`, split into batches. As torch's DistributedSampler:
    /// shuffle with a stream keyed on (seed, epoch), then pad by wrapping (or drop the tail with
    /// `drop_last`) to a multiple of world_size, then take every world_size-th from `rank`.
    pub fn epoch_batches(&self, epoch: u64) -> Vec<Vec<usize>> {
        let n = self.samples.len();
        let (ws, rank) = (self.config.world_size, self.config.rank);
        let mut order: Vec<usize> = (0..n).collect();
        if self.config.shuffle {
            Rng::keyed(self.config.seed, &[epoch, SHUFFLE_STREAM]).shuffle(&mut order);
        }
        let total = self.per_rank() * ws;
        let padded: Vec<usize> = (0..total).map(|i| order[i % n]).collect();
        let mine: Vec<usize> = padded.into_iter().skip(rank).step_by(ws).collect();
        let mut batches: Vec<Vec<usize>> = mine.chunks(self.config.batch_size).map(|c| c.to_vec()).collect();
        if self.config.drop_last && batches.last().is_some_and(|b| b.len() < self.config.batch_size) {
            batches.pop();
        }
        batches
    }

    /// The rayon pool, rebuilt after a fork (a forked child has none of the parent's threads).
    fn pool(&self) -> Result<Arc<rayon::ThreadPool>, LoaderError> {
        let mut slot = self.pool.lock().map_err(|_| LoaderError::Internal("loader pool lock poisoned".into()))?;
        let pid = std::process::id();
        if let Some((owner, pool)) = slot.as_ref() {
            if *owner == pid {
                return Ok(pool.clone());
            }
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.config.num_threads)
            .thread_name(|i| format!("trex-loader-{i}"))
            .build()
            .map_err(|e| LoaderError::Internal(format!("cannot start {} threads: {e}", self.config.num_threads)))?;
        let pool = Arc::new(pool);
        *slot = Some((pid, pool.clone()));
        Ok(pool)
    }

    /// Starts producing `epoch`'s batches in the background.
    pub fn stream<A: Allocator>(self: &Arc<Self>, epoch: u64, alloc: A) -> Result<EpochStream<A::Out>, LoaderError> {
        let pool = self.pool()?;
        let batches = self.epoch_batches(epoch);
        let remaining = batches.len();
        let (tx, rx) = sync_channel(self.config.prefetch.saturating_sub(1));
        let stop = Arc::new(AtomicBool::new(false));
        let (loader, stop_flag) = (self.clone(), stop.clone());
        let handle = std::thread::Builder::new()
            .name("trex-loader-producer".into())
            .spawn(move || {
                for indices in batches {
                    if stop_flag.load(Ordering::Relaxed) {
                        break;
                    }
                    let result = pool
                        .install(|| loader.build_batch(&alloc, epoch, &indices, &stop_flag))
                        .and_then(|batch| loader.finish_batch(&alloc, batch));
                    let failed = result.is_err();
                    if tx.send(result).is_err() || failed {
                        break;
                    }
                }
            })
            .map_err(|e| LoaderError::Internal(format!("cannot start the producer thread: {e}")))?;
        Ok(EpochStream { rx: Some(rx), handle: Some(handle), stop, remaining })
    }

    /// Builds one batch (call inside the pool).
    pub fn build_batch<A: Allocator>(
        &self,
        alloc: &A,
        epoch: u64,
        indices: &[usize],
        stop: &AtomicBool,
    ) -> Result<Batch<A::Buf>, LoaderError> {
        let b = indices.len();
        let dtype = self.config.dtype;
        let outputs = self.recipe.outputs();
        let mut buffers = Vec::with_capacity(outputs.len());
        if !self.config.defer_resize {
            for &(h, w, n) in &outputs {
                buffers.push(alloc.alloc([n * b, 3, h, w], dtype).map_err(LoaderError::Alloc)?);
            }
        }
        // Each sample's slots, in crop order: slot k of an output holds crop k / B of sample k % B.
        let mut slots: Vec<Vec<&mut [u8]>> = (0..b).map(|_| Vec::new()).collect();
        for (buf, &(h, w, _)) in buffers.iter_mut().zip(&outputs) {
            for (k, chunk) in alloc.bytes(buf).chunks_mut(3 * h * w * dtype.size()).enumerate() {
                slots[k % b].push(chunk);
            }
        }
        let results: Vec<Result<SampleOutcome, LoaderError>> = slots
            .into_par_iter()
            .zip(indices.par_iter())
            .map_init(Scratch::default, |scratch, (mut sample_slots, &index)| {
                if stop.load(Ordering::Relaxed) {
                    return Err(LoaderError::Cancelled);
                }
                self.load_sample(epoch, index, &mut sample_slots, scratch)
            })
            .collect();
        let mut batch = Batch {
            buffers,
            labels: Vec::with_capacity(b),
            indices: Vec::with_capacity(b),
            params: Vec::new(),
            skipped: Vec::new(),
            images: Vec::new(),
            plans: Vec::new(),
        };
        let n_crops = self.recipe.num_crops();
        let mut params: Vec<Vec<CropParams>> = Vec::with_capacity(b);
        let mut decoded = Vec::new();
        let mut plans: Vec<Vec<ResamplePlan>> = Vec::new();
        for r in results {
            let outcome = r?;
            batch.labels.push(self.samples[outcome.index].label);
            batch.indices.push(outcome.index as i64);
            batch.skipped.extend(outcome.skipped);
            params.push(outcome.params);
            if let Some(d) = outcome.deferred {
                decoded.push(d.image);
                plans.push(d.plans);
            }
        }
        if self.config.defer_resize {
            batch.images = self.gather_images(alloc, &mut batch.buffers, decoded)?;
            for c in 0..n_crops {
                for p in plans.iter_mut() {
                    batch.plans.push(std::mem::replace(&mut p[c], ResamplePlan::EMPTY));
                }
            }
        }
        if self.config.return_params || self.config.defer_colour {
            batch.params.reserve(n_crops * b * PARAM_FIELDS);
            for c in 0..n_crops {
                for p in &params {
                    batch.params.extend_from_slice(&p[c].to_row());
                }
            }
        }
        Ok(batch)
    }

    /// Copies the decoded images (in the pool, in parallel) into one new buffer, pushed onto
    /// `buffers`, and returns where each lies.
    fn gather_images<A: Allocator>(
        &self,
        alloc: &A,
        buffers: &mut Vec<A::Buf>,
        decoded: Vec<DecodedImage>,
    ) -> Result<Vec<ImageSlot>, LoaderError> {
        let mut slots = Vec::with_capacity(decoded.len());
        let mut offset = 0;
        for d in &decoded {
            slots.push(ImageSlot { offset, width: d.width, height: d.height });
            offset += d.width * d.height;
        }
        let mut buf = alloc.alloc([offset, 3, 1, 1], OutDtype::U8).map_err(LoaderError::Alloc)?;
        let mut rest = alloc.bytes(&mut buf);
        let mut parts = Vec::with_capacity(decoded.len());
        for d in &decoded {
            let (part, tail) = rest.split_at_mut(d.data.len());
            parts.push(part);
            rest = tail;
        }
        parts.into_par_iter().zip(decoded.par_iter()).for_each(|(part, d)| part.copy_from_slice(&d.data));
        buffers.push(buf);
        if let Ok(mut spare) = self.spare_images.lock() {
            let room = self.config.batch_size.saturating_sub(spare.len());
            spare.extend(decoded.into_iter().take(room).map(|d| d.data));
        }
        Ok(slots)
    }

    /// The shape of each buffer of a batch of `b` samples: one per output resolution, or the
    /// flat image buffer of `images` (`defer_resize`).
    fn buffer_shapes(&self, b: usize, images: &[ImageSlot]) -> Vec<[usize; 4]> {
        match images.last() {
            Some(last) if self.config.defer_resize => vec![[last.offset + last.width * last.height, 3, 1, 1]],
            _ => self.recipe.outputs().iter().map(|&(h, w, n)| [n * b, 3, h, w]).collect(),
        }
    }

    /// Hands each filled buffer of `batch` to the allocator's `finish`.
    pub fn finish_batch<A: Allocator>(&self, alloc: &A, batch: Batch<A::Buf>) -> Result<Batch<A::Out>, LoaderError> {
        let b = batch.labels.len();
        let dtype = if self.config.defer_resize { OutDtype::U8 } else { self.config.dtype };
        let buffers = batch
            .buffers
            .into_iter()
            .zip(self.buffer_shapes(b, &batch.images))
            .map(|(buf, shape)| alloc.finish(buf, shape, dtype).map_err(LoaderError::Alloc))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Batch {
            buffers,
            labels: batch.labels,
            indices: batch.indices,
            params: batch.params,
            skipped: batch.skipped,
            images: batch.images,
            plans: batch.plans,
        })
    }

    /// Loads sample `index` into its slots; with `on_error = skip`, a failing file is replaced
    /// by the next readable one in dataset order.
    fn load_sample(
        &self,
        epoch: u64,
        index: usize,
        slots: &mut [&mut [u8]],
        scratch: &mut Scratch,
    ) -> Result<SampleOutcome, LoaderError> {
        let n = self.samples.len();
        let mut skipped = Vec::new();
        for attempt in 0..MAX_CONSECUTIVE_SKIPS.min(n) {
            let i = (index + attempt) % n;
            match self.render_sample(epoch, i, slots, scratch) {
                Ok((params, deferred)) => return Ok(SampleOutcome { index: i, params, deferred, skipped }),
                Err(e) if self.config.on_error == OnError::Skip => skipped.push(e),
                Err(e) => return Err(LoaderError::Sample(e)),
            }
        }
        let last = skipped.last().map(|e| e.to_string()).unwrap_or_default();
        Err(LoaderError::TooManyUnreadable { count: skipped.len(), from: index, last })
    }

    fn render_sample(
        &self,
        epoch: u64,
        index: usize,
        slots: &mut [&mut [u8]],
        scratch: &mut Scratch,
    ) -> Result<(Vec<CropParams>, Option<Deferred>), SampleError> {
        let sample = &self.samples[index];
        let path = || sample.path.display().to_string();
        let image_err = |error| SampleError::Image { path: path(), error };
        let data = read_image_file(&sample.path, MAX_FILE_BYTES).map_err(|e| match e {
            FileError::Io(e) => SampleError::Io { path: path(), kind: e.kind(), message: e.to_string() },
            FileError::Image(e) => image_err(e),
        })?;
        let header = decode::read_header(&data, &self.config.decode).map_err(image_err)?;
        let (width, height) = header.size();
        let params = self.recipe.sample_params(width, height, self.config.seed, epoch, index as u64);
        let denom = if self.config.dct_scaling { dct_denominator(&header, &params, &self.recipe) } else { 1 };
        let (dw, dh) = header.scaled_size(denom);
        scratch.decoded.resize(dw * dh * 3, 0);
        decode::decode_into(&data, &header, denom, &mut scratch.decoded).map_err(image_err)?;
        let lut = match self.config.dtype {
            OutDtype::F32 => Some(scratch.lut(self.config.mean, self.config.std)),
            OutDtype::U8 => None,
        };
        let img = Decoded {
            data: &scratch.decoded,
            width: dw,
            height: dh,
            scale_x: dw as f64 / width as f64,
            scale_y: dh as f64 / height as f64,
        };
        if self.config.defer_resize {
            let plans = self
                .recipe
                .crop_groups()
                .zip(&params)
                .map(|(group, p)| geometry_plan(&img, group, p))
                .collect::<Result<Vec<_>, _>>()
                .map_err(image_err)?;
            // The image leaves with the batch; the next sample decodes into a spare buffer.
            let spare = self.spare_images.lock().ok().and_then(|mut s| s.pop()).unwrap_or_default();
            let data = std::mem::replace(&mut scratch.decoded, spare);
            let image = DecodedImage { data, width: dw, height: dh };
            return Ok((params, Some(Deferred { image, plans })));
        }
        for ((group, p), slot) in self.recipe.crop_groups().zip(&params).zip(slots.iter_mut()) {
            if self.config.defer_colour {
                render_geometry(&img, group, p, &mut scratch.crop).map_err(image_err)?;
            } else {
                render_crop(&img, group, p, &mut scratch.crop, &mut scratch.blur).map_err(image_err)?;
            }
            match &lut {
                None => write_chw_u8(&scratch.crop, slot),
                Some(lut) => {
                    // SAFETY-free cast: align_to_mut only yields the aligned middle part.
                    let (head, floats, tail) = unsafe { slot.align_to_mut::<f32>() };
                    if !head.is_empty() || !tail.is_empty() {
                        return Err(image_err(ImageError::Parameter("float32 output buffer is not aligned".into())));
                    }
                    write_chw_f32(&scratch.crop, lut, floats)
                }
            }
            .map_err(image_err)?;
        }
        Ok((params, None))
    }
}

/// The largest DCT scale denominator at which every crop box still covers at least its output
/// size, so the resampler only ever downsamples from more pixels than it writes.
pub fn dct_denominator(header: &Header, params: &[CropParams], recipe: &Recipe) -> usize {
    let (w, h) = header.size();
    let mut best = 1;
    for &d in header.supported_denominators() {
        let (sw, sh) = header.scaled_size(d);
        let (fx, fy) = (sw as f64 / w as f64, sh as f64 / h as f64);
        let fits = recipe
            .crop_groups()
            .zip(params)
            .all(|(g, p)| p.crop.width as f64 * fx >= g.size.1 as f64 && p.crop.height as f64 * fy >= g.size.0 as f64);
        if fits {
            best = best.max(d);
        }
    }
    best
}

struct SampleOutcome {
    index: usize,
    params: Vec<CropParams>,
    /// With `defer_resize`: the decoded image and the crops' plans.
    deferred: Option<Deferred>,
    skipped: Vec<SampleError>,
}

struct DecodedImage {
    data: Vec<u8>,
    width: usize,
    height: usize,
}

struct Deferred {
    image: DecodedImage,
    plans: Vec<ResamplePlan>,
}

/// Per-thread buffers reused across samples.
#[derive(Default)]
struct Scratch {
    decoded: Vec<u8>,
    crop: Vec<u8>,
    blur: Vec<f32>,
    lut: Option<CachedLut>,
}

/// A normalisation table and the (mean, std) it was built for.
type CachedLut = ([f32; 3], [f32; 3], Box<[[f32; 256]; 3]>);

impl Scratch {
    fn lut(&mut self, mean: [f32; 3], std: [f32; 3]) -> [[f32; 256]; 3] {
        match &self.lut {
            Some((m, s, l)) if *m == mean && *s == std => **l,
            _ => {
                let l = normalize_lut(mean, std);
                self.lut = Some((mean, std, Box::new(l)));
                l
            }
        }
    }
}

/// An epoch being produced in the background. Dropping it stops the producer and joins it.
pub struct EpochStream<B: Send + 'static> {
    rx: Option<Receiver<Result<Batch<B>, LoaderError>>>,
    handle: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    remaining: usize,
}

pub enum Next<B> {
    Batch(Result<Batch<B>, LoaderError>),
    /// Nothing yet; poll again (lets the caller check for Ctrl-C in between).
    Pending,
    Done,
}

impl<B: Send + 'static> EpochStream<B> {
    pub fn remaining(&self) -> usize {
        self.remaining
    }

    pub fn next_timeout(&mut self, timeout: Duration) -> Next<B> {
        if self.remaining == 0 {
            self.shutdown();
            return Next::Done;
        }
        let Some(rx) = self.rx.as_ref() else { return Next::Done };
        match rx.recv_timeout(timeout) {
            Ok(result) => {
                self.remaining -= 1;
                if result.is_err() {
                    self.remaining = 0;
                    self.shutdown();
                }
                Next::Batch(result)
            }
            Err(RecvTimeoutError::Timeout) => Next::Pending,
            Err(RecvTimeoutError::Disconnected) => {
                self.remaining = 0;
                self.shutdown();
                Next::Batch(Err(LoaderError::Internal("the loader's producer thread stopped unexpectedly".into())))
            }
        }
    }

    /// Blocking `next`, for Rust callers.
    pub fn next_blocking(&mut self) -> Option<Result<Batch<B>, LoaderError>> {
        loop {
            match self.next_timeout(Duration::from_millis(100)) {
                Next::Batch(b) => return Some(b),
                Next::Pending => continue,
                Next::Done => return None,
            }
        }
    }

    /// Stops the producer, drops what it prepared and waits for it to exit (at most one batch).
    pub fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        drop(self.rx.take()); // unblocks a producer waiting to send
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl<B: Send + 'static> Drop for EpochStream<B> {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::image::resize::Interpolation;
    use crate::pipeline::recipe::{CropGroup, Jitter};

    fn recipe() -> Recipe {
        let group = |count, size: usize, scale| CropGroup {
            count,
            size: (size, size),
            scale,
            ratio: (0.75, 4.0 / 3.0),
            interpolation: Interpolation::Bicubic,
            flip_p: 0.5,
            jitter: Jitter { p: 0.8, brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1 },
            grayscale_p: 0.2,
            blur_p: 0.5,
            blur_sigma: (0.1, 2.0),
            solarize_p: 0.2,
            solarize_threshold: 128,
        };
        Recipe { groups: vec![group(1, 32, (0.25, 1.0)), group(3, 16, (0.05, 0.25))] }
    }

    fn config(rank: usize, world_size: usize, drop_last: bool) -> LoaderConfig {
        LoaderConfig {
            batch_size: 4,
            seed: 5,
            shuffle: true,
            drop_last,
            rank,
            world_size,
            num_threads: 1,
            prefetch: 2,
            dtype: OutDtype::U8,
            on_error: OnError::Raise,
            decode: DecodeOptions::default(),
            return_params: true,
            dct_scaling: true,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
            defer_colour: false,
            defer_resize: false,
        }
    }

    fn samples(n: usize) -> Vec<Sample> {
        (0..n).map(|i| Sample { path: PathBuf::from(format!("/nonexistent/{i}.jpg")), label: i as i64 }).collect()
    }

    #[test]
    fn shards_cover_the_dataset_once_with_equal_batch_counts() {
        let n = 48;
        let mut seen = vec![0; n];
        let mut counts = Vec::new();
        for rank in 0..3 {
            let loader = Loader::new(samples(n), recipe(), config(rank, 3, true)).unwrap();
            let batches = loader.epoch_batches(2);
            counts.push(batches.len());
            assert_eq!(batches.len(), loader.num_batches());
            for i in batches.into_iter().flatten() {
                seen[i] += 1;
            }
        }
        assert!(seen.iter().all(|&c| c == 1), "{seen:?}");
        assert!(counts.iter().all(|&c| c == counts[0]));
    }

    #[test]
    fn uneven_datasets_pad_or_drop_like_distributed_sampler() {
        // 10 samples over 3 ranks: padded to 12 (4 each), or cut to 9 (3 each).
        for (drop_last, per_rank) in [(false, 4), (true, 3)] {
            let mut total = 0;
            for rank in 0..3 {
                let mut c = config(rank, 3, drop_last);
                c.batch_size = 1;
                let loader = Loader::new(samples(10), recipe(), c).unwrap();
                let b = loader.epoch_batches(0);
                assert_eq!(b.len(), per_rank);
                total += b.len();
            }
            assert_eq!(total, per_rank * 3);
        }
    }

    #[test]
    fn epochs_reshuffle_and_seeds_reproduce() {
        let loader = Loader::new(samples(64), recipe(), config(0, 1, true)).unwrap();
        assert_ne!(loader.epoch_batches(0), loader.epoch_batches(1));
        assert_eq!(loader.epoch_batches(1), loader.epoch_batches(1));
    }

    #[test]
    fn missing_file_is_an_error_naming_it() {
        let loader = Arc::new(Loader::new(samples(8), recipe(), config(0, 1, true)).unwrap());
        let mut stream = loader.stream(0, VecAllocator).unwrap();
        let err = stream.next_blocking().unwrap().err().unwrap();
        assert!(err.to_string().contains("/nonexistent/"), "{err}");
        assert!(stream.next_blocking().is_none());
    }

    #[test]
    fn bad_configs_are_refused() {
        assert!(Loader::new(samples(8), recipe(), config(3, 3, true)).is_err());
        assert!(Loader::new(Vec::new(), recipe(), config(0, 1, true)).is_err());
        let mut r = recipe();
        r.groups[0].scale = (0.5, 0.2);
        assert!(Loader::new(samples(8), r, config(0, 1, true)).is_err());
        // Size-like options: refused, not allocated (prefetch 2**40 aborted the process).
        for edit in [
            (|c: &mut LoaderConfig| c.prefetch = 0) as fn(&mut LoaderConfig),
            |c| c.prefetch = MAX_PREFETCH + 1,
            |c| c.prefetch = 1 << 40,
            |c| c.num_threads = 0,
            |c| c.num_threads = MAX_THREADS + 1,
            |c| c.batch_size = 0,
            |c| c.mean[1] = f32::NAN,
            |c| c.std[2] = 0.0,
            |c| {
                c.defer_colour = true; // the device stage takes uint8 crops
                c.dtype = OutDtype::F32;
            },
        ] {
            let mut c = config(0, 1, true);
            edit(&mut c);
            assert!(matches!(Loader::new(samples(8), recipe(), c), Err(LoaderError::Config(_))));
        }
        let mut c = config(0, 1, true);
        c.prefetch = MAX_PREFETCH;
        assert!(Loader::new(samples(8), recipe(), c).is_ok());
        let mut r = recipe();
        r.groups[1].count = crate::pipeline::recipe::MAX_CROPS;
        assert!(Loader::new(samples(8), r, config(0, 1, true)).is_err());
        let mut r = recipe();
        r.groups[0].size = (100_000, 100_000);
        assert!(Loader::new(samples(8), r, config(0, 1, true)).is_err());
    }

    #[test]
    fn a_stopped_batch_is_cancelled_not_a_config_error() {
        let loader = Loader::new(samples(8), recipe(), config(0, 1, true)).unwrap();
        let stop = AtomicBool::new(true);
        let err = loader.build_batch(&VecAllocator, 0, &[0, 1, 2, 3], &stop).err().unwrap();
        assert!(matches!(err, LoaderError::Cancelled), "{err:?}");
    }

    #[test]
    fn unreadable_files_are_skipped_without_reading_them() {
        let dir = std::env::temp_dir().join(format!("trex-loader-skip-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = dir.join("text.jpg");
        std::fs::write(&text, b"not an image").unwrap();
        let mut s = samples(4);
        s[0].path = PathBuf::from("/dev/zero");
        s[1].path = text;
        let mut c = config(0, 1, false);
        c.on_error = OnError::Skip;
        c.shuffle = false;
        let loader = Arc::new(Loader::new(s, recipe(), c).unwrap());
        // Every file is unreadable: the loader gives up with an error naming the last one.
        let err = loader.stream(0, VecAllocator).unwrap().next_blocking().unwrap().err().unwrap();
        assert!(err.to_string().contains("could not be read"), "{err}");
        assert!(matches!(err, LoaderError::TooManyUnreadable { count: 4, from: 0, .. }), "{err:?}");
    }

    #[test]
    fn deferred_resampling_plans_reproduce_the_crops() {
        let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let s: Vec<Sample> = ["chelsea.jpg", "astronaut.jpg", "chelsea.jpg"]
            .iter()
            .enumerate()
            .map(|(i, f)| Sample { path: fixtures.join(f), label: i as i64 })
            .collect();
        let mut c = config(0, 1, false);
        c.batch_size = 3;
        c.defer_colour = true;
        let crops = Loader::new(s.clone(), recipe(), c.clone()).unwrap();
        c.defer_resize = true;
        let plans = Loader::new(s, recipe(), c).unwrap();
        let alloc = VecAllocator;
        let stop = AtomicBool::new(false);
        let a = crops.build_batch(&alloc, 2, &[0, 1, 2], &stop).unwrap();
        let b = plans.build_batch(&alloc, 2, &[0, 1, 2], &stop).unwrap();
        let b = plans.finish_batch(&alloc, b).unwrap();
        assert_eq!(a.params, b.params);
        assert_eq!((b.buffers.len(), b.images.len(), b.plans.len()), (1, 3, 3 * 4));
        let flat = &b.buffers[0];
        let last = b.images[2];
        assert_eq!(flat.len(), (last.offset + last.width * last.height) * 3);
        // Crop c of sample k: slot c * B + k; outputs are (1 crop of 32) and (3 of 16).
        let mut checked = 0;
        for (c, (out, slot_in_out)) in [(0, 0), (1, 0), (1, 1), (1, 2)].into_iter().enumerate() {
            let size = if out == 0 { 32 } else { 16 };
            for k in 0..3 {
                let img = b.images[k];
                let src = &flat[img.offset * 3..(img.offset + img.width * img.height) * 3];
                let mut hwc = vec![0u8; size * size * 3];
                apply_plan(src, img.width, img.height, &b.plans[c * 3 + k], &mut hwc).unwrap();
                let mut chw = vec![0u8; hwc.len()];
                write_chw_u8(&hwc, &mut chw).unwrap();
                let at = (slot_in_out * 3 + k) * chw.len();
                assert!(chw == a.buffers[out][at..at + chw.len()], "crop {c} of sample {k}");
                checked += 1;
            }
        }
        assert_eq!(checked, 12);
    }
}
