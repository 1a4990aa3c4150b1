"""`trex compare`: baseline, t-ReX, t-ReX* and ablations trained on the built-in data with several
seeds, each evaluated by the transfer protocol; the trade-off table and plot."""

from trex.compare.benchmarks import BENCHMARKS, Benchmark, Preset, TransferSet
from trex.compare.report import markdown, scatter, summarise, write_outputs
from trex.compare.runner import (
    Budget,
    evaluate_run,
    finished,
    run_jobs,
    train_and_evaluate,
    train_config,
    train_or_reuse,
)
from trex.compare.variants import ABLATIONS, RECIPE_VARIANTS, VARIANTS, Variant

__all__ = [
    "ABLATIONS",
    "BENCHMARKS",
    "Benchmark",
    "Budget",
    "Preset",
    "RECIPE_VARIANTS",
    "TransferSet",
    "VARIANTS",
    "Variant",
    "evaluate_run",
    "finished",
    "markdown",
    "run_jobs",
    "scatter",
    "summarise",
    "train_and_evaluate",
    "train_config",
    "train_or_reuse",
    "write_outputs",
]
