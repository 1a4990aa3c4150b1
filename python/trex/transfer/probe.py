"""Linear probe: multinomial logistic regression (scikit-learn, L-BFGS) on frozen features.

The inverse regularisation strength C is chosen from a log-spaced grid on a held-out 20% of each
class of the training set, then the probe is refit on all of the training set and tested once
(docs/method.md, "Transfer protocol"). Features are standardised with the mean and standard
deviation of the data the probe is fitted on, so one grid suits backbones of any feature scale.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from trex.transfer.errors import TransferError

# One value per decade from 1e-4 to 1e4 (9 values).
DEFAULT_C_GRID: tuple[float, ...] = tuple(float(c) for c in np.logspace(-4, 4, 9))
HOLDOUT_FRACTION = 0.2
MAX_ITER = 1000
# BLAS threads of the probe. These problems are small (thousands x hundreds): with more threads,
# on a busy machine, OpenBLAS spins and the fits ran 20x slower (measured on 2 shared cores).
BLAS_THREADS = 1


@dataclass
class ProbeResult:
    """Outcome of one linear probe.

    Attributes:
        top1: test accuracy in [0, 1].
        c: the chosen C.
        val_top1: held-out accuracy of every C tried, in grid order.
        grid: the C values tried.
        converged: whether L-BFGS converged in the final fit.
    """

    top1: float
    c: float
    val_top1: list[float] = field(default_factory=list)
    grid: list[float] = field(default_factory=list)
    converged: bool = True


def holdout_split(
    labels: np.ndarray, fraction: float = HOLDOUT_FRACTION, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (fit, held_out): ``ceil(fraction * n_k)`` random images of each class k held out
    (none of a class with a single image).

    Raises:
        TransferError: ``fraction`` outside (0, 1).
    """
    if not 0.0 < fraction < 1.0:
        raise TransferError(f"held-out fraction must lie in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    fit, held = [], []
    for k in np.unique(labels):
        idx = np.flatnonzero(labels == k)
        rng.shuffle(idx)
        n_held = math.ceil(fraction * len(idx)) if len(idx) > 1 else 0
        held.append(idx[:n_held])
        fit.append(idx[n_held:])
    return np.sort(np.concatenate(fit)), np.sort(np.concatenate(held))


def _standardise(fit_x: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    mean = fit_x.mean(0)
    std = fit_x.std(0)
    std[std < 1e-12] = 1.0
    return [(a - mean) / std for a in (fit_x, *others)]


def _model(c: float):  # noqa: ANN202 (sklearn estimator)
    from sklearn.linear_model import LogisticRegression

    # lbfgs fits the multinomial (softmax) loss for more than two classes.
    return LogisticRegression(C=c, solver="lbfgs", max_iter=MAX_ITER, warm_start=True)


def _fit(model, x: np.ndarray, y: np.ndarray) -> bool:  # noqa: ANN001
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings(), threadpool_limits(limits=BLAS_THREADS, user_api="blas"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, y)
    return bool(np.all(np.asarray(model.n_iter_) < MAX_ITER))


def select_c(
    x: np.ndarray,
    y: np.ndarray,
    grid: Sequence[float] = DEFAULT_C_GRID,
    *,
    fraction: float = HOLDOUT_FRACTION,
    seed: int = 0,
) -> tuple[float, list[float]]:
    """Picks C on a held-out part of the training set.

    Fits on the other part for every C of ``grid`` (ascending, each fit warm-started from the
    previous one) and keeps the C of best held-out accuracy; ties go to the smallest C (the
    strongest regularisation).

    Args:
        x: float [N, D] training features.
        y: int [N] labels.
        grid: C values to try.

    Returns:
        (best C, held-out accuracy of each C in ``grid`` order).
    """
    grid = sorted(float(c) for c in grid)
    if not grid or any(c <= 0 for c in grid):
        raise TransferError(f"the C grid must hold positive values, got {grid}")
    fit, held = holdout_split(y, fraction, seed)
    if len(held) == 0 or len(np.unique(y[fit])) < 2:
        raise TransferError("choosing C needs at least 2 training images per class (one is held out)")
    fx, hx = _standardise(x[fit], x[held])
    model = _model(grid[0])
    scores = []
    for c in grid:
        model.set_params(C=c)
        _fit(model, fx, y[fit])
        scores.append(float((model.predict(hx) == y[held]).mean()))
    best = grid[int(np.argmax(scores))]
    return best, scores


def linear_probe(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    grid: Sequence[float] = DEFAULT_C_GRID,
    *,
    fraction: float = HOLDOUT_FRACTION,
    seed: int = 0,
) -> ProbeResult:
    """The transfer protocol's linear probe on frozen features.

    Args:
        train_x, test_x: float [N, D] features (numpy or CPU tensors).
        train_y, test_y: int [N] labels; every test label occurs in ``train_y``.
        grid: C values for the held-out selection.

    Returns:
        A :class:`ProbeResult` (test top-1 in [0, 1], chosen C, held-out curve).
    """
    train_x, test_x = np.asarray(train_x, dtype=np.float64), np.asarray(test_x, dtype=np.float64)
    train_y, test_y = np.asarray(train_y), np.asarray(test_y)
    if len(np.unique(train_y)) < 2:
        raise TransferError("the linear probe needs at least 2 classes in the training set")
    c, scores = select_c(train_x, train_y, grid, fraction=fraction, seed=seed)
    fx, tx = _standardise(train_x, test_x)
    model = _model(c)
    converged = _fit(model, fx, train_y)
    top1 = float((model.predict(tx) == test_y).mean())
    return ProbeResult(top1, c, scores, sorted(float(g) for g in grid), converged)


__all__ = ["DEFAULT_C_GRID", "HOLDOUT_FRACTION", "ProbeResult", "holdout_split", "linear_probe", "select_c"]
