"""`--amp` resolution (trex.train.precision): the CPU default chosen by measurement
(benchmarks/precision-cpu.md), CUDA's mixed precision, and the refusals."""

import pytest
import torch

from trex.train import precision
from trex.train.errors import TrainConfigError
from trex.train.precision import resolve_precision

CPU = torch.device("cpu")
CUDA = torch.device("cuda")


@pytest.mark.parametrize("native, expected", [(True, "bf16"), (False, "off")])
def test_auto_on_the_cpu_is_bf16_where_native_else_float32(
    monkeypatch: pytest.MonkeyPatch, native: bool, expected: str
) -> None:
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    p = resolve_precision("auto", CPU)
    assert (p.name, p.device_type) == (expected, "cpu")
    assert p.dtype == {"bf16": torch.bfloat16, "off": None}[expected]
    assert not p.grad_scaler().is_enabled()


def test_auto_on_this_cpu_follows_its_bf16_support() -> None:
    expected = "bf16" if precision.cpu_has_native_bf16() else "off"
    assert resolve_precision("auto", CPU).name == expected


@pytest.mark.parametrize("bf16_supported, expected", [(True, "bf16"), (False, "fp16")])
def test_auto_on_cuda_keeps_mixed_precision(
    monkeypatch: pytest.MonkeyPatch, bf16_supported: bool, expected: str
) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16_supported)
    p = resolve_precision("auto", CUDA)
    assert (p.name, p.device_type) == (expected, "cuda")


@pytest.mark.parametrize("amp", ["off", "bf16"])
def test_explicit_choices_on_the_cpu_are_kept(monkeypatch: pytest.MonkeyPatch, amp: str) -> None:
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)  # an explicit bf16 is honoured anyway
    assert resolve_precision(amp, CPU).name == amp


def test_off_runs_without_autocast_and_bf16_autocasts_matmuls() -> None:
    x = torch.randn(4, 8)
    w = torch.randn(8, 3)
    with resolve_precision("off", CPU).autocast():
        assert (x @ w).dtype == torch.float32
    with resolve_precision("bf16", CPU).autocast():
        assert (x @ w).dtype == torch.bfloat16


@pytest.mark.parametrize(
    "amp, device, message",
    [
        ("fp16", CPU, "--amp fp16 needs a CUDA device"),
        ("fp8", CPU, "unknown --amp 'fp8'"),
    ],
)
def test_refusals_say_what_to_use(amp: str, device: torch.device, message: str) -> None:
    with pytest.raises(TrainConfigError, match=message):
        resolve_precision(amp, device)


def test_bf16_on_a_gpu_without_it_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    with pytest.raises(TrainConfigError, match="use --amp fp16"):
        resolve_precision("bf16", CUDA)
