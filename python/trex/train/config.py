"""The configuration of a `trex train` run: command-line flags, their defaults, and the resolved
:class:`TrainConfig` saved as ``config.json``.

Two sets of defaults, the presets of :mod:`trex.defaults` (where every value is written): the
paper's (ResNet-50, 224/96 px crops, 100 epochs, batch 256, ...) when ``--data`` is given, and a
small CPU-sized run on Fashion-MNIST (the built-in default) when it is not. Every flag's argparse
default is None, resolved from the preset that applies; an explicit flag always wins.

The built-in run makes about 600 SGD steps, so it departs from the paper where the paper's values
assume 500,000: EMA momentum 0.9 (0.999 would leave the memory fed by a nearly untrained copy
for the whole run), a memory of 1024 entries (about 30 steps of global crops), a peak learning rate
of 0.8 per 256 images (0.1 at batch 32; on 600 images per class, 0.4 reached 57.5% top-1 after 4
epochs and 0.8 reached 62.0% after 3), and a narrow ResNet (``resnet-tiny``).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trex.defaults import (
    BUILTIN_OVERRIDES,
    MEMORY_INITS,
    PRESETS,
    RECIPE_HIDDEN_LAYERS,
    RECIPES,
    resolve_projector_layers,
)
from trex.train.errors import TrainConfigError
from trex.train.files import CONFIG

# This module imports no torch (`trex train --help` and flag errors answer at once), so the
# choices that other modules implement are named here: trex.train.backbones builds ARCHS for
# exactly ARCH_NAMES (checked on import), trex.train.precision resolves AMP_CHOICES. The recipes
# (RECIPES) and every default come from trex.defaults.
ARCH_NAMES = ("resnet50", "resnet18", "resnet-small", "resnet-tiny")
AMP_CHOICES = ("auto", "bf16", "fp16", "off")
# A bound far above any real run (the schedule is computed per step, so it costs nothing): beyond
# it, an --epochs value is a typo.
MAX_EPOCHS = 1_000_000

# The two presets of trex.defaults: the paper's (with --data) and the built-in run's (without).
PAPER = "paper"
BUILTIN = "builtin"
# Flags whose default depends on whether --data is given: {name: {PAPER: value, BUILTIN: value}}
# (a view of the two presets, for the help text and for callers that name one column).
DUAL_DEFAULTS: dict[str, dict[str, Any]] = {
    name: {PAPER: PRESETS[PAPER][name], BUILTIN: PRESETS[BUILTIN][name]} for name in BUILTIN_OVERRIDES
}
_D = PRESETS[PAPER]  # the dataclass defaults: the paper's


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a run (``config.json`` in the output folder). See ``trex train --help``."""

    # data
    data: str | None = None
    val: str | None = None
    train_per_class: int | None = _D["train_per_class"]
    val_per_class: int | None = _D["val_per_class"]
    global_size: int = _D["global_size"]
    local_size: int = _D["local_size"]
    val_resize: int | None = None
    workers: int | None = None
    on_error: str = _D["on_error"]
    # model
    recipe: str = _D["recipe"]
    crops: str | None = None  # None: the recipe's crops (see `crop_recipe`)
    projector_layers: int | None = None  # None: the recipe's depth (see `head_projector_layers`)
    arch: str = _D["arch"]
    hidden_dim: int = _D["hidden_dim"]
    out_dim: int = _D["out_dim"]
    memory_size: int = _D["memory_size"]
    memory_init: str | None = None  # None: "empty" (see `trex.PrototypeHead`)
    temperature: float = _D["temperature"]
    ema_momentum: float = _D["ema_momentum"]
    # optimisation
    epochs: int = _D["epochs"]
    batch_size: int = _D["batch_size"]
    lr: float = _D["lr"]
    min_lr: float = _D["min_lr"]
    warmup_epochs: float = _D["warmup_epochs"]
    momentum: float = _D["momentum"]
    weight_decay: float = _D["weight_decay"]
    amp: str = _D["amp"]
    # run
    device: str = _D["device"]
    seed: int = _D["seed"]
    out: str | None = None
    resume: str | None = None
    overwrite: bool = _D["overwrite"]
    save_every: int = _D["save_every"]
    threads: int | None = None
    log_every_s: float = _D["log_every_s"]
    dump_rank_state: str | None = None

    @property
    def builtin(self) -> bool:
        """Whether this is the built-in Fashion-MNIST run (no --data)."""
        return self.data is None

    @property
    def crop_recipe(self) -> str:
        """The loader's multi-crop preset: ``--crops``, else the recipe's own."""
        return self.crops or self.recipe

    @property
    def head_projector_layers(self) -> int:
        """Projector hidden blocks of the head: ``--projector-layers``, else the recipe's (3 for
        trex, 1 for trex-star); 0 means no projector (always so for the baseline)."""
        return resolve_projector_layers(self.recipe, self.projector_layers)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _dual(name: str) -> str:
    """The help text's default of a flag that depends on --data: both presets' values."""
    d = DUAL_DEFAULTS[name]
    return f"default: {d[PAPER]} with --data, {d[BUILTIN]} for the built-in run"


