"""Training and evaluating each (variant, seed) of a comparison, reusing finished runs."""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trex.compare.variants import Variant

log = logging.getLogger("trex.compare")


@dataclass(frozen=True)
class Budget:
    """What every run of the comparison shares (flags of `trex train`; None = its default)."""

    epochs: int | None = None
    train_per_class: int | None = None
    batch_size: int | None = None
    threads: int | None = None
    extra: tuple[tuple[str, Any], ...] = ()


def train_config(variant: Variant, seed: int, out: Path, budget: Budget):  # noqa: ANN201 (TrainConfig)
    """The `trex train` configuration of one run (built-in data, the variant's settings)."""
    from trex.train.config import add_arguments, config_from_args

    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser)
    args = parser.parse_args([])
    values = {"seed": seed, "out": str(out), "epochs": budget.epochs, "train_per_class": budget.train_per_class,
              "batch_size": budget.batch_size, "threads": budget.threads, **dict(budget.extra), **variant.settings}
    for key, value in values.items():
        if value is not None:
            setattr(args, key, value)
    return config_from_args(args)


def finished(out: Path, cfg: Any) -> dict[str, Any] | None:
    """The last metrics of a finished run in ``out`` with the same configuration, else None."""
    try:
        saved = json.loads((out / "config.json").read_text())
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    except (OSError, ValueError):
        return None
    wanted = cfg.to_json()
    same = all(saved.get(k) == v for k, v in wanted.items() if k not in ("out", "resume", "log_every_s", "threads"))
    if not same or not records or records[-1].get("epoch") != cfg.epochs or not (out / "backbone.pt").is_file():
        return None
    return records[-1]


def train_or_reuse(variant: Variant, seed: int, root: Path, budget: Budget) -> tuple[dict[str, Any], bool]:
    """Trains ``variant`` with ``seed`` into ``root/<name>-seed<seed>``, or reuses a finished run.

    Returns:
        (last epoch's metrics with ``out`` / ``backbone`` paths, reused).
    """
    from trex.train import run as train

    out = root / f"{variant.name}-seed{seed}"
    cfg = train_config(variant, seed, out, budget)
    done = finished(out, cfg)
    if done is not None:
        log.info("%s seed %d: reusing the finished run in %s", variant.name, seed, out)
        return {**done, "out": str(out), "backbone": str(out / "backbone.pt")}, True
    log.info("%s seed %d: training into %s", variant.name, seed, out)
    return train(cfg), False


__all__ = ["Budget", "finished", "train_config", "train_or_reuse"]
