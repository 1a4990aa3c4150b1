//! The prototype memory: a FIFO ring of (feature, label) entries with per-class running sums.
//!
//! The state is six tensors that the Python `trex.PrototypeMemory` module owns as buffers; the
//! functions here update them in place, on whatever device they live on:
//!
//! | tensor     | shape         | dtype   | meaning                                            |
//! |------------|---------------|---------|----------------------------------------------------|
//! | `features` | [size, dim]   | float32 | stored features (zero rows while empty)            |
//! | `labels`   | [size]        | int64   | their labels, -1 for an empty slot                 |
//! | `sums`     | [classes, dim]| float64 | per-class sum of the stored features               |
//! | `counts`   | [classes]     | int64   | per-class number of stored entries                 |
//! | `position` | []            | int64   | next slot to write, in [0, size)                   |
//! | `pushes`   | []            | int64   | number of pushes so far (drives the recompute)     |
//!
//! Invariant: `sums[k]` is the sum of the features whose label is `k` and `counts[k]` their
//! number. A push keeps it incrementally (subtract the overwritten rows, add the written ones),
//! O(batch x dim); every `recompute_every` pushes the sums are rebuilt exactly from the stored
//! entries, O(size x dim), so rounding cannot build up. Sums are float64, so between two
//! recomputes they drift by ~1e-16 relative per push.

use tch::{Device, Kind, Tensor};

use super::check;
use super::error::{BankError, Result};

/// Handles on the memory's six tensors (shared storage: updates here are the caller's updates).
pub struct Memory {
    pub features: Tensor,
    pub labels: Tensor,
    pub sums: Tensor,
    pub counts: Tensor,
    pub position: Tensor,
    pub pushes: Tensor,
    size: i64,
    dim: i64,
    num_classes: i64,
    device: Device,
}

/// The names of the memory's state tensors, in the order of [`Memory::into_state`] and
/// [`Memory::from_state`] (the one list: Python's buffers and state dicts use these names).
pub const STATE: [&str; 6] = ["features", "labels", "sums", "counts", "position", "pushes"];

impl Memory {
    /// The state tensors, in [`STATE`]'s order.
    pub fn into_state(self) -> [Tensor; 6] {
        [self.features, self.labels, self.sums, self.counts, self.position, self.pushes]
    }

    /// [`Memory::from_tensors`] of the state tensors in [`STATE`]'s order.
    pub fn from_state(state: [Tensor; 6]) -> Result<Self> {
        let [features, labels, sums, counts, position, pushes] = state;
        Self::from_tensors(features, labels, sums, counts, position, pushes)
    }

    /// A new empty memory on `device`.
    pub fn new(size: i64, dim: i64, num_classes: i64, device: Device) -> Result<Self> {
        for (name, value) in [("size", size), ("dim", dim), ("num_classes", num_classes)] {
            if value < 1 {
                return Err(BankError::Parameter(format!("{name} must be >= 1, got {value}")));
            }
        }
        let features = Tensor::f_zeros([size, dim], (Kind::Float, device))?;
        let labels = Tensor::f_full([size], -1, (Kind::Int64, device))?;
        let sums = Tensor::f_zeros([num_classes, dim], (Kind::Double, device))?;
        let counts = Tensor::f_zeros([num_classes], (Kind::Int64, device))?;
        let position = Tensor::f_zeros([] as [i64; 0], (Kind::Int64, device))?;
        let pushes = Tensor::f_zeros([] as [i64; 0], (Kind::Int64, device))?;
        Self::from_tensors(features, labels, sums, counts, position, pushes)
    }

