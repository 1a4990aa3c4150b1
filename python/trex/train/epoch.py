"""One training epoch: normalise on the device, forward under autocast, backward, step, EMA."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import torch
from torch import nn

import trex
from trex.train.errors import NonFiniteLossError
from trex.train.optim import set_lr
from trex.train.precision import Precision
from trex.train.report import Progress


def train_one_epoch(
    model: nn.Module,
    step_model: nn.Module,
    loader: trex.MultiCropLoader,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    lr_curve: Sequence[float],
    first_iter: int,
    device: torch.device,
    precision: Precision,
    progress: Progress,
    channels_last: bool = False,
) -> dict[str, float]:
    """Runs one pass over ``loader``.

    Args:
        model: the :class:`trex.TReX` model (its ``update_ema`` runs after every step).
        step_model: what the forward pass calls: ``model`` itself, or its DistributedDataParallel wrapper.
        loader: yields batches of uint8 crops (``loader.set_epoch`` already called).
        lr_curve: the learning rate of every iteration of the run; this epoch uses
            ``lr_curve[first_iter : first_iter + len(loader)]``.
        progress: the progress line to update.

    Returns:
        ``{"train_loss": mean loss over the epoch's steps (this rank), "lr": the last step's lr,
        "steps": steps run}``.

    Raises:
        NonFiniteLossError: the loss became NaN or infinite.
    """
    model.train()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    steps = 0
    lr = lr_curve[min(first_iter, len(lr_curve) - 1)]
    t_ready = time.perf_counter()
    for step, batch in enumerate(loader, start=1):
        wait = time.perf_counter() - t_ready
        lr = lr_curve[min(first_iter + step - 1, len(lr_curve) - 1)]
        set_lr(optimizer, lr)
        batch = batch.to(device)
        groups = [trex.normalize(g) for g in batch.groups]
        if channels_last:
            groups = [g.contiguous(memory_format=torch.channels_last) for g in groups]
        with precision.autocast():
            loss, _ = step_model(groups, batch.labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        model.update_ema()
        value = loss.detach().double()
        loss_sum += value
        steps += 1
        if not math.isfinite(loss_value := float(value)):
            raise NonFiniteLossError(
                f"the training loss is {loss_value} at epoch {progress.epoch}, step {step}; "
                "lower --lr (or check the data)"
            )
        progress.update(step, batch.labels.numel(), wait, loss_value, lr)
        t_ready = time.perf_counter()
    return {"train_loss": float(loss_sum) / max(steps, 1), "lr": lr, "steps": steps}


# A parameter or buffer beyond this magnitude means a diverged run, even while still finite: healthy
# weights and BatchNorm statistics stay many orders below it, and float32 squares (variances) of
# values near 1e19 overflow to infinity.
MAX_ABS = 1e12


@torch.no_grad()
def check_finite_model(model: nn.Module, val_loss: float, epoch: int) -> None:
    """After an epoch: a finite validation loss, and parameters and buffers that are finite and below
    :data:`MAX_ABS` (a run can keep a finite training loss while its weights or BatchNorm
    statistics blow up, e.g. running variances of 1e19 at a huge learning rate).

    Raises:
        NonFiniteLossError: naming what diverged.
    """
    if not math.isfinite(val_loss):
        raise NonFiniteLossError(
            f"the validation loss is {val_loss} after epoch {epoch}: the model diverged; "
            "lower --lr (nothing of this epoch was saved)"
        )
    for name, t in (*model.named_parameters(), *model.named_buffers()):
        if not t.is_floating_point() or t.numel() == 0:
            continue
        peak = float(t.detach().abs().max())
        if not peak <= MAX_ABS:  # also NaN
            raise NonFiniteLossError(
                f"the model's {name} reached {peak:.3g} after epoch {epoch}: the model "
                "diverged; lower --lr (nothing of this epoch was saved)"
            )


__all__ = ["MAX_ABS", "check_finite_model", "train_one_epoch"]
