"""Training and evaluating each (variant, seed) of a comparison, reusing finished runs."""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trex.compare.variants import Variant
from trex.train.files import CONFIG, METRICS

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
    # the run folders under the comparison's root are its own: an unfinished or different run there
    # is replaced (a finished identical one is reused, see `finished`)
    values = {
        "seed": seed,
        "out": str(out),
        "overwrite": True,
        "epochs": budget.epochs,
        "train_per_class": budget.train_per_class,
        "batch_size": budget.batch_size,
        "threads": budget.threads,
        **dict(budget.extra),
        **variant.settings,
    }
    for key, value in values.items():
        if value is not None:
            setattr(args, key, value)
    return config_from_args(args)


def finished(out: Path, cfg: Any) -> dict[str, Any] | None:
    """The last metrics of a finished run in ``out`` with the same configuration, else None."""
    try:
        saved = json.loads((out / CONFIG).read_text())
        records = [json.loads(line) for line in (out / METRICS).read_text().splitlines() if line.strip()]
    except (OSError, ValueError):
        return None
    wanted = cfg.to_json()
    resources = ("out", "resume", "log_every_s", "threads", "workers", "overwrite")  # where and how, not what
    same = all(saved.get(k) == v for k, v in wanted.items() if k not in resources)
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


def evaluate_run(
    variant: str, seed: int, result: dict[str, Any], datasets: list, options: Any, reused: bool = False
) -> dict[str, Any]:
    """The comparison's record of one trained run: its seen-task accuracy and its transfer results
    (:func:`trex.transfer.evaluate_transfer` on ``datasets`` with ``options``)."""
    from trex.transfer import evaluate_transfer

    transfer = evaluate_transfer(result["backbone"], datasets, options)
    log.info(
        "%s seed %d: seen-task top-1 %s, transfer top-1 %.2f%% (%s)",
        variant,
        seed,
        "-" if result.get("val_top1") is None else f"{result['val_top1']:.2f}%",
        transfer["mean"]["linear_top1"],
        "reused" if reused else "trained",
    )
    return {
        "variant": variant,
        "seed": seed,
        "seen_top1": result.get("val_top1"),
        "run": result.get("out"),
        "epochs": result.get("epoch"),
        "transfer": transfer,
    }


def train_and_evaluate(
    variant: Variant, seed: int, root: Path, budget: Budget, datasets: list, options: Any
) -> dict[str, Any]:
    """Trains (or reuses) one run and evaluates its transfer: the unit of work of a comparison."""
    result, reused = train_or_reuse(variant, seed, root, budget)
    return evaluate_run(variant.name, seed, result, datasets, options, reused)


def _log_to_stderr() -> None:
    """A spawned worker logs as the `trex` command does (its runs' epoch lines reach the user)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")


def run_jobs(calls: list[tuple[Any, ...]], jobs: int) -> list[dict[str, Any]]:
    """``fn(*args)`` for every ``(fn, *args)`` of ``calls`` (:func:`train_and_evaluate`,
    :func:`evaluate_run`), ``jobs`` at a time in fresh processes (spawned: each run owns its
    threads, its loader and its device memory), or in this process when ``jobs`` is 1. Results
    come back in the order of ``calls``; the first error is raised."""
    if jobs <= 1:
        return [fn(*args) for fn, *args in calls]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_log_to_stderr
    ) as pool:
        futures = [pool.submit(fn, *args) for fn, *args in calls]
        try:
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise


__all__ = ["Budget", "evaluate_run", "finished", "run_jobs", "train_and_evaluate", "train_config", "train_or_reuse"]