def _default(name: str) -> str:
    """The help text's default of a flag that does not depend on --data: 30.0 as 30, 1e-06 as 1e-6."""
    value = PRESETS[PAPER][name]
    if isinstance(value, float) and value and abs(value) < 1e-3:
        mantissa, exponent = f"{value:.0e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _recipe_depths() -> str:
    """``3 for trex, 1 for trex-star``: the recipes' projector depths, for the help text."""
    return ", ".join(f"{n} for {r}" for r, n in RECIPE_HIDDEN_LAYERS.items() if n is not None)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of `trex train`, grouped by concern."""
    g = p.add_argument_group("data")
    g.add_argument(
        "--data",
        metavar="DIR",
        default=None,
        help="ImageFolder root with train/ and val/ (one sub-folder per class inside each); default: the "
        "built-in run on Fashion-MNIST classes 0-4, converted once to 64 px JPEGs under "
        "$TREX_CACHE or ~/.cache/trex",
    )
    g.add_argument("--val", metavar="DIR", default=None, help="validation ImageFolder, when it is not DATA/val")
    g.add_argument(
        "--train-per-class",
        metavar="N",
        type=int,
        default=None,
        help=f"train on the first N images of each class (all when unset; {_dual('train_per_class')})",
    )
    g.add_argument(
        "--val-per-class",
        metavar="N",
        type=int,
        default=None,
        help=f"validate on the first N images of each class (all when unset; {_dual('val_per_class')})",
    )
    g.add_argument(
        "--global-size", metavar="PX", type=int, default=None, help=f"global crop side in px ({_dual('global_size')})"
    )
    g.add_argument(
        "--local-size", metavar="PX", type=int, default=None, help=f"local crop side in px ({_dual('local_size')})"
    )
    g.add_argument(
        "--val-resize",
        metavar="PX",
        type=int,
        default=None,
        help="validation: resize the short side to this, then centre-crop --global-size (default: "
        "global-size x 256/224 with --data, global-size for the built-in run)",
    )
    g.add_argument(
        "--workers",
        metavar="N",
        type=int,
        default=None,
        help="loader decode/augment threads per process (default: the --threads count)",
    )
    g.add_argument(
        "--on-error",
        choices=("raise", "skip"),
        default=None,
        help="unreadable image: stop with an error naming it (raise, default) or skip it and count it",
    )
    g = p.add_argument_group("model")
    g.add_argument(
        "--recipe",
        metavar="NAME",
        default=None,
        help="trex (1 global + 8 local crops, 3-layer projector, memory prototypes; the paper's t-ReX), "
        "trex-star (scale split 0.40, 1-layer projector) or baseline (one crop, linear classifier); "
        f"default {_default('recipe')}. Picks the head and, unless --crops is given, the loader's "
        "crops",
    )
    g.add_argument(
        "--crops",
        metavar="NAME",
        default=None,
        help="the loader's multi-crop recipe, apart from the head: trex (1 global + 8 local crops, "
        "scale split 0.25), trex-star (split 0.40) or baseline (one crop, scale 0.08-1); sizes "
        "from --global-size / --local-size. Default: the --recipe's crops. E.g. --recipe baseline "
        "--crops trex = the linear classifier on every crop (baseline + multi-crop)",
    )
    g.add_argument(
        "--projector-layers",
        metavar="N",
        type=int,
        default=None,
        help="projector hidden blocks (Linear + BatchNorm + GELU) before the bottleneck; 0 = no "
        "projector, the prototypes or cosine classifier act on the backbone features (default: "
        f"{_recipe_depths()}; the baseline has no projector)",
    )
    g.add_argument(
        "--arch",
        metavar="NAME",
        default=None,
        help=f"backbone: {', '.join(ARCH_NAMES)} ({_dual('arch')}); resnet-small and resnet-tiny are "
        "narrow ResNets for 32-64 px images",
    )
    g.add_argument(
        "--hidden-dim", metavar="N", type=int, default=None, help=f"projector hidden width ({_dual('hidden_dim')})"
    )
    g.add_argument(
        "--out-dim",
        metavar="N",
        type=int,
        default=None,
        help=f"projector output / memory dim ({_dual('out_dim')}; with --projector-layers 0 the memory "
        "holds backbone features)",
    )
    g.add_argument(
        "--memory-size",
        metavar="N",
        type=int,
        default=None,
        help=f"prototype memory entries; 0 = learned cosine classifier ({_dual('memory_size')})",
    )
    g.add_argument(
        "--memory-init",
        choices=MEMORY_INITS,
        default=None,
        help="how the memory starts: empty (zero prototypes until a class is written; default) or noise "
        "(random unit vectors, memory-size / classes per class, as the published code)",
    )
    g.add_argument(
        "--temperature",
        metavar="TAU",
        type=float,
        default=None,
        help=f"logit temperature tau (default {_default('temperature')})",
    )
    g.add_argument(
        "--ema-momentum",
        metavar="M",
        type=float,
        default=None,
        help=f"EMA momentum of the model feeding the memory ({_dual('ema_momentum')}); lower it for "
        "runs of a few hundred steps",
    )
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", metavar="N", type=int, default=None, help=f"epochs ({_dual('epochs')})")
    g.add_argument(
        "--batch-size",
        metavar="N",
        type=int,
        default=None,
        help=f"images per step per process ({_dual('batch_size')}); the paper uses "
        f"{DUAL_DEFAULTS['batch_size'][PAPER]} in total",
    )
    g.add_argument(
        "--lr",
        metavar="LR",
        type=float,
        default=None,
        help="peak learning rate for a total batch of 256, scaled linearly with the total batch "
        f"({_dual('lr')}; {DUAL_DEFAULTS['lr'][PAPER]} is the paper's)",
    )
    g.add_argument(
        "--min-lr",
        metavar="LR",
        type=float,
        default=None,
        help=f"learning rate at the end of the cosine (default {_default('min_lr')})",
    )
    g.add_argument(
        "--warmup-epochs",
        metavar="E",
        type=float,
        default=None,
        help=f"linear warm-up from 0, in epochs ({_dual('warmup_epochs')})",
    )
    g.add_argument(
        "--momentum", metavar="M", type=float, default=None, help=f"SGD momentum (default {_default('momentum')})"
    )
    g.add_argument(
        "--weight-decay",
        metavar="WD",
        type=float,
        default=None,
        help=f"weight decay on weights only, none on biases and norm parameters (default {_default('weight_decay')})",
    )
    g.add_argument(
        "--amp",
        choices=AMP_CHOICES,
        default=None,
        help="mixed precision: auto (bf16 on GPUs that have it, else fp16 with loss scaling; bf16 on "
        f"CPUs with native bf16, else off), bf16, fp16 (CUDA only) or off (default {_default('amp')})",
    )
    g = p.add_argument_group("run")
    g.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default=None,
        help="auto: CUDA when available (one GPU per process under torchrun), else CPU",
    )
    g.add_argument(
        "--seed", metavar="N", type=int, default=None, help="seed of the model initialisation and of the data order"
    )
    g.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="output folder (default runs/<recipe>-<timestamp>; on --resume, the checkpoint's folder)",
    )
    g.add_argument(
        "--resume",
        metavar="PATH",
        default=None,
        help="continue from a checkpoint file or a run folder, with that run's settings (its "
        "config.json) for every flag not given here (e.g. --epochs N to train it longer)",
    )
    g.add_argument(
        "--overwrite",
        action="store_true",
        default=None,
        help="let this run replace the run already in --out (its checkpoint.pt, backbone.pt, "
        "metrics.jsonl); without it such a run is refused, except --resume of that folder's own "
        "checkpoint.pt",
    )
    g.add_argument(
        "--save-every",
        metavar="N",
        type=int,
        default=None,
        help=f"also keep checkpoint-epochNNNN.pt every N epochs (default {_default('save_every')}: only the latest)",
    )
    g.add_argument(
        "--threads",
        metavar="N",
        type=int,
        default=None,
        help="torch CPU threads per process (default: the cores this process may run on, i.e. its CPU "
        "affinity, divided among the processes on this machine; the same count whatever the "
        "machine's load, so lower it on a machine busy with other work); the count used is in "
        "the log and in config.json",
    )
    g.add_argument(
        "--log-every",
        metavar="S",
        type=float,
        default=None,
        dest="log_every_s",
        help=f"seconds between progress lines when the output is not a terminal (default {_default('log_every_s')})",
    )
    # Tests: every rank writes its final model state here (checks that ranks stay in sync).
    g.add_argument("--dump-rank-state", default=None, help=argparse.SUPPRESS)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Resolves the flags into a :class:`TrainConfig`: each flag not given (None) takes the value of the
    preset of trex.defaults that applies ("paper" with --data, "builtin" without), or with --resume
    first the resumed run's own setting (its config.json); values checked.

    Raises:
        TrainConfigError: an unknown recipe or architecture, or a value out of range.
    """
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    values = {k: v for k, v in vars(args).items() if k in names}
    if values.get("resume") is not None:  # a flag not given takes the resumed run's setting
        for name, saved in _saved_settings(values["resume"]).items():
            if name in names and name not in _NOT_RESUMED and values.get(name) is None:
                values[name] = saved
    preset = PRESETS[BUILTIN if values.get("data") is None else PAPER]
    for name, default in preset.items():  # a flag not given (None) takes its preset's value
        if values.get(name) is None:
            values[name] = default
    cfg = TrainConfig(**values)
    check_config(cfg)
    return cfg


