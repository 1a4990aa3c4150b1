//! Bank tests against a plain-Rust reference (Vec-based FIFO and per-class sums). Run with
//! `cargo test --release --features torch` and LD_LIBRARY_PATH set to the venv's torch/lib.
#![allow(clippy::unwrap_used)]

use tch::{Device, Kind, Tensor};

use super::{prototype_logits, prototype_loss, BankError, Memory};

/// Deterministic, varied feature values (no RNG needed): a few "directions" per class plus a
/// per-row twist, so classes differ and rows within a class differ.
fn batch(start: usize, rows: usize, dim: usize, classes: usize) -> (Vec<f32>, Vec<i64>) {
    let mut f = Vec::with_capacity(rows * dim);
    let mut l = Vec::with_capacity(rows);
    for r in start..start + rows {
        let label = (r * 7 + r / 3) % classes;
        l.push(label as i64);
        for d in 0..dim {
            f.push(((label * 31 + d * 17) % 11) as f32 - 5.0 + 0.25 * ((r * 13 + d * 5) % 7) as f32);
        }
    }
    (f, l)
}

fn to_tensors(f: &[f32], l: &[i64], dim: usize) -> (Tensor, Tensor) {
    let rows = l.len() as i64;
    (Tensor::from_slice(f).reshape([rows, dim as i64]), Tensor::from_slice(l))
}

/// The reference: the last `size` rows ever written, in ring order.
struct Reference {
    size: usize,
    dim: usize,
    classes: usize,
    features: Vec<f32>,
    labels: Vec<i64>,
    position: usize,
}

impl Reference {
    fn new(size: usize, dim: usize, classes: usize) -> Self {
        Self { size, dim, classes, features: vec![0.0; size * dim], labels: vec![-1; size], position: 0 }
    }

    fn push(&mut self, f: &[f32], l: &[i64]) {
        for (r, &label) in l.iter().enumerate() {
            let slot = self.position;
            self.features[slot * self.dim..(slot + 1) * self.dim].copy_from_slice(&f[r * self.dim..(r + 1) * self.dim]);
            self.labels[slot] = label;
            self.position = (self.position + 1) % self.size;
        }
    }

    fn prototypes(&self) -> Vec<f64> {
        let mut sums = vec![0.0f64; self.classes * self.dim];
        for (slot, &label) in self.labels.iter().enumerate() {
            if label >= 0 {
                for d in 0..self.dim {
                    sums[label as usize * self.dim + d] += f64::from(self.features[slot * self.dim + d]);
                }
            }
        }
        for k in 0..self.classes {
            let row = &mut sums[k * self.dim..(k + 1) * self.dim];
            let norm = row.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
            row.iter_mut().for_each(|x| *x /= norm);
        }
        sums
    }
}

fn values_f64(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).unwrap()
}

