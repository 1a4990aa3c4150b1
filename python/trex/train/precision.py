"""Mixed precision: which autocast dtype to use where, and the gradient scaler for float16."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from trex.train.config import AMP_CHOICES
from trex.train.errors import TrainConfigError

# ``--amp auto`` on the CPU, chosen by measurement (benchmarks/precision-cpu.md): on the built-in
# default (`trex train`, 3 seeds, 2 threads, a CPU with AVX512-BF16) bf16 autocast and float32 end
# at the same validation accuracy within the seeds' spread (mean 73.3% vs 73.8%, each seed's
# pair differing by -5.0 to +3.3 points either way), and bf16 trains faster (a training step
# takes 0.73x float32's, alternating rounds in one process; epochs 8.6 s vs 11.9 s), so
# it is the default where the CPU runs it natively. Elsewhere bf16 is emulated and slower than
# float32: off.
CPU_AUTO_NATIVE_BF16 = "bf16"
CPU_AUTO_OTHERWISE = "off"


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bfloat16 natively on this CPU (AVX512-BF16 or AMX); emulated bf16 is
    slower than float32, so ``--amp auto`` leaves it off elsewhere."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@dataclass
class Precision:
    """The autocast setting of a run.

    Attributes:
        device_type: ``"cpu"`` or ``"cuda"``.
        dtype: the autocast dtype, or None for float32 throughout.
    """

    device_type: str
    dtype: torch.dtype | None

    @property
    def name(self) -> str:
        return {None: "off", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]

    def autocast(self) -> contextlib.AbstractContextManager:
        """A fresh autocast context (a no-op when off)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A GradScaler, enabled only for float16 (bfloat16 needs no loss scaling)."""
        return torch.amp.GradScaler(self.device_type, enabled=self.dtype == torch.float16)


def resolve_precision(amp: str, device: torch.device) -> Precision:
    """``--amp`` to a :class:`Precision`.

    ``auto``: on CUDA bf16 where the GPU supports it, else fp16 (the paper's mixed precision);
    on the CPU bf16 where it is native, else off (measured: same accuracy within the seeds'
    spread, faster; see ``CPU_AUTO_NATIVE_BF16``). ``fp16`` is refused on the CPU (no fast
    kernels).

    Raises:
        TrainConfigError: an unknown value, fp16 on the CPU, or bf16 on a GPU without it.
    """
    if amp not in AMP_CHOICES:
        raise TrainConfigError(f"unknown --amp {amp!r}; choose one of {', '.join(AMP_CHOICES)}")
    cuda = device.type == "cuda"
    if amp == "auto":
        if cuda:
            amp = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        else:
            amp = CPU_AUTO_NATIVE_BF16 if cpu_has_native_bf16() else CPU_AUTO_OTHERWISE
    if amp == "fp16" and not cuda:
        raise TrainConfigError("--amp fp16 needs a CUDA device; use --amp bf16 or --amp off on the CPU")
    if amp == "bf16" and cuda and not torch.cuda.is_bf16_supported():
        raise TrainConfigError("this GPU does not support bfloat16; use --amp fp16")
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "off": None}[amp]
    return Precision(device.type, dtype)


__all__ = ["AMP_CHOICES", "Precision", "cpu_has_native_bf16", "resolve_precision"]
