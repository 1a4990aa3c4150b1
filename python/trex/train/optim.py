"""The paper's optimisation: SGD with momentum, weight decay on weights only, and the per-iteration
learning-rate schedule (linear warm-up from 0, then cosine down to a floor)."""

from __future__ import annotations

import math

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


def lr_schedule(base_lr: float, final_lr: float, total_iters: int, warmup_iters: int) -> list[float]:
    """Learning rate at every iteration: linear from 0 to ``base_lr`` over ``warmup_iters`` (the
    first step is already above 0), then half a cosine from ``base_lr`` to ``final_lr`` at the last.

    Returns:
        ``total_iters`` floats.
    """
    warmup_iters = min(warmup_iters, total_iters)
    out = [base_lr * (i + 1) / warmup_iters for i in range(warmup_iters)]
    rest = total_iters - warmup_iters
    for i in range(rest):
        t = i / max(rest - 1, 1)
        out.append(final_lr + 0.5 * (base_lr - final_lr) * (1 + math.cos(math.pi * t)))
    return out


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


__all__ = ["create_optimizer", "lr_schedule", "param_groups", "set_lr"]