fn values_i64(t: &Tensor) -> Vec<i64> {
    Vec::<i64>::try_from(t.flatten(0, -1)).unwrap()
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

#[test]
fn new_memory_is_empty_with_zero_prototypes() {
    let m = Memory::new(16, 4, 3, Device::Cpu).unwrap();
    assert!(values_i64(&m.labels).iter().all(|&l| l == -1));
    assert!(values_f64(&m.prototypes().unwrap()).iter().all(|&x| x == 0.0));
    assert_eq!(m.prototypes().unwrap().size(), vec![3, 4]);
}

#[test]
fn pushes_wrap_around_like_the_reference() {
    let (size, dim, classes) = (11, 5, 4);
    let mut m = Memory::new(size as i64, dim as i64, classes, Device::Cpu).unwrap();
    let mut r = Reference::new(size, dim, classes as usize);
    let mut start = 0;
    // Sizes that end exactly at the end, cross it, and exceed the whole memory.
    for rows in [3, 5, 3, 7, 11, 1, 25, 4, 0, 9] {
        let (f, l) = batch(start, rows, dim, classes as usize);
        start += rows;
        let (ft, lt) = to_tensors(&f, &l, dim);
        m.push(&ft, &lt, 0).unwrap();
        r.push(&f, &l);
        let stored: Vec<f64> = r.features.iter().map(|&x| f64::from(x)).collect();
        assert_eq!(values_f64(&m.features), stored);
        assert_eq!(values_i64(&m.labels), r.labels);
        assert_eq!(m.position.int64_value(&[]), r.position as i64);
        assert!(max_abs_diff(&values_f64(&m.prototypes().unwrap()), &r.prototypes()) < 1e-6);
    }
}

#[test]
fn incremental_sums_match_a_recompute() {
    let (size, dim, classes) = (64, 8, 5);
    let mut m = Memory::new(size, dim, classes, Device::Cpu).unwrap();
    for step in 0..500 {
        let (f, l) = batch(step * 13, 13, dim as usize, classes as usize);
        let (ft, lt) = to_tensors(&f, &l, dim as usize);
        m.push(&ft, &lt, 0).unwrap();
    }
    let (sums, counts) = (values_f64(&m.sums), values_i64(&m.counts));
    m.recompute().unwrap();
    assert!(max_abs_diff(&sums, &values_f64(&m.sums)) < 1e-9);
    assert_eq!(counts, values_i64(&m.counts));
    assert_eq!(counts.iter().sum::<i64>(), size);
}

#[test]
fn periodic_recompute_gives_exact_sums() {
    let mut m = Memory::new(10, 3, 2, Device::Cpu).unwrap();
    for step in 0..6 {
        let (f, l) = batch(step * 4, 4, 3, 2);
        let (ft, lt) = to_tensors(&f, &l, 3);
        m.push(&ft, &lt, 3).unwrap();
    }
    // The 6th push ended with a recompute: the sums are exactly the recomputed ones.
    let sums = values_f64(&m.sums);
    m.recompute().unwrap();
    assert_eq!(sums, values_f64(&m.sums));
    assert_eq!(m.pushes.int64_value(&[]), 6);
}

#[test]
fn refused_pushes_write_nothing() {
    let mut m = Memory::new(8, 3, 4, Device::Cpu).unwrap();
    let (f, l) = batch(0, 5, 3, 4);
    let (ft, lt) = to_tensors(&f, &l, 3);
    m.push(&ft, &lt, 0).unwrap();
    let before: Vec<Vec<f64>> =
        [&m.features, &m.labels, &m.sums, &m.counts, &m.position, &m.pushes].iter().map(|t| values_f64(t)).collect();

    let bad_label = Tensor::from_slice(&[0i64, 4, 1, 2, 3]);
    assert!(matches!(m.push(&ft, &bad_label, 0), Err(BankError::LabelRange { min: 0, max: 4, num_classes: 4 })));
    let negative = Tensor::from_slice(&[0i64, -1, 1, 2, 3]);
    assert!(matches!(m.push(&ft, &negative, 0), Err(BankError::LabelRange { .. })));
    let wrong_dim = Tensor::zeros([5, 4], (Kind::Float, Device::Cpu));
    assert!(matches!(m.push(&wrong_dim, &lt, 0), Err(BankError::Shape { name: "features", .. })));
    assert!(matches!(m.push(&ft.flatten(0, -1), &lt, 0), Err(BankError::Shape { .. })));
    let short = lt.narrow(0, 0, 4);
    assert!(matches!(m.push(&ft, &short, 0), Err(BankError::BatchMismatch { .. })));
    let nan = ft.copy();
    let _ = nan.get(2).get(1).fill_(f64::NAN);
    assert!(matches!(m.push(&nan, &lt, 0), Err(BankError::NonFinite { count: 1, .. })));
    let overflow = ft.to_kind(Kind::Double).fill_(1e300);
    assert!(matches!(m.push(&overflow, &lt, 0), Err(BankError::NonFinite { count: 15, .. })));
    assert!(matches!(m.push(&lt, &lt, 0), Err(BankError::Shape { .. })));
    let int_features = ft.to_kind(Kind::Int64);
    assert!(matches!(m.push(&int_features, &lt, 0), Err(BankError::Dtype { name: "features", .. })));
    assert!(matches!(m.push(&ft, &lt.to_kind(Kind::Float), 0), Err(BankError::Dtype { name: "labels", .. })));

    // A batch larger than the memory: its first rows would be overwritten by the wrap-around,
    // yet a bad label or a NaN there refuses the whole push.
    let (f, l) = batch(5, 12, 3, 4);
    let (big_f, _) = to_tensors(&f, &l, 3);
    let mut bad = l.clone();
    bad[0] = 7;
    assert!(matches!(m.push(&big_f, &Tensor::from_slice(&bad), 0), Err(BankError::LabelRange { max: 7, .. })));
    let nan = big_f.copy();
    let _ = nan.get(0).get(0).fill_(f64::NAN);
    assert!(matches!(m.push(&nan, &Tensor::from_slice(&l), 0), Err(BankError::NonFinite { count: 1, .. })));

    let after: Vec<Vec<f64>> =
        [&m.features, &m.labels, &m.sums, &m.counts, &m.position, &m.pushes].iter().map(|t| values_f64(t)).collect();
    assert_eq!(before, after);

    // A labels buffer corrupted by hand: the push is refused before anything is written.
    let _ = m.labels.get(5).fill_(9);
    let before: Vec<Vec<f64>> =
        [&m.features, &m.labels, &m.sums, &m.counts, &m.position, &m.pushes].iter().map(|t| values_f64(t)).collect();
    assert!(matches!(m.push(&ft, &lt, 0), Err(BankError::Parameter(_))));
    let after: Vec<Vec<f64>> =
        [&m.features, &m.labels, &m.sums, &m.counts, &m.position, &m.pushes].iter().map(|t| values_f64(t)).collect();
    assert_eq!(before, after);
}

#[test]
fn validate_accepts_what_pushes_produce_and_refuses_the_rest() {
    let mut m = Memory::new(8, 3, 4, Device::Cpu).unwrap();
    m.validate().unwrap();
    for start in [0, 5, 11] {
        let (f, l) = batch(start, 5, 3, 4);
        let (ft, lt) = to_tensors(&f, &l, 3);
        m.push(&ft, &lt, 0).unwrap();
        m.validate().unwrap();
    }
    let corrupt = |edit: &dyn Fn(&Memory)| {
        let copy = Memory::from_tensors(
            m.features.copy(),
            m.labels.copy(),
            m.sums.copy(),
            m.counts.copy(),
            m.position.copy(),
            m.pushes.copy(),
        )
        .unwrap();
        edit(&copy);
        copy.validate()
    };
    assert!(matches!(corrupt(&|c| drop(c.labels.get(0).fill_(4))), Err(BankError::Parameter(_))));
    assert!(matches!(corrupt(&|c| drop(c.labels.get(0).fill_(-2))), Err(BankError::Parameter(_))));
    assert!(matches!(corrupt(&|c| drop(c.features.get(1).get(2).fill_(f64::NAN))), Err(BankError::NonFinite { .. })));
    assert!(matches!(corrupt(&|c| drop(c.sums.get(0).get(0).fill_(f64::INFINITY))), Err(BankError::NonFinite { .. })));
    assert!(matches!(corrupt(&|c| drop(c.counts.get(0).fill_(-1))), Err(BankError::Parameter(_))));
    assert!(matches!(corrupt(&|c| drop(c.position.shallow_clone().fill_(8))), Err(BankError::Parameter(_))));
    assert!(matches!(corrupt(&|c| drop(c.pushes.shallow_clone().fill_(-1))), Err(BankError::Parameter(_))));
}

#[test]
fn bad_state_is_refused() {
    let m = Memory::new(8, 3, 4, Device::Cpu).unwrap();
    let wrong = Memory::from_tensors(
        m.features.to_kind(Kind::Double),
        m.labels.shallow_clone(),
        m.sums.shallow_clone(),
        m.counts.shallow_clone(),
        m.position.shallow_clone(),
        m.pushes.shallow_clone(),
    );
    assert!(matches!(wrong, Err(BankError::Dtype { name: "memory features", .. })));
    assert!(matches!(Memory::new(0, 3, 4, Device::Cpu), Err(BankError::Parameter(_))));
}

#[test]
fn logits_are_cosines_over_temperature_with_gradient_only_to_z() {
    let z = Tensor::from_slice(&[3.0f32, 4.0, 0.0, -2.0, 0.0, 0.0]).reshape([2, 3]).set_requires_grad(true);
    let p = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 0.0, 1.0, 0.0]).reshape([2, 3]).set_requires_grad(true);
    let logits = prototype_logits(&z, &p, 0.5).unwrap();
    let expected = [0.6 / 0.5, 0.8 / 0.5, -1.0 / 0.5, 0.0];
    assert!(max_abs_diff(&values_f64(&logits), &expected) < 1e-6);
    logits.sum(Kind::Float).backward();
    assert!(!p.grad().defined());
    // Normalisation makes the gradient orthogonal to z.
    let g = z.grad();
    let dots = values_f64(&(&g * &z).sum_dim_intlist([1i64].as_slice(), false, Kind::Double));
    assert!(dots.iter().all(|d| d.abs() < 1e-6), "{dots:?}");
    assert!(values_f64(&g).iter().any(|&x| x.abs() > 1e-3));
}

