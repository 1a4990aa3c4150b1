//! `trex._trex` functions behind `trex.PrototypeMemory`, `trex.prototype_logits` and
//! `trex.prototype_loss`. Tensors arrive as `PyTensor` (shared storage, autograd metadata
//! included) and leave through `to_py`; the tch work runs with the GIL released.

use pyo3::prelude::*;
use pyo3_tch::PyTensor;

use super::convert::to_py;
use super::errors::{bank_error, released};
use crate::bank::{self, Memory};

/// The memory's state tensors, in the order of `bank::STATE` (`_trex.BANK_STATE`).
type State = [PyTensor; 6];

fn memory(state: State) -> Result<Memory, bank::BankError> {
    Memory::from_state(state.map(|t| t.0))
}

/// The six state tensors of a new empty memory on the CPU.
#[pyfunction]
#[pyo3(signature = (size, dim, num_classes))]
fn bank_empty(py: Python<'_>, size: i64, dim: i64, num_classes: i64) -> PyResult<Vec<PyObject>> {
    let m = released(py, || Memory::new(size, dim, num_classes, tch::Device::Cpu))?.map_err(bank_error)?;
    m.into_state().into_iter().map(|t| to_py(py, t)).collect()
}

/// Pushes a batch into the memory held by `state` (updated in place).
#[pyfunction]
#[pyo3(signature = (state, features, labels, *, recompute_every))]
fn bank_push(py: Python<'_>, state: State, features: PyTensor, labels: PyTensor, recompute_every: i64) -> PyResult<()> {
    released(py, move || memory(state)?.push(&features, &labels, recompute_every))?.map_err(bank_error)
}

/// Checks that `state` is a consistent memory (see `Memory::validate`); changes nothing.
#[pyfunction]
#[pyo3(signature = (state,))]
fn bank_validate(py: Python<'_>, state: State) -> PyResult<()> {
    released(py, move || memory(state)?.validate())?.map_err(bank_error)
}

/// Rebuilds the per-class sums of the memory held by `state` from its entries.
#[pyfunction]
#[pyo3(signature = (state,))]
fn bank_recompute(py: Python<'_>, state: State) -> PyResult<()> {
    released(py, move || memory(state)?.recompute())?.map_err(bank_error)
}

/// The float32 [num_classes, dim] prototypes of the memory held by `state`.
#[pyfunction]
#[pyo3(signature = (state,))]
fn bank_prototypes(py: Python<'_>, state: State) -> PyResult<PyObject> {
    let p = released(py, move || memory(state)?.prototypes())?.map_err(bank_error)?;
    to_py(py, p)
}

#[pyfunction]
#[pyo3(signature = (z, prototypes, *, temperature))]
fn prototype_logits(py: Python<'_>, z: PyTensor, prototypes: PyTensor, temperature: f64) -> PyResult<PyObject> {
    let logits = released(py, move || bank::prototype_logits(&z, &prototypes, temperature))?.map_err(bank_error)?;
    to_py(py, logits)
}

#[pyfunction]
#[pyo3(signature = (z, labels, prototypes, *, temperature))]
fn prototype_loss(
    py: Python<'_>,
    z: PyTensor,
    labels: PyTensor,
    prototypes: PyTensor,
    temperature: f64,
) -> PyResult<PyObject> {
    let loss =
        released(py, move || bank::prototype_loss(&z, &labels, &prototypes, temperature))?.map_err(bank_error)?;
    to_py(py, loss)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("BANK_STATE", bank::STATE.to_vec())?;
    m.add_function(wrap_pyfunction!(bank_empty, m)?)?;
    m.add_function(wrap_pyfunction!(bank_push, m)?)?;
    m.add_function(wrap_pyfunction!(bank_validate, m)?)?;
    m.add_function(wrap_pyfunction!(bank_recompute, m)?)?;
    m.add_function(wrap_pyfunction!(bank_prototypes, m)?)?;
    m.add_function(wrap_pyfunction!(prototype_logits, m)?)?;
    m.add_function(wrap_pyfunction!(prototype_loss, m)?)?;
    Ok(())
}
