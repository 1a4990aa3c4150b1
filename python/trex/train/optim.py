"""The paper's optimisation: SGD with momentum, weight decay on weights only, and the per-iteration
learning-rate schedule (linear warm-up from 0, then cosine down to a floor)."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence

import torch
from torch import nn


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Trainable parameters split into decayed weights and undecayed biases / norm parameters.

    A parameter is decayed when it has two or more dimensions (conv and linear weights); biases,
    BatchNorm/LayerNorm scales and shifts (one dimension) get no weight decay. Parameters with
    ``requires_grad=False`` (the EMA copy) are left out.
    """
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (decay if p.ndim >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def create_optimizer(model: nn.Module, lr: float, momentum: float, weight_decay: float) -> torch.optim.SGD:
    """SGD with momentum over :func:`param_groups` (lr is overwritten every step by the schedule)."""
    return torch.optim.SGD(param_groups(model, weight_decay), lr=lr, momentum=momentum)


class LRSchedule(Sequence[float]):
    """The learning rate of every iteration, computed on demand (a run of 10^9 epochs costs no
    memory): linear from 0 to ``base_lr`` over ``warmup_iters`` (the first step is already above
    0), then half a cosine from ``base_lr`` to ``final_lr`` at the last iteration. Indexing and
    slicing as a list of ``total_iters`` floats."""

    def __init__(self, base_lr: float, final_lr: float, total_iters: int, warmup_iters: int) -> None:
        self.base_lr, self.final_lr, self.total_iters = base_lr, final_lr, max(int(total_iters), 0)
        self.warmup_iters = min(max(int(warmup_iters), 0), self.total_iters)

    def __len__(self) -> int:
        return self.total_iters

    def _at(self, i: int) -> float:
        if i < self.warmup_iters:
            return self.base_lr * (i + 1) / self.warmup_iters
        rest = self.total_iters - self.warmup_iters
        t = (i - self.warmup_iters) / max(rest - 1, 1)
        return self.final_lr + 0.5 * (self.base_lr - self.final_lr) * (1 + math.cos(math.pi * t))

    def __getitem__(self, index):  # noqa: ANN001, ANN204 (int -> float, slice -> list)
        if isinstance(index, slice):
            return [self._at(i) for i in range(*index.indices(self.total_iters))]
        i = operator.index(index)
        if i < 0:
            i += self.total_iters
        if not 0 <= i < self.total_iters:
            raise IndexError(f"iteration {index} outside the schedule of {self.total_iters}")
        return self._at(i)


def lr_schedule(base_lr: float, final_lr: float, total_iters: int, warmup_iters: int) -> LRSchedule:
    """Learning rate at every iteration: linear from 0 to ``base_lr`` over ``warmup_iters`` (the
    first step is already above 0), then half a cosine from ``base_lr`` to ``final_lr`` at the last.

    Returns:
        a lazy sequence of ``total_iters`` floats (:class:`LRSchedule`).
    """
    return LRSchedule(base_lr, final_lr, total_iters, warmup_iters)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


__all__ = ["LRSchedule", "create_optimizer", "lr_schedule", "param_groups", "set_lr"]