    /// Wraps existing state tensors after checking their shapes, dtypes and devices (they may
    /// come from a hand-edited state dict).
    pub fn from_tensors(
        features: Tensor,
        labels: Tensor,
        sums: Tensor,
        counts: Tensor,
        position: Tensor,
        pushes: Tensor,
    ) -> Result<Self> {
        check::exact_kind("memory features", &features, Kind::Float, "float32")?;
        let fshape = check::shape("memory features", &features, &[None, None], "[size, dim]")?;
        let (size, dim) = (fshape[0], fshape[1]);
        if size < 1 || dim < 1 {
            return Err(BankError::Parameter(format!(
                "memory features must be [size, dim] with size, dim >= 1, got {}",
                check::shape_name(&fshape)
            )));
        }
        check::exact_kind("memory labels", &labels, Kind::Int64, "int64")?;
        check::shape("memory labels", &labels, &[Some(size)], &format!("[{size}]"))?;
        check::exact_kind("memory sums", &sums, Kind::Double, "float64")?;
        let sshape = check::shape("memory sums", &sums, &[None, Some(dim)], &format!("[num_classes, {dim}]"))?;
        let num_classes = sshape[0];
        if num_classes < 1 {
            return Err(BankError::Parameter("memory sums must have at least one class row".into()));
        }
        check::exact_kind("memory counts", &counts, Kind::Int64, "int64")?;
        check::shape("memory counts", &counts, &[Some(num_classes)], &format!("[{num_classes}]"))?;
        check::exact_kind("memory position", &position, Kind::Int64, "int64")?;
        check::shape("memory position", &position, &[], "0-dim")?;
        check::exact_kind("memory pushes", &pushes, Kind::Int64, "int64")?;
        check::shape("memory pushes", &pushes, &[], "0-dim")?;
        let device = features.device();
        for (name, t) in [
            ("memory labels", &labels),
            ("memory sums", &sums),
            ("memory counts", &counts),
            ("memory position", &position),
            ("memory pushes", &pushes),
        ] {
            check::same_device(name, t, "memory features", device)?;
        }
        Ok(Self { features, labels, sums, counts, position, pushes, size, dim, num_classes, device })
    }

    pub fn size(&self) -> i64 {
        self.size
    }

    pub fn dim(&self) -> i64 {
        self.dim
    }

    pub fn num_classes(&self) -> i64 {
        self.num_classes
    }

    pub fn device(&self) -> Device {
        self.device
    }