# Settings of the run itself, not of its training: a resumed run does not take them from config.json.
_NOT_RESUMED = ("resume", "out", "overwrite", "dump_rank_state")


def _saved_settings(resume: str | os.PathLike[str]) -> dict[str, Any]:
    """The settings in the ``config.json`` of the run that ``--resume`` names (a run folder, or a
    checkpoint in one); none when there is no such file (a checkpoint copied elsewhere)."""
    path = Path(resume)
    path = (path if path.is_dir() else path.parent) / CONFIG
    if not path.is_file():
        return {}
    try:
        saved = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise TrainConfigError(
            f"--resume {resume}: cannot read the run's settings in {path} ({err}); fix or "
            "remove that file (then every flag not given takes its default)"
        ) from err
    if not isinstance(saved, dict):
        raise TrainConfigError(f"--resume {resume}: {path} does not hold a run's settings")
    return {k: v for k, v in saved.items() if k != "resolved"}


def make_config(**overrides: Any) -> TrainConfig:
    """A :class:`TrainConfig` from keyword arguments named as the flags (``data=...``,
    ``recipe="trex-star"``, ``epochs=10``), the others at their defaults as on the command line.

    Raises:
        TypeError: an unknown setting.
        TrainConfigError: a value that cannot work.
    """
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise TypeError(f"unknown training settings {unknown}; valid ones: {sorted(names)}")
    return config_from_args(argparse.Namespace(**overrides))


