"""The reference rows of every transfer table: the same probe on raw pixels, and on a randomly
initialised backbone of the benchmark's architecture. A trained backbone that does not beat them
has learned nothing that transfers; a table without them cannot say whether a difference means
anything.

Both are written as ordinary ``backbone.pt`` files and evaluated by the same
:func:`trex.transfer.evaluate_transfer` as the trained backbones: same preprocessing, same probe,
same C selection.
"""

from __future__ import annotations

from pathlib import Path

import torch

PIXELS = "raw-pixels"
RANDOM_INIT = "random-init"
LABELS = {
    PIXELS: "raw pixels (16x16 RGB, area-averaged; no network)",
    RANDOM_INIT: "random init (the benchmark's architecture, untrained)",
}


def reference_backbone(kind: str, arch: str, image_size: int, seed: int, root: Path) -> Path:
    """Writes the reference ``kind`` as a backbone file under ``root`` (once) and returns its path.

    Args:
        kind: :data:`PIXELS` (no parameters; the seed is irrelevant) or :data:`RANDOM_INIT`
            (a fresh ``arch``, initialised as for training, from ``torch.manual_seed(seed)``).
        arch: the benchmark's architecture.
        image_size: the resolution features are taken at (the trained backbones').
        root: the comparison's folder.

    Raises:
        ValueError: an unknown ``kind`` or ``arch``.
    """
    from trex.train.backbones import create_backbone

    if kind not in LABELS:
        raise ValueError(f"unknown reference {kind!r}; choose {' or '.join(LABELS)}")
    name = kind if kind == PIXELS else f"{kind}-{arch}-seed{seed}"
    path = root / "references" / f"{name}-{image_size}px" / "backbone.pt"
    if path.is_file():
        return path
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model, dim = create_backbone("pixels" if kind == PIXELS else arch)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".backbone.pt.tmp")
    torch.save(
        {
            "arch": "pixels" if kind == PIXELS else arch,
            "feature_dim": dim,
            "image_size": image_size,
            "state_dict": model.state_dict(),
            "recipe": kind,
            "epoch": 0,
            "seed": seed,
        },
        tmp,
    )
    tmp.replace(path)
    return path


__all__ = ["LABELS", "PIXELS", "RANDOM_INIT", "reference_backbone"]
