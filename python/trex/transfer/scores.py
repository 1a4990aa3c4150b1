"""Averaging accuracies over data sets by mean log-odds (docs/method.md).

Each accuracy p becomes ``log(p / (1 - p))``; the logits are averaged; the mean is reported as
such and mapped back to an accuracy with the sigmoid. Unlike the plain mean, a step from 98% to
99% counts as much as one from 50% to 73%.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# Accuracies are clipped to [EPS, 1 - EPS] so that 0% and 100% have finite log-odds.
EPS = 1e-4


def log_odds(p: float) -> float:
    """``log(p / (1 - p))`` of an accuracy p in [0, 1] (clipped to [EPS, 1 - EPS])."""
    if not 0.0 <= p <= 1.0 or math.isnan(p):
        raise ValueError(f"an accuracy must lie in [0, 1], got {p}")
    p = min(max(p, EPS), 1.0 - EPS)
    return math.log(p / (1.0 - p))


def mean_log_odds(accuracies: Sequence[float]) -> tuple[float, float]:
    """(mean log-odds, its sigmoid as an accuracy in [0, 1]) of accuracies in [0, 1].

    Raises:
        ValueError: no accuracy, or one outside [0, 1].
    """
    if len(accuracies) == 0:
        raise ValueError("mean_log_odds needs at least one accuracy")
    mean = sum(log_odds(p) for p in accuracies) / len(accuracies)
    return mean, 1.0 / (1.0 + math.exp(-mean))


__all__ = ["EPS", "log_odds", "mean_log_odds"]