def check_config(cfg: TrainConfig) -> None:
    """Raises TrainConfigError with what to do when a setting cannot work."""
    for field in dataclasses.fields(cfg):  # every float setting: NaN and infinities are never meant
        value = getattr(cfg, field.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise TrainConfigError(f"--{_flag(field.name)} must be a finite number, got {value}")
    if cfg.recipe not in RECIPES:
        raise TrainConfigError(f"unknown recipe {cfg.recipe!r}; use --recipe {' | '.join(RECIPES)}")
    if cfg.crops is not None and cfg.crops not in RECIPES:
        raise TrainConfigError(f"unknown crops {cfg.crops!r}; use --crops {' | '.join(RECIPES)}")
    if cfg.projector_layers is not None:
        if cfg.projector_layers < 0:
            raise TrainConfigError(
                f"--projector-layers must not be negative, got {cfg.projector_layers} (0 = no projector)"
            )
        if cfg.recipe == "baseline" and cfg.projector_layers > 0:
            raise TrainConfigError(
                f"--projector-layers {cfg.projector_layers}: --recipe baseline has a linear "
                "classifier and no projector; use --recipe trex or trex-star for a projector"
            )
    if cfg.memory_init is not None and cfg.memory_init not in MEMORY_INITS:
        raise TrainConfigError(
            f"unknown memory start {cfg.memory_init!r}; use --memory-init {' | '.join(MEMORY_INITS)}"
        )
    if cfg.arch not in ARCH_NAMES:
        raise TrainConfigError(f"unknown architecture {cfg.arch!r}; use --arch {' | '.join(ARCH_NAMES)}")
    positive = ("epochs", "batch_size", "global_size", "local_size", "hidden_dim", "out_dim")
    for name in positive:
        if getattr(cfg, name) < 1:
            raise TrainConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(cfg, name)}")
    for name in ("train_per_class", "val_per_class", "val_resize", "workers", "threads"):
        value = getattr(cfg, name)
        if value is not None and value < 1:
            raise TrainConfigError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if cfg.epochs > MAX_EPOCHS:
        raise TrainConfigError(f"--epochs {cfg.epochs}: at most {MAX_EPOCHS:,} epochs")
    if cfg.memory_size < 0 or cfg.save_every < 0 or cfg.warmup_epochs < 0:
        raise TrainConfigError("--memory-size, --save-every and --warmup-epochs must not be negative")
    for name in ("min_lr", "momentum", "weight_decay", "log_every_s"):
        if getattr(cfg, name) < 0:
            raise TrainConfigError(f"--{_flag(name)} must not be negative, got {getattr(cfg, name)}")
    if not 0.0 <= cfg.ema_momentum <= 1.0:
        raise TrainConfigError(f"--ema-momentum must lie in [0, 1], got {cfg.ema_momentum}")
    if cfg.lr <= 0 or cfg.temperature <= 0:
        raise TrainConfigError("--lr and --temperature must be positive")