#[test]
fn loss_is_the_cross_entropy_of_the_logits() {
    let z = Tensor::from_slice(&[1.0f32, 2.0, 2.0, 0.0, -1.0, 0.5]).reshape([2, 3]);
    let p = Tensor::from_slice(&[0.0f32, 0.6, 0.8, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]).reshape([3, 3]);
    let labels = Tensor::from_slice(&[0i64, 2]);
    let loss = prototype_loss(&z, &labels, &p, 0.1).unwrap().double_value(&[]);
    let logits = values_f64(&prototype_logits(&z, &p, 0.1).unwrap());
    let mut expected = 0.0;
    for (row, &label) in [0usize, 2].iter().enumerate() {
        let l = &logits[row * 3..row * 3 + 3];
        let lse = l.iter().map(|x| x.exp()).sum::<f64>().ln();
        expected += (lse - l[label]) / 2.0;
    }
    assert!((loss - expected).abs() < 1e-5, "{loss} vs {expected}");
    assert!(matches!(prototype_loss(&z, &Tensor::from_slice(&[0i64, 3]), &p, 0.1), Err(BankError::LabelRange { .. })));
    assert!(matches!(prototype_logits(&z, &p, 0.0), Err(BankError::Parameter(_))));
    assert!(matches!(prototype_logits(&z, &p.narrow(1, 0, 2), 0.1), Err(BankError::Shape { .. })));
}
