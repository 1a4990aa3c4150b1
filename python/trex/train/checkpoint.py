"""Checkpoints: everything a run needs to continue exactly, and the backbone alone for transfer.

``checkpoint.pt`` holds the model (backbone, head, memory, EMA copy), optimiser, gradient
scaler, loader state, the epochs done, the RNG state and the configuration. ``backbone.pt`` holds
``{"arch", "feature_dim", "state_dict", ...}``: :func:`load_backbone` rebuilds the network from it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trex.defaults import resolve_projector_layers
from trex.train.errors import TrainConfigError
from trex.train.files import BACKBONE, CHECKPOINT, METRICS, atomic_write

FORMAT = 1
# What a checkpoint must hold to be resumed.
REQUIRED = ("epoch", "config", "classes", "model", "optimizer", "scaler", "loader", "rng", "metrics")


def _atomic_save(obj: Any, path: Path) -> None:
    """torch.save through a fresh temporary file renamed into place (see :mod:`trex.train.files`)."""
    atomic_write(path, lambda f: torch.save(obj, f))


def copy_name(epoch: int) -> str:
    """The name of the copy ``--save-every`` keeps of epoch ``epoch``'s checkpoint."""
    return f"checkpoint-epoch{epoch:04d}.pt"


def save_checkpoint(state: dict[str, Any], out: Path, keep_copy: bool = False) -> Path:
    """Writes ``out/checkpoint.pt`` (atomically); with ``keep_copy`` also
    ``out/checkpoint-epoch<NNNN>.pt`` (written first, so that ``checkpoint.pt`` is the last file
    of an epoch to change). Returns the path of the latest checkpoint."""
    path = out / CHECKPOINT
    blob = {"format": FORMAT, **state}
    if keep_copy:
        _atomic_save(blob, out / copy_name(state["epoch"]))
    _atomic_save(blob, path)
    return path


def save_backbone(
    backbone: nn.Module,
    out: Path,
    *,
    arch: str,
    feature_dim: int,
    recipe: str,
    epoch: int,
    image_size: int,
    classes: list[str],
    crops: str | None = None,
    projector_layers: int | None = None,
) -> Path:
    """Writes ``out/backbone.pt``: the backbone's state_dict with what is needed to rebuild it (and
    how it was trained: recipe, crops, projector hidden layers)."""
    path = out / BACKBONE
    _atomic_save(
        {
            "format": FORMAT,
            "arch": arch,
            "feature_dim": feature_dim,
            "recipe": recipe,
            "crops": crops or recipe,
            "projector_layers": projector_layers,
            "epoch": epoch,
            "image_size": image_size,
            "classes": classes,
            "state_dict": {k: v.detach().cpu() for k, v in backbone.state_dict().items()},
        },
        path,
    )
    return path