    /// Writes a batch at the write position, wrapping around the end, exactly as if its rows were
    /// pushed one at a time (so a batch longer than the memory keeps its last `size` rows). Every `recompute_every` pushes (0: never) the sums are
    /// then rebuilt exactly.
    ///
    /// `features`: [batch, dim], any float dtype (stored as float32), same device as the memory.
    /// `labels`: [batch], any integer dtype, values in [0, num_classes).
    ///
    /// Everything is checked before anything is written: a refused push leaves the memory as it
    /// was. One device-to-host copy (labels' range, non-finite count, push counter) per push.
    pub fn push(&mut self, features: &Tensor, labels: &Tensor, recompute_every: i64) -> Result<()> {
        let _guard = tch::no_grad_guard();
        if recompute_every < 0 {
            return Err(BankError::Parameter(format!("recompute_every must be >= 0, got {recompute_every}")));
        }
        let expected = format!("[batch, {}]", self.dim);
        let fshape = check::shape("features", features, &[None, Some(self.dim)], &expected)?;
        let lshape = check::shape("labels", labels, &[None], "[batch]")?;
        check::same_rows("features", fshape[0], "labels", lshape[0])?;
        check::floating("features", features)?;
        check::integer("labels", labels)?;
        check::same_device("features", features, "the memory", self.device)?;
        check::same_device("labels", labels, "the memory", self.device)?;
        let batch = fshape[0];
        if batch == 0 {
            return Ok(());
        }
        // Every row is checked, also those of an oversized batch that the wrap-around would
        // overwrite: a label out of range or a NaN anywhere refuses the whole push.
        let all_features = features.f_detach()?.f_to_kind(Kind::Float)?;
        let all_labels = labels.f_to_kind(Kind::Int64)?;
        // Only the last `size` rows of an oversized batch would survive the wrap-around.
        let keep = batch.min(self.size);
        let (new_features, new_labels) = if keep < batch {
            (all_features.f_narrow(0, batch - keep, keep)?, all_labels.f_narrow(0, batch - keep, keep)?)
        } else {
            (all_features.shallow_clone(), all_labels.shallow_clone())
        };
        let added = new_features.f_to_kind(Kind::Double)?;

        // Row i of the batch goes to slot (position + i) % size, as if the rows were pushed one
        // at a time; only the kept rows are written, so the slots are distinct.
        let slots = Tensor::f_arange(keep, (Kind::Int64, self.device))?
            .f_add(&self.position)?
            .f_add_scalar(batch - keep)?
            .f_remainder(self.size)?;
        let old_labels = self.labels.f_index_select(0, &slots)?;

        // One host round trip for every check on values: the batch's labels and features, and
        // the labels about to be overwritten (a hand-edited buffer must not make a push fail
        // half-way). The float64 sum of float32 values cannot overflow, so it is finite exactly
        // when every feature is.
        let (min, max) = all_labels.f_aminmax(None::<i64>, false)?;
        let (old_min, old_max) = old_labels.f_aminmax(None::<i64>, false)?;
        let stats = Tensor::f_stack(
            &[
                min.f_to_kind(Kind::Double)?,
                max.f_to_kind(Kind::Double)?,
                self.pushes.f_to_kind(Kind::Double)?,
                all_features.f_sum(Kind::Double)?,
                old_min.f_to_kind(Kind::Double)?,
                old_max.f_to_kind(Kind::Double)?,
            ],
            0,
        )?
        .f_to_device(Device::Cpu)?;
        let values = [0i64, 1, 2, 3, 4, 5].map(|i| stats.f_double_value(&[i]));
        let [min, max, pushes, total, old_min, old_max] = values;
        check::label_range(min? as i64, max? as i64, self.num_classes)?;
        if !total?.is_finite() {
            let count = all_features.f_isfinite()?.f_logical_not()?.f_sum(Kind::Int64)?.f_int64_value(&[])?;
            return Err(BankError::NonFinite { name: "features", count });
        }
        let (old_min, old_max) = (old_min? as i64, old_max? as i64);
        if old_min < -1 || old_max >= self.num_classes {
            return Err(BankError::Parameter(format!(
                "the memory's labels buffer holds values from {old_min} to {old_max}, outside [-1, {}): \
                 the memory is corrupt (call reset())",
                self.num_classes
            )));
        }
        let pushes = pushes? as i64;

        let old_index = old_labels.f_clamp_min(0)?;
        let occupied = old_labels.f_ge(0)?.f_to_kind(Kind::Int64)?;
        // -1 for an occupied slot, 0 for an empty one (sent to class 0, adding nothing); float32
        // rows times float64 weights give the float64 rows to subtract in one pass.
        let weights = occupied.f_neg()?;
        let removed =
            self.features.f_index_select(0, &slots)?.f_mul(&weights.f_to_kind(Kind::Double)?.f_unsqueeze(1)?)?;
        let _ = self.sums.f_index_add_(0, &old_index, &removed)?;
        let _ = self.sums.f_index_add_(0, &new_labels, &added)?;
        let _ = self.counts.f_index_add_(0, &old_index, &weights)?;
        let _ = self.counts.f_index_add_(0, &new_labels, &Tensor::f_ones([keep], (Kind::Int64, self.device))?)?;
        let _ = self.features.f_index_copy_(0, &slots, &new_features)?;
        let _ = self.labels.f_index_copy_(0, &slots, &new_labels)?;
        let _ = self.position.f_add_scalar_(batch % self.size)?;
        let _ = self.position.f_remainder_(self.size)?;
        let _ = self.pushes.f_add_scalar_(1)?;
        if recompute_every > 0 && (pushes + 1) % recompute_every == 0 {
            self.recompute()?;
        }
        Ok(())
    }

