"""Loading the frozen backbone that transfer evaluates: the ``backbone.pt`` file `trex train`
writes (``{"arch", "feature_dim", "image_size", "state_dict", ...}``), or a run folder holding one."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trex.transfer.errors import TransferError

BACKBONE_FILE = "backbone.pt"


def resolve_backbone_path(path: str | os.PathLike[str]) -> Path:
    """A backbone file, or a run folder holding ``backbone.pt``.

    Raises:
        TransferError: nothing there.
    """
    p = Path(path)
    if p.is_dir():
        p = p / BACKBONE_FILE
    if not p.is_file():
        raise TransferError(
            f"--backbone {path}: no such file (expected the {BACKBONE_FILE} written by `trex train`, or its run folder)"
        )
    return p


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_frozen_backbone(path: str | os.PathLike[str]) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuilds the backbone saved in ``path``, in eval mode with gradients off, on the CPU.

    Returns:
        (backbone, info): the network maps float [B, 3, S, S] ImageNet-normalised images to
        [B, info["feature_dim"]] features, S = ``info["image_size"]``; ``info`` also holds arch,
        recipe, epoch and classes when the file has them.

    Raises:
        TransferError: the file cannot be read as a torch file, is a full training checkpoint or
            anything else than a backbone, or its weights do not fit its architecture or are not finite.
    """
    from trex.train.backbones import create_backbone

    p = resolve_backbone_path(path)
    try:
        blob = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle/zip errors of a damaged or foreign file
        raise TransferError(
            f"--backbone {p}: not a backbone file (torch.load failed: {str(err).splitlines()[0]})"
        ) from err
    if isinstance(blob, dict) and "model" in blob and "arch" not in blob:
        raise TransferError(
            f"--backbone {p}: this is a training checkpoint, not a backbone; pass the {BACKBONE_FILE} next to it"
        )
    if (
        not isinstance(blob, dict)
        or not isinstance(blob.get("arch"), str)
        or not isinstance(blob.get("state_dict"), dict)
    ):
        raise TransferError(
            f"--backbone {p}: not a backbone file (expected a dict with 'arch' and 'state_dict', "
            f"as `trex train` writes to {BACKBONE_FILE})"
        )
    try:
        backbone, dim = create_backbone(blob["arch"])
        backbone.load_state_dict(blob["state_dict"])
    except (ValueError, RuntimeError) as err:
        raise TransferError(
            f"--backbone {p}: cannot rebuild the {blob['arch']!r} backbone ({str(err).splitlines()[0]})"
        ) from err
    bad = [
        k
        for k, v in blob["state_dict"].items()
        if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())
    ]
    if bad:
        raise TransferError(
            f"--backbone {p}: the weights hold NaN or infinite values ({bad[0]}"
            f"{f' and {len(bad) - 1} more' if len(bad) > 1 else ''}); the training diverged or "
            "the file is damaged: use an earlier checkpoint's backbone"
        )
    backbone.eval().requires_grad_(False)
    info = {k: v for k, v in blob.items() if k != "state_dict"}
    info.setdefault("feature_dim", dim)
    info.setdefault("image_size", 224)
    info["path"] = str(p)
    return backbone, info


__all__ = ["BACKBONE_FILE", "file_digest", "load_frozen_backbone", "resolve_backbone_path"]
