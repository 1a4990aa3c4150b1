"""The paper's head settings and the recipes that pick them (docs/method.md).

| recipe      | projector hidden layers | classifier                         |
|-------------|-------------------------|------------------------------------|
| "trex"      | 3                       | prototypes from an EMA-fed memory  |
| "trex-star" | 1                       | prototypes from an EMA-fed memory  |
| "baseline"  | none                    | plain linear classifier            |
"""

from __future__ import annotations

from typing import Literal

from trex.models._checks import positive_int

# Projector: L2-normalised input, hidden blocks of Linear(-> 2048) + BatchNorm1d + GELU, then a
# bias-free Linear(2048 -> 256) bottleneck.
PROJECTOR_HIDDEN_DIM = 2048
PROJECTOR_OUT_DIM = 256
# Truncated-normal init of the projector's and the cosine classifier's weights.
INIT_STD = 0.02

# Memory: one FIFO ring of 8192 (feature, label) entries, logits divided by tau = 0.1.
MEMORY_SIZE = 8192
TEMPERATURE = 0.1
# Pushes between two exact rebuilds of the per-class sums (they are float64 in between).
RECOMPUTE_EVERY = 1000
# EMA of backbone + projector (parameters only) whose global-crop features feed the memory.
EMA_MOMENTUM = 0.999

# How the memory starts: empty (zero prototypes) or full of random unit vectors (the published code).
MEMORY_INITS = ("empty", "noise")

Recipe = Literal["trex", "trex-star", "baseline"]

# Projector hidden layers per recipe; None: no projector, no memory, a linear classifier.
RECIPE_HIDDEN_LAYERS: dict[str, int | None] = {"trex": 3, "trex-star": 1, "baseline": None}


def recipe_hidden_layers(recipe: str) -> int | None:
    """The projector depth of a recipe (None for the baseline's linear classifier).

    Raises:
        ValueError: an unknown recipe; the message lists the valid ones.
    """
    if not isinstance(recipe, str) or recipe not in RECIPE_HIDDEN_LAYERS:
        valid = ", ".join(repr(r) for r in RECIPE_HIDDEN_LAYERS)
        raise ValueError(f"unknown recipe {recipe!r}; expected one of {valid}")
    return RECIPE_HIDDEN_LAYERS[recipe]


def resolve_projector_layers(recipe: str, override: int | None = None) -> int:
    """The projector hidden blocks of a recipe's head: ``override`` when given, else the recipe's
    (3 for ``"trex"``, 1 for ``"trex-star"``); 0 means no projector, always so for the baseline.

    Raises:
        ValueError: an unknown recipe, a negative ``override``, or a projector asked of the baseline.
        TypeError: ``override`` is not an int.
    """
    default = recipe_hidden_layers(recipe)
    if override is None:
        return default or 0
    override = positive_int("projector_layers", override, allow_zero=True)
    if default is None and override > 0:
        raise ValueError(f"recipe 'baseline' has a linear classifier and no projector; projector_layers="
                         f"{override} needs recipe 'trex' or 'trex-star'")
    return override if default is not None else 0


__all__ = [
    "EMA_MOMENTUM",
    "INIT_STD",
    "MEMORY_INITS",
    "MEMORY_SIZE",
    "PROJECTOR_HIDDEN_DIM",
    "PROJECTOR_OUT_DIM",
    "RECIPE_HIDDEN_LAYERS",
    "RECOMPUTE_EVERY",
    "Recipe",
    "TEMPERATURE",
    "recipe_hidden_layers",
    "resolve_projector_layers",
]
