"""What a person watches: the per-epoch progress line, metrics.jsonl and the PNG plot."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO


def _duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return (
        f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
        if seconds >= 3600
        else f"{seconds // 60}:{seconds % 60:02d}"
    )


class Progress:
    """One progress line per epoch: images/s, loss, lr and data-wait share (the fraction of the
    step time spent waiting for the loader).

    On a terminal the line is redrawn in place (carriage return); otherwise (a log file, CI) a line
    is printed every ``log_every_s`` seconds and at the end. Disabled: prints nothing (ranks > 0).
    """

    def __init__(
        self,
        epoch: int,
        epochs: int,
        steps: int,
        enabled: bool = True,
        stream: TextIO | None = None,
        log_every_s: float = 30.0,
    ) -> None:
        self.epoch, self.epochs, self.steps, self.enabled = epoch, epochs, steps, enabled
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.log_every_s = log_every_s
        self.start = self._last_print = time.perf_counter()
        self.images = 0
        self.wait = 0.0

    def update(self, step: int, images: int, wait_s: float, loss: float, lr: float) -> None:
        """After step ``step`` (1-based): ``images`` more images, ``wait_s`` spent waiting for data."""
        self.images += images
        self.wait += wait_s
        now = time.perf_counter()
        if not self.enabled or (not self.tty and now - self._last_print < self.log_every_s and step < self.steps):
            return
        if self.tty and now - self._last_print < 0.1 and step < self.steps:
            return
        self._last_print = now
        elapsed = now - self.start
        width = 20
        done = int(width * step / max(self.steps, 1))
        bar = "=" * done + (">" if done < width else "") + " " * (width - done - 1)
        eta = elapsed / step * (self.steps - step) if step else 0.0
        line = (
            f"epoch {self.epoch}/{self.epochs} [{bar}] {step}/{self.steps} "
            f"{self.images / max(elapsed, 1e-9):.0f} img/s  loss {loss:.4f}  lr {lr:.4g}  "
            f"data-wait {100 * self.wait / max(elapsed, 1e-9):.0f}%  {_duration(elapsed)}<{_duration(eta)}"
        )
        if self.tty:
            self.stream.write("\r" + line + "\x1b[K" + ("\n" if step >= self.steps else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def summary(self) -> dict[str, float]:
        elapsed = time.perf_counter() - self.start
        return {
            "images_per_s": self.images / max(elapsed, 1e-9),
            "data_wait": self.wait / max(elapsed, 1e-9),
            "epoch_time_s": elapsed,
        }


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl file (empty when it does not exist)."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_metrics(path: Path, records: list[dict[str, Any]]) -> None:
    """Rewrites metrics.jsonl with ``records`` (one JSON object per line), atomically."""
    from trex.train.files import write_text

    write_text(path, "".join(json.dumps(r) + "\n" for r in records))


# The planned learning-rate curve is drawn from at most this many points.
PLOT_POINTS = 2000


def plot_metrics(
    records: list[dict[str, Any]], lr_curve: Sequence[float], steps_per_epoch: int, path: Path, title: str
) -> None:
    """Saves a PNG with train/val loss, validation top-1 and the learning rate against epochs
    (see :func:`metrics_figure`)."""
    from trex._plot import pyplot
    from trex.train.files import atomic_write

    fig = metrics_figure(records, lr_curve, steps_per_epoch, title)
    try:
        atomic_write(path, lambda f: fig.savefig(f, dpi=90, format="png"))
    finally:
        pyplot().close(fig)


def metrics_figure(records: list[dict[str, Any]], lr_curve: Sequence[float], steps_per_epoch: int, title: str) -> Any:
    """The figure of :func:`plot_metrics` (a matplotlib Figure; close it with ``plt.close``).

    The learning-rate panel shows the whole planned schedule (per iteration) and marks how far the
    run has come. Epoch axes tick whole epochs only.
    """
    from matplotlib.ticker import MaxNLocator

    from trex._plot import pyplot

    plt = pyplot()

    epochs = [r["epoch"] for r in records]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    ax = axes[0]
    ax.plot(epochs, [r["train_loss"] for r in records], "o-", label="train")
    ax.plot(epochs, [r["val_loss"] for r in records], "s-", label="val")
    ax.set_ylabel("cross-entropy")
    ax.set_title("loss")
    ax.legend()
    ax = axes[1]
    ax.plot(epochs, [r["val_top1"] for r in records], "o-", color="C2")
    ax.set_ylabel("top-1 (%)")
    ax.set_title("validation accuracy")
    ax = axes[2]
    stride = max(1, len(lr_curve) // PLOT_POINTS)  # a long run's schedule, sampled
    its = list(range(0, len(lr_curve), stride))
    if its and its[-1] != len(lr_curve) - 1:
        its.append(len(lr_curve) - 1)
    x = [(i + 1) / steps_per_epoch for i in its]
    y = [lr_curve[i] for i in its]
    ax.plot(x, y, color="0.7", label="planned")
    done = (epochs[-1] if epochs else 0) * steps_per_epoch
    n_done = sum(1 for i in its if i < done)
    ax.plot(x[:n_done], y[:n_done], color="C3", label="done")
    ax.set_title("learning rate")
    ax.legend()
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epoch 1, 2, 3; never 1.5
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


__all__ = ["Progress", "metrics_figure", "plot_metrics", "read_metrics", "write_metrics"]
