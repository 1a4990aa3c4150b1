"""Every default of t-ReX in one registry: the paper's settings, the built-in run's, and the recipes.

Two named presets of the settings of a run (timm's pattern: configurations kept in one registry
and looked up by name, never restated where they are used):

- ``"paper"`` (:data:`PAPER`): the paper's values (docs/method.md) and the defaults of a run's
  other settings; what ``trex train --data DIR`` uses;
- ``"builtin"`` (:data:`BUILTIN`): the paper's with :data:`BUILTIN_OVERRIDES`, the values a run of
  about 600 SGD steps on Fashion-MNIST needs; what ``trex train`` with no ``--data`` uses (why each
  value departs from the paper's: :mod:`trex.train.config`).

Everything else reads them: :class:`trex.train.TrainConfig`'s field defaults, ``trex train``'s flags
and their help (:mod:`trex.train.config`), ``trex compare``, and the model constructors' defaults
(:class:`trex.TReX`, :class:`trex.PrototypeHead`), which take the paper's values under the names
below (``MEMORY_SIZE`` = ``PAPER["memory_size"]``, ...). The crop sizes live in
:mod:`trex.constants` (the loader and the Rust core use them too) and are read from there.

The recipes and the head each one picks:

| recipe      | projector hidden layers | classifier                         |
|-------------|-------------------------|------------------------------------|
| "trex"      | 3                       | prototypes from an EMA-fed memory  |
| "trex-star" | 1                       | prototypes from an EMA-fed memory  |
| "baseline"  | none                    | plain linear classifier            |

This module imports no torch: ``trex train --help`` reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, Literal, get_args

from trex.constants import GLOBAL_CROP_SIZE, LOCAL_CROP_SIZE
from trex.models._checks import positive_int

# --- the recipes --------------------------------------------------------------------------------

Recipe = Literal["trex", "trex-star", "baseline"]
# The recipes, in this order everywhere (`trex train --recipe`, the model, `trex compare`).
RECIPES: tuple[Recipe, ...] = get_args(Recipe)
DEFAULT_RECIPE: Final[Recipe] = "trex"

# Projector hidden layers per recipe; None: no projector, no memory, a linear classifier.
RECIPE_HIDDEN_LAYERS: dict[str, int | None] = {"trex": 3, "trex-star": 1, "baseline": None}

# --- the paper's model ---------------------------------------------------------------------------

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

# How the memory starts: empty (zero prototypes; the default) or full of random unit vectors (the
# published code).
MEMORY_INITS = ("empty", "noise")
DEFAULT_MEMORY_INIT: Final = MEMORY_INITS[0]

# --- the presets of a run (the fields of trex.train.TrainConfig) ---------------------------------

# A setting absent from a preset defaults to None: not given, resolved when the run starts
# (--val-resize from --global-size, --workers from --threads, --crops and --projector-layers from
# --recipe, --memory-init is the model's "empty", --threads from the cores; --data, --val, --out,
# --resume name files).
PAPER: Mapping[str, Any] = MappingProxyType(
    {
        # data
        "train_per_class": None,  # all images
        "val_per_class": None,
        "global_size": GLOBAL_CROP_SIZE,
        "local_size": LOCAL_CROP_SIZE,
        "on_error": "raise",
        # model
        "recipe": DEFAULT_RECIPE,
        "arch": "resnet50",
        "hidden_dim": PROJECTOR_HIDDEN_DIM,
        "out_dim": PROJECTOR_OUT_DIM,
        "memory_size": MEMORY_SIZE,
        "temperature": TEMPERATURE,
        "ema_momentum": EMA_MOMENTUM,
        # optimisation: SGD, lr per 256 images, linear warm-up then cosine to min_lr
        "epochs": 100,
        "batch_size": 256,
        "lr": 0.1,
        "min_lr": 1e-6,
        "warmup_epochs": 10.0,
        "momentum": 0.9,
        "weight_decay": 1e-4,
        "amp": "auto",
        # run
        "device": "auto",
        "seed": 0,
        "overwrite": False,
        "save_every": 0,
        "log_every_s": 30.0,
    }
)

# The built-in run: Fashion-MNIST classes 0-4 at 64 px, about 600 SGD steps on a CPU (the reasons
# for each value: trex.train.config). val_per_class is listed because `trex train --help` names it
# among the settings that depend on --data, though both presets validate on every image.
BUILTIN_OVERRIDES: Mapping[str, Any] = MappingProxyType(
    {
        "arch": "resnet-tiny",
        "global_size": 64,
        "local_size": 28,
        "epochs": 4,
        "batch_size": 32,
        "warmup_epochs": 0.5,
        "train_per_class": 1000,
        "val_per_class": None,
        "lr": 0.8,
        "hidden_dim": 512,
        "out_dim": 128,
        "memory_size": 1024,
        "ema_momentum": 0.9,
    }
)
BUILTIN: Mapping[str, Any] = MappingProxyType({**PAPER, **BUILTIN_OVERRIDES})

PRESETS: Mapping[str, Mapping[str, Any]] = MappingProxyType({"paper": PAPER, "builtin": BUILTIN})


def preset(name: str) -> Mapping[str, Any]:
    """The settings of a named preset (``"paper"`` or ``"builtin"``), read-only.

    Raises:
        ValueError: an unknown name; the message lists the valid ones.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected one of {', '.join(map(repr, PRESETS))}")
    return PRESETS[name]


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
        raise ValueError(
            f"recipe 'baseline' has a linear classifier and no projector; projector_layers="
            f"{override} needs recipe 'trex' or 'trex-star'"
        )
    return override if default is not None else 0


if set(RECIPE_HIDDEN_LAYERS) != set(RECIPES) or not set(BUILTIN_OVERRIDES) <= set(PAPER):
    raise ImportError(
        "trex.defaults: RECIPE_HIDDEN_LAYERS must name every recipe, and the built-in run may "
        "only override settings the paper preset has"
    )

__all__ = [
    "BUILTIN",
    "BUILTIN_OVERRIDES",
    "DEFAULT_MEMORY_INIT",
    "DEFAULT_RECIPE",
    "EMA_MOMENTUM",
    "INIT_STD",
    "MEMORY_INITS",
    "MEMORY_SIZE",
    "PAPER",
    "PRESETS",
    "PROJECTOR_HIDDEN_DIM",
    "PROJECTOR_OUT_DIM",
    "RECIPES",
    "RECIPE_HIDDEN_LAYERS",
    "RECOMPUTE_EVERY",
    "Recipe",
    "TEMPERATURE",
    "preset",
    "recipe_hidden_layers",
    "resolve_projector_layers",
]
