"""The prototype memory and the prototype logits, backed by the Rust extension (tch ops).

Everything here runs on the device of its tensors (CPU or CUDA): the Rust side calls libtorch
on the tensors it is handed, so the memory's buffers never leave their device and autograd
records the logits like any PyTorch op.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
from torch import nn

from trex import _trex
from trex.defaults import RECOMPUTE_EVERY, TEMPERATURE
from trex.exceptions import MemoryBankError
from trex.models._checks import positive_int

# The memory's buffers, in the order the extension takes them.
# The state buffers' names, in the order the core takes them (its one list: _trex.BANK_STATE).
_STATE: tuple[str, ...] = tuple(_trex.BANK_STATE)


def _autocast_off(device: torch.device) -> contextlib.AbstractContextManager[object]:
    """Turns autocast off for `device` while the extension runs, so its matmul stays float32.

    Autocast state is per thread and the extension runs on the calling thread, so this is what
    the Rust code sees.
    """
    try:
        enabled = torch.is_autocast_enabled(device.type)
    except RuntimeError:  # a device type without autocast
        return contextlib.nullcontext()
    return torch.autocast(device.type, enabled=False) if enabled else contextlib.nullcontext()


class PrototypeMemory(nn.Module):
    """A FIFO memory of (feature, label) entries and the class prototypes computed from it.

    One ring buffer of ``size`` entries shared by all classes (not one per class). It starts
    empty. :meth:`push` writes a batch at the write position and wraps around the end, exactly
    as if the rows were pushed one at a time (a batch longer than the memory keeps its last
    ``size`` rows). Per-class sums are kept up to date incrementally (the overwritten rows are
    subtracted, the written ones added), so a push costs O(batch x dim), not O(size x dim); they
    are float64 and rebuilt exactly from the entries every ``recompute_every`` pushes, so
    rounding cannot build up.

    The state lives in registered buffers, so ``.to(device)``, ``state_dict()`` and
    ``load_state_dict()`` work and a checkpoint restores the memory bit for bit. Dtype casts
    (``.half()``, ``.to(torch.bfloat16)``) leave the buffers' dtypes alone: the memory stays
    float32 (sums float64) whatever the model's precision.

    Buffers:
        features: float32 [size, dim], the stored features (zero rows while empty).
        labels: int64 [size], their labels, -1 for an empty slot.
        sums: float64 [num_classes, dim], per-class sum of the stored features.
        counts: int64 [num_classes], per-class number of stored entries.
        position: int64 [], the next slot to write.
        pushes: int64 [], the number of pushes so far.

    Args:
        size: number of entries (the paper uses 8192).
        dim: feature dimension (the projector's output, 256 in the paper).
        num_classes: number of classes; labels lie in [0, num_classes).
        device: where the buffers live (default: the CPU; ``.to()`` moves them later).
        recompute_every: pushes between two exact rebuilds of the sums; 0 never rebuilds.

    Example:
        >>> import torch, trex
        >>> memory = trex.PrototypeMemory(size=4, dim=2, num_classes=3)
        >>> memory.push(torch.tensor([[3.0, 4.0], [1.0, 0.0]]), torch.tensor([0, 2]))
        >>> memory.prototypes()
        tensor([[0.6000, 0.8000],
                [0.0000, 0.0000],
                [1.0000, 0.0000]])
    """

    features: torch.Tensor
    labels: torch.Tensor
    sums: torch.Tensor
    counts: torch.Tensor
    position: torch.Tensor
    pushes: torch.Tensor

    def __init__(
        self,
        size: int,
        dim: int,
        num_classes: int,
        device: torch.device | str | None = None,
        *,
        recompute_every: int = RECOMPUTE_EVERY,
    ) -> None:
        super().__init__()
        self.size = positive_int("size", size)
        self.dim = positive_int("dim", dim)
        self.num_classes = positive_int("num_classes", num_classes)
        self.recompute_every = positive_int("recompute_every", recompute_every, allow_zero=True)
        for name, tensor in zip(_STATE, _trex.bank_empty(self.size, self.dim, self.num_classes)):
            self.register_buffer(name, tensor if device is None else tensor.to(device))

    def _state(self) -> list[torch.Tensor]:
        return [getattr(self, name) for name in _STATE]

    def push(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """Writes a batch of entries (no gradient is recorded).

        Args:
            features: [B, dim], any float dtype (stored as float32), finite, on the memory's
                device. Not normalised here: prototypes are normalised sums.
            labels: [B], any integer dtype, values in [0, num_classes), same device.

        Raises:
            trex.MemoryBankError: (a ValueError) wrong shape or dtype, mismatched batch sizes,
                a label out of range or a NaN or infinite feature in any row (also the rows of a
                batch larger than the memory, which the wrap-around would overwrite), or a tensor
                on another device. Nothing is written when a push is refused.
        """
        with _autocast_off(self.features.device):
            _trex.bank_push(self._state(), features, labels, recompute_every=self.recompute_every)

    def prototypes(self) -> torch.Tensor:
        """The class prototypes.

        Returns:
            float32 [num_classes, dim] on the memory's device, without gradient: row k is the
            L2-normalised sum of the stored features of class k (unit norm), or zero when class
            k has no entry.
        """
        with _autocast_off(self.features.device):
            return _trex.bank_prototypes(self._state())

    def recompute(self) -> None:
        """Rebuilds the per-class sums and counts exactly from the stored entries."""
        _trex.bank_recompute(self._state())

    def reset(self) -> None:
        """Empties the memory (as new), keeping its device."""
        device = self.features.device
        for name, tensor in zip(_STATE, _trex.bank_empty(self.size, self.dim, self.num_classes)):
            getattr(self, name).copy_(tensor.to(device))

    def __len__(self) -> int:
        """The number of stored entries (at most ``size``)."""
        return int((self.labels >= 0).sum())

    def extra_repr(self) -> str:
        return f"size={self.size}, dim={self.dim}, num_classes={self.num_classes}"

    def _load_from_state_dict(
        self, state_dict: dict[str, object], prefix: str, *args: object, **kwargs: object
    ) -> None:
        # Everything is checked before any buffer is written (torch copies key by key, so a check
        # after the copy, or torch's own per-key checks, would leave a half-loaded memory): the
        # shapes, the dtypes' kinds, and the values (labels in [-1, num_classes), finite features
        # and sums, counts that match the labels, position in [0, size), pushes >= 0).
        candidate = []
        for name in _STATE:
            key, current = prefix + name, getattr(self, name)
            value = state_dict.get(key, current)
            if not isinstance(value, torch.Tensor):
                raise MemoryBankError(f"{key} must be a tensor, got {type(value).__name__}")
            if value.shape != current.shape:
                raise MemoryBankError(f"{key} has shape {list(value.shape)}, the memory's is {list(current.shape)}")
            if value.dtype.is_floating_point != current.dtype.is_floating_point or value.dtype == torch.bool:
                raise MemoryBankError(f"{key} has dtype {value.dtype}, the memory's is {current.dtype}")
            candidate.append(value.detach().to(device=current.device, dtype=current.dtype))
        _trex.bank_validate(candidate)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor], recurse: bool = True) -> PrototypeMemory:
        # Moves follow `fn`; dtype casts do not: a cast memory would lose its precision.
        def move_only(t: torch.Tensor) -> torch.Tensor:
            out = fn(t)
            return out if out.dtype == t.dtype else t.to(device=out.device)

        super()._apply(move_only, recurse)  # type: ignore[no-untyped-call]  # (unannotated in torch; returns self)
        return self


def prototype_logits(z: torch.Tensor, prototypes: torch.Tensor, temperature: float = TEMPERATURE) -> torch.Tensor:
    """Prototype logits: ``normalize(z) @ prototypes.T / temperature``, computed by the extension.

    Differentiable with respect to ``z``; no gradient reaches ``prototypes``. Computed in
    float32 with autocast turned off, so under ``torch.autocast`` (bf16/fp16 ``z``) the
    prototypes keep their float32 precision.

    Args:
        z: [N, D] float (any float dtype), e.g. the projector's output.
        prototypes: [C, D] float, same device, e.g. ``PrototypeMemory.prototypes()``.
        temperature: tau > 0 (the paper uses 0.1).

    Returns:
        float32 [N, C] on z's device, values in [-1/temperature, 1/temperature].

    Raises:
        trex.MemoryBankError: wrong shapes or dtypes, different devices, temperature <= 0.
    """
    with _autocast_off(z.device if isinstance(z, torch.Tensor) else torch.device("cpu")):
        # temperature is checked once, by the extension (the same rule as PrototypeHead's, same message)
        return _trex.prototype_logits(z, prototypes, temperature=temperature)


def prototype_loss(
    z: torch.Tensor, labels: torch.Tensor, prototypes: torch.Tensor, temperature: float = TEMPERATURE
) -> torch.Tensor:
    """Mean cross-entropy of :func:`prototype_logits` against ``labels``, in one call.

    Args:
        z: [N, D] float, differentiable.
        labels: [N] integer in [0, C), same device.
        prototypes: [C, D] float, same device.
        temperature: tau > 0.

    Returns:
        float32 scalar tensor, differentiable with respect to z.

    Raises:
        trex.MemoryBankError: wrong shapes or dtypes, mismatched batch sizes, a label out of
            range, an empty batch, different devices, temperature <= 0.
    """
    with _autocast_off(z.device if isinstance(z, torch.Tensor) else torch.device("cpu")):
        return _trex.prototype_loss(z, labels, prototypes, temperature=temperature)


__all__ = ["PrototypeMemory", "prototype_logits", "prototype_loss"]
