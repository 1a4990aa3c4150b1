"""Listing an ImageFolder tree (one sub-folder per class), as torchvision's ImageFolder does."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

# What the Rust decoder reads; other files in class folders are ignored, as torchvision does.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


def scan_image_folder(root: str | os.PathLike[str]) -> tuple[list[tuple[str, int]], list[str]]:
    """Lists ``root/<class>/**/<image>`` files.

    Returns:
        (samples, classes): samples as (path, class index) sorted by class then path, and the
        sorted class names (index = position).

    Raises:
        FileNotFoundError: ``root`` does not exist or holds no class folder.
        ValueError: a class folder holds no image file.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such data folder")
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    if not classes:
        raise FileNotFoundError(f"{root}: no class sub-folders (expected {root}/<class>/<image files>)")
    samples: list[tuple[str, int]] = []
    for index, name in enumerate(classes):
        found = []
        for dirpath, _, files in os.walk(root / name, followlinks=True):
            found.extend(os.path.join(dirpath, f) for f in files if f.lower().endswith(IMAGE_EXTENSIONS))
        if not found:
            raise ValueError(f"{root / name}: class folder holds no image file ({', '.join(IMAGE_EXTENSIONS)})")
        samples.extend((p, index) for p in sorted(found))
    return samples, classes


def first_per_class(samples: list[tuple[str, int]], limit: int | None) -> list[tuple[str, int]]:
    """The first ``limit`` samples of each class (in the scan's sorted order), all when None."""
    if limit is None:
        return samples
    taken: dict[int, int] = defaultdict(int)
    out = []
    for path, label in samples:
        if taken[label] < limit:
            taken[label] += 1
            out.append((path, label))
    return out
