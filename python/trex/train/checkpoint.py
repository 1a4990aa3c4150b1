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

from trex.models.presets import resolve_projector_layers
from trex.train.errors import TrainConfigError

FORMAT = 1
CHECKPOINT = "checkpoint.pt"
BACKBONE = "backbone.pt"


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def save_checkpoint(state: dict[str, Any], out: Path, keep_copy: bool = False) -> Path:
    """Writes ``out/checkpoint.pt`` (atomically); with ``keep_copy`` also
    ``out/checkpoint-epoch<NNNN>.pt``. Returns the path of the latest checkpoint."""
    path = out / CHECKPOINT
    _atomic_save({"format": FORMAT, **state}, path)
    if keep_copy:
        _atomic_save({"format": FORMAT, **state}, out / f"checkpoint-epoch{state['epoch']:04d}.pt")
    return path


def save_backbone(backbone: nn.Module, out: Path, *, arch: str, feature_dim: int, recipe: str, epoch: int,
                  image_size: int, classes: list[str], crops: str | None = None,
                  projector_layers: int | None = None) -> Path:
    """Writes ``out/backbone.pt``: the backbone's state_dict with what is needed to rebuild it (and
    how it was trained: recipe, crops, projector hidden layers)."""
    path = out / BACKBONE
    _atomic_save({"format": FORMAT, "arch": arch, "feature_dim": feature_dim, "recipe": recipe,
                  "crops": crops or recipe, "projector_layers": projector_layers, "epoch": epoch,
                  "image_size": image_size, "classes": classes,
                  "state_dict": {k: v.detach().cpu() for k, v in backbone.state_dict().items()}}, path)
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


def resolve_resume(path: str | os.PathLike[str]) -> Path:
    """A checkpoint file, or a run folder holding ``checkpoint.pt``."""
    p = Path(path)
    if p.is_dir():
        p = p / CHECKPOINT
    if not p.is_file():
        raise TrainConfigError(f"--resume {path}: no checkpoint there (expected a {CHECKPOINT} file or a run folder)")
    return p


def load_checkpoint(path: Path, *, recipe: str, arch: str, classes: list[str], crops: str | None = None,
                    projector_layers: int | None = None) -> dict[str, Any]:
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
    cfg = state.get("config", {})
    if cfg.get("recipe") != recipe:
        raise TrainConfigError(f"--resume {path}: the checkpoint was trained with recipe {cfg.get('recipe')!r}, "
                               f"this run uses {recipe!r}; pass --recipe {cfg.get('recipe')} or start a new run")
    saved_crops = cfg.get("crops") or recipe  # older checkpoints: the recipe's crops
    if crops is not None and saved_crops != crops:
        raise TrainConfigError(f"--resume {path}: the checkpoint was trained with crops {saved_crops!r}, this run "
                               f"uses {crops!r}; pass --crops {saved_crops} or start a new run")
    if projector_layers is not None:
        saved_layers = resolve_projector_layers(recipe, cfg.get("projector_layers"))
        if saved_layers != projector_layers:
            raise TrainConfigError(f"--resume {path}: the checkpoint's projector has {saved_layers} hidden layers, "
                                   f"this run's {projector_layers}; pass --projector-layers {saved_layers} or start "
                                   "a new run")
    if cfg.get("arch") != arch:
        raise TrainConfigError(f"--resume {path}: the checkpoint's backbone is {cfg.get('arch')!r}, this run uses "
                               f"{arch!r}; pass --arch {cfg.get('arch')} or start a new run")
    if state.get("classes") != classes:
        raise TrainConfigError(f"--resume {path}: the checkpoint was trained on other classes "
                               f"({len(state.get('classes') or [])} classes) than --data has ({len(classes)})")
    return state


__all__ = ["BACKBONE", "CHECKPOINT", "load_backbone", "load_checkpoint", "resolve_resume", "save_backbone",
           "save_checkpoint"]