def _flag(name: str) -> str:
    return "log-every" if name == "log_every_s" else name.replace("_", "-")


def default_out(cfg: TrainConfig) -> Path:
    """``runs/<recipe>-<YYYYmmdd-HHMMSS>`` under the current folder."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{cfg.recipe}-{stamp}"


def val_resize(cfg: TrainConfig) -> int:
    if cfg.val_resize is not None:
        return cfg.val_resize
    return cfg.global_size if cfg.builtin else round(cfg.global_size * 256 / 224)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity; ``os.cpu_count()`` where there is none)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_threads(local_processes: int) -> int:
    """torch threads per process when ``--threads`` is not given: :func:`available_cores` divided
    among the processes of this machine (at least 1).

    Deterministic: the same machine and launch give the same count whatever the machine is doing
    (a rule that read the load average gave 1 thread right after a build and 2 a minute later).
    On a machine busy with other work, pass ``--threads`` lower: torch's OpenMP threads
    spin-wait at every barrier, so one thread too many costs far more than one too few
    (measured on 2 busy cores: a ResNet step 4x slower with 2 threads than with 1).
    """
    return max(1, available_cores() // max(local_processes, 1))


__all__ = [
    "AMP_CHOICES",
    "ARCH_NAMES",
    "BUILTIN",
    "DUAL_DEFAULTS",
    "PAPER",
    "RECIPES",
    "TrainConfig",
    "add_arguments",
    "available_cores",
    "check_config",
    "config_from_args",
    "default_out",
    "default_threads",
    "make_config",
    "val_resize",
]