    /// Checks that the state is one a sequence of pushes can produce, before it is loaded (a
    /// hand-edited or corrupt checkpoint): labels in [-1, num_classes), finite features, counts
    /// equal to the number of stored entries per class, finite sums, position in [0, size),
    /// pushes >= 0. One device-to-host copy. Changes nothing.
    pub fn validate(&self) -> Result<()> {
        let _guard = tch::no_grad_guard();
        let (lmin, lmax) = self.labels.f_aminmax(None::<i64>, false)?;
        let occupied = self.labels.f_ge(0)?;
        let expected = Tensor::f_zeros([self.num_classes], (Kind::Int64, self.device))?.f_index_add(
            0,
            &self.labels.f_clamp(0, self.num_classes - 1)?,
            &occupied.f_to_kind(Kind::Int64)?,
        )?;
        let count_mismatch = expected.f_ne_tensor(&self.counts)?.f_sum(Kind::Int64)?;
        let nonfinite_features = self.features.f_isfinite()?.f_logical_not()?.f_sum(Kind::Int64)?;
        let nonfinite_sums = self.sums.f_isfinite()?.f_logical_not()?.f_sum(Kind::Int64)?;
        let stats = Tensor::f_stack(
            &[
                lmin,
                lmax,
                count_mismatch,
                nonfinite_features,
                nonfinite_sums,
                self.position.f_to_kind(Kind::Int64)?,
                self.pushes.f_to_kind(Kind::Int64)?,
            ],
            0,
        )?
        .f_to_device(Device::Cpu)?;
        let v = |i: i64| stats.f_int64_value(&[i]);
        let (lmin, lmax) = (v(0)?, v(1)?);
        if lmin < -1 || lmax >= self.num_classes {
            return Err(BankError::Parameter(format!(
                "memory labels must lie in [-1, {}) (-1: empty slot), got values from {lmin} to {lmax}",
                self.num_classes
            )));
        }
        let nonfinite = v(3)?;
        if nonfinite > 0 {
            return Err(BankError::NonFinite { name: "memory features", count: nonfinite });
        }
        let nonfinite = v(4)?;
        if nonfinite > 0 {
            return Err(BankError::NonFinite { name: "memory sums", count: nonfinite });
        }
        let mismatched = v(2)?;
        if mismatched > 0 {
            return Err(BankError::Parameter(format!(
                "memory counts must equal the number of stored entries of each class; {mismatched} classes do not"
            )));
        }
        let (position, pushes) = (v(5)?, v(6)?);
        if !(0..self.size).contains(&position) {
            return Err(BankError::Parameter(format!("memory position must be in [0, {}), got {position}", self.size)));
        }
        if pushes < 0 {
            return Err(BankError::Parameter(format!("memory pushes must be >= 0, got {pushes}")));
        }
        Ok(())
    }

    /// Rebuilds `sums` and `counts` exactly from the stored entries.
    pub fn recompute(&mut self) -> Result<()> {
        let _guard = tch::no_grad_guard();
        let occupied = self.labels.f_ge(0)?;
        let index = self.labels.f_clamp_min(0)?;
        let rows = self.features.f_to_kind(Kind::Double)?.f_mul(&occupied.f_unsqueeze(1)?)?;
        let _ = self.sums.f_zero_()?;
        let _ = self.sums.f_index_add_(0, &index, &rows)?;
        let _ = self.counts.f_zero_()?;
        let _ = self.counts.f_index_add_(0, &index, &occupied.f_to_kind(Kind::Int64)?)?;
        Ok(())
    }

    /// The class prototypes: float32 [num_classes, dim] on the memory's device, row k the
    /// L2-normalised sum of the stored features of class k, zero for a class with no entry.
    /// No gradient.
    pub fn prototypes(&self) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        // Per-row scale [C, 1]: 1 / max(norm, eps), or 0 for a class with no entry.
        let norms = self.sums.f_norm_scalaropt_dim(2, [1i64].as_slice(), true)?.f_clamp_min(NORM_EPS)?;
        let scale = self.counts.f_gt(0)?.f_unsqueeze(1)?.f_div(&norms)?;
        // float64 sums x float64 scale, written straight into a float32 result (one pass).
        let out = Tensor::f_empty([self.num_classes, self.dim], (Kind::Float, self.device))?;
        Ok(self.sums.f_mul_out(&out, &scale)?)
    }
}

/// The floor of a norm before dividing by it, as in `torch.nn.functional.normalize`.
pub const NORM_EPS: f64 = 1e-12;
