//! Prototype logits and loss: normalise z, cosine similarity with the prototypes, divided by the
//! temperature. Differentiable with respect to z (the graph is recorded by libtorch, so
//! `loss.backward()` in Python reaches the projector); no gradient reaches the prototypes.
//! Computed in float32 whatever z's dtype; the caller turns autocast off around the call (the
//! Python wrappers do), so the matmul stays float32.

use tch::{Kind, Reduction, Tensor};

use super::check;
use super::error::{BankError, Result};
use super::memory::NORM_EPS;

/// z / max(||z||, eps) along dim 1, as `torch.nn.functional.normalize` (same gradient).
fn normalize(z: &Tensor) -> Result<Tensor> {
    let norms = z.f_norm_scalaropt_dim(2, [1i64].as_slice(), true)?.f_clamp_min(NORM_EPS)?;
    Ok(z.f_div(&norms)?)
}

/// Checks z [N, D] and prototypes [C, D] (floating, same device) and returns (N, C).
fn check_inputs(z: &Tensor, prototypes: &Tensor, temperature: f64) -> Result<(i64, i64)> {
    check::temperature(temperature)?;
    let zshape = check::shape("z", z, &[None, None], "[batch, dim]")?;
    let dim = zshape[1];
    let pshape =
        check::shape("prototypes", prototypes, &[None, Some(dim)], &format!("[num_classes, {dim}] (z has dim {dim})"))?;
    check::floating("z", z)?;
    check::floating("prototypes", prototypes)?;
    check::same_device("prototypes", prototypes, "z", z.device())?;
    Ok((zshape[0], pshape[0]))
}

fn logits_unchecked(z: &Tensor, prototypes: &Tensor, temperature: f64) -> Result<Tensor> {
    // prototypes^T / tau: [D, C], float32, no gradient (the smaller of the two to scale).
    let weights = {
        let _guard = tch::no_grad_guard();
        prototypes.f_detach()?.f_to_kind(Kind::Float)?.f_div_scalar(temperature)?.f_tr()?
    };
    Ok(normalize(&z.f_to_kind(Kind::Float)?)?.f_mm(&weights)?)
}

/// normalise(z) . prototypes^T / temperature.
///
/// `z`: [N, D] float (any float dtype, gradient flows back to it); `prototypes`: [C, D] float,
/// same device. Returns float32 [N, C], values in [-1/temperature, 1/temperature].
pub fn prototype_logits(z: &Tensor, prototypes: &Tensor, temperature: f64) -> Result<Tensor> {
    check_inputs(z, prototypes, temperature)?;
    logits_unchecked(z, prototypes, temperature)
}

/// Mean cross-entropy of the prototype logits against `labels` ([N] integer in [0, C), same
/// device). Returns a float32 scalar tensor, differentiable with respect to z.
pub fn prototype_loss(z: &Tensor, labels: &Tensor, prototypes: &Tensor, temperature: f64) -> Result<Tensor> {
    let (rows, num_classes) = check_inputs(z, prototypes, temperature)?;
    let lshape = check::shape("labels", labels, &[None], "[batch]")?;
    check::same_rows("z", rows, "labels", lshape[0])?;
    check::integer("labels", labels)?;
    check::same_device("labels", labels, "z", z.device())?;
    if rows == 0 {
        return Err(BankError::Parameter("z and labels are empty: the loss of no sample is undefined".into()));
    }
    let labels = labels.f_to_kind(Kind::Int64)?;
    let (min, max) = check::label_bounds(&labels)?;
    check::label_range(min, max, num_classes)?;
    let logits = logits_unchecked(z, prototypes, temperature)?;
    Ok(logits.f_cross_entropy_loss::<Tensor>(&labels, None, Reduction::Mean, -100, 0.0)?)
}