def load_backbone(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Rebuilds a backbone saved by `trex train` (``backbone.pt``) for transfer evaluation.

    Returns:
        (backbone, info): the network in eval mode, mapping float [B, 3, H, W] normalised images
        to [B, info["feature_dim"]] features; ``info`` holds arch, recipe, epoch, image_size, classes.
    """
    from trex.train.backbones import create_backbone

    blob = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(blob, dict) or "arch" not in blob or "state_dict" not in blob:
        raise TrainConfigError(f"{path}: not a backbone file written by `trex train` (no arch / state_dict)")
    backbone, _ = create_backbone(blob["arch"])
    backbone.load_state_dict(blob["state_dict"])
    backbone.eval()
    return backbone, {k: v for k, v in blob.items() if k != "state_dict"}


def backbone_epoch(path: Path) -> int | None:
    """The epoch recorded in a backbone file; None when it is missing or unreadable."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 (missing, damaged, foreign: all mean "no usable backbone")
        return None
    return blob.get("epoch") if isinstance(blob, dict) else None


def check_no_other_run(out: Path, resume_path: Path | None, overwrite: bool) -> None:
    """Refuses to write into a folder that holds another run's results, which this run would replace:
    allowed are an empty or new folder, ``--resume`` of the folder's own ``checkpoint.pt`` (the
    run continues), and ``--overwrite``.

    Raises:
        TrainConfigError: saying what would be overwritten and how to proceed.
    """
    if overwrite or not out.is_dir():
        return
    latest = out / CHECKPOINT
    if resume_path is not None and latest.exists() and os.path.samefile(resume_path, latest):
        return
    found = [n for n in (CHECKPOINT, BACKBONE, METRICS) if (out / n).exists() or (out / n).is_symlink()]
    if not found:
        return
    if resume_path is not None:
        raise TrainConfigError(
            f"--resume {resume_path}: continuing from it would overwrite the later results in "
            f"{out} ({', '.join(found)}); pass --out NEW_FOLDER to continue it there, or "
            "--overwrite to replace them"
        )
    raise TrainConfigError(
        f"--out {out}: holds the results of another run ({', '.join(found)}); pass another "
        f"--out, --resume {out} to continue it, or --overwrite to replace it"
    )


def resolve_resume(path: str | os.PathLike[str]) -> Path:
    """A checkpoint file, or a run folder holding ``checkpoint.pt``."""
    p = Path(path)
    if p.is_dir():
        p = p / CHECKPOINT
    if not p.is_file():
        raise TrainConfigError(f"--resume {path}: no checkpoint there (expected a {CHECKPOINT} file or a run folder)")
    return p


def load_checkpoint(
    path: Path,
    *,
    recipe: str,
    arch: str,
    classes: list[str],
    crops: str | None = None,
    projector_layers: int | None = None,
) -> dict[str, Any]:
    """Reads a checkpoint and checks it belongs to this run's recipe, backbone and classes, and,
    when given, its resolved crops and projector hidden layers (a checkpoint written before
    ``--crops`` / ``--projector-layers`` existed used the recipe's).

    Raises:
        TrainConfigError: not a trex checkpoint, or another recipe / arch / class list / crops /
            projector depth.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle/zip errors of a damaged or foreign file
        raise TrainConfigError(f"--resume {path}: cannot read the checkpoint ({err})") from err
    if not isinstance(state, dict) or state.get("format") != FORMAT or "model" not in state:
        raise TrainConfigError(f"--resume {path}: not a checkpoint written by `trex train`")
    missing = [k for k in REQUIRED if k not in state]
    if missing:
        raise TrainConfigError(
            f"--resume {path}: the checkpoint has no {', '.join(repr(k) for k in missing)} "
            "(damaged, or not written by `trex train`); resume from another checkpoint"
        )
    epoch = state["epoch"]
    if (
        not isinstance(epoch, int)
        or isinstance(epoch, bool)
        or epoch < 0
        or not isinstance(state["metrics"], list)
        or not all(isinstance(r, dict) for r in state["metrics"])
        or not isinstance(state["config"], dict)
        or not isinstance(state["model"], dict)
    ):
        raise TrainConfigError(
            f"--resume {path}: the checkpoint's epoch, metrics, config or model entry is "
            "damaged; resume from another checkpoint"
        )
    cfg = state["config"]
    if cfg.get("recipe") != recipe:
        raise TrainConfigError(
            f"--resume {path}: the checkpoint was trained with recipe {cfg.get('recipe')!r}, "
            f"this run uses {recipe!r}; pass --recipe {cfg.get('recipe')} or start a new run"
        )
    saved_crops = cfg.get("crops") or recipe  # older checkpoints: the recipe's crops
    if crops is not None and saved_crops != crops:
        raise TrainConfigError(
            f"--resume {path}: the checkpoint was trained with crops {saved_crops!r}, this run "
            f"uses {crops!r}; pass --crops {saved_crops} or start a new run"
        )
    if projector_layers is not None:
        saved_layers = resolve_projector_layers(recipe, cfg.get("projector_layers"))
        if saved_layers != projector_layers:
            raise TrainConfigError(
                f"--resume {path}: the checkpoint's projector has {saved_layers} hidden layers, "
                f"this run's {projector_layers}; pass --projector-layers {saved_layers} or start "
                "a new run"
            )
    if cfg.get("arch") != arch:
        raise TrainConfigError(
            f"--resume {path}: the checkpoint's backbone is {cfg.get('arch')!r}, this run uses "
            f"{arch!r}; pass --arch {cfg.get('arch')} or start a new run"
        )
    if state.get("classes") != classes:
        raise TrainConfigError(
            f"--resume {path}: the checkpoint was trained on other classes "
            f"({len(state.get('classes') or [])} classes) than --data has ({len(classes)})"
        )
    return state


__all__ = [
    "BACKBONE",
    "CHECKPOINT",
    "METRICS",
    "backbone_epoch",
    "check_no_other_run",
    "copy_name",
    "load_backbone",
    "load_checkpoint",
    "resolve_resume",
    "save_backbone",
    "save_checkpoint",
]
