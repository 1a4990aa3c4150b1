//! Argument checks shared by the memory and the logits. Each returns a `BankError` that names
//! the argument, what it must be, and what arrived.

use tch::{Device, Kind, Tensor};

use super::error::{BankError, Result};

/// "cpu", "cuda:0", ...: how Python spells the device.
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(i) => format!("cuda:{i}"),
        Device::Mps => "another device (not cpu or cuda)".into(),
        Device::Vulkan => "vulkan".into(),
    }
}

pub fn shape_name(shape: &[i64]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(", "))
}

fn kind_name(kind: Kind) -> String {
    let name = match kind {
        Kind::Uint8 => "uint8",
        Kind::Int8 => "int8",
        Kind::Int16 => "int16",
        Kind::Int => "int32",
        Kind::Int64 => "int64",
        Kind::Half => "float16",
        Kind::Float => "float32",
        Kind::Double => "float64",
        Kind::BFloat16 => "bfloat16",
        Kind::Bool => "bool",
        other => return format!("{other:?}").to_lowercase(),
    };
    name.into()
}

/// The tensor's dtype, or a `Dtype` error for the dtypes tch cannot name.
fn kind_of(name: &'static str, t: &Tensor, expected: &'static str) -> Result<Kind> {
    t.f_kind().map_err(|_| BankError::Dtype { name, expected, got: "an unsupported dtype".into() })
}

/// A floating-point tensor (float16, bfloat16, float32 or float64).
pub fn floating(name: &'static str, t: &Tensor) -> Result<()> {
    const EXPECTED: &str = "floating-point (float32, float16, bfloat16 or float64)";
    match kind_of(name, t, EXPECTED)? {
        Kind::Float | Kind::Half | Kind::BFloat16 | Kind::Double => Ok(()),
        k => Err(BankError::Dtype { name, expected: EXPECTED, got: kind_name(k) }),
    }
}

/// An integer tensor (labels): int64, int32, int16, int8 or uint8.
pub fn integer(name: &'static str, t: &Tensor) -> Result<()> {
    const EXPECTED: &str = "integer (int64, int32, int16, int8 or uint8)";
    match kind_of(name, t, EXPECTED)? {
        Kind::Int64 | Kind::Int | Kind::Int16 | Kind::Int8 | Kind::Uint8 => Ok(()),
        k => Err(BankError::Dtype { name, expected: EXPECTED, got: kind_name(k) }),
    }
}

/// Exactly this dtype (the memory's own buffers).
pub fn exact_kind(name: &'static str, t: &Tensor, kind: Kind, expected: &'static str) -> Result<()> {
    let got = kind_of(name, t, expected)?;
    if got == kind {
        Ok(())
    } else {
        Err(BankError::Dtype { name, expected, got: kind_name(got) })
    }
}

/// `t` has `shape`, where `None` stands for any size; `expected` spells it for the message.
pub fn shape(name: &'static str, t: &Tensor, shape: &[Option<i64>], expected: &str) -> Result<Vec<i64>> {
    let got = t.size();
    let ok = got.len() == shape.len() && got.iter().zip(shape).all(|(g, s)| s.is_none_or(|s| *g == s));
    if ok {
        Ok(got)
    } else {
        Err(BankError::Shape { name, expected: expected.into(), got: shape_name(&got) })
    }
}

/// `t` lives on `device`, the device of `other`.
pub fn same_device(name: &'static str, t: &Tensor, other: &'static str, device: Device) -> Result<()> {
    let got = t.device();
    if got == device {
        Ok(())
    } else {
        Err(BankError::Device { name, got: device_name(got), other, expected: device_name(device) })
    }
}

/// Two row counts that must agree.
pub fn same_rows(first: &'static str, first_rows: i64, second: &'static str, second_rows: i64) -> Result<()> {
    if first_rows == second_rows {
        Ok(())
    } else {
        Err(BankError::BatchMismatch { first, first_rows, second, second_rows })
    }
}

pub fn temperature(t: f64) -> Result<()> {
    if t.is_finite() && t > 0.0 {
        Ok(())
    } else {
        Err(BankError::Parameter(format!("temperature must be a finite number > 0, got {t}")))
    }
}

/// The smallest and largest label of a non-empty int64 tensor, read with one device-to-host copy.
pub fn label_bounds(labels: &Tensor) -> Result<(i64, i64)> {
    let stats = Tensor::f_stack(&[labels.f_min()?, labels.f_max()?], 0)?.f_to_device(Device::Cpu)?;
    Ok((stats.f_int64_value(&[0])?, stats.f_int64_value(&[1])?))
}

pub fn label_range(min: i64, max: i64, num_classes: i64) -> Result<()> {
    if min >= 0 && max < num_classes {
        Ok(())
    } else {
        Err(BankError::LabelRange { min, max, num_classes })
    }
}
