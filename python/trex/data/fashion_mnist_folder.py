"""Fashion-MNIST as ImageFolder trees of RGB JPEGs: the data of the built-in `trex train` run.

Converted once from the Debian package ``dataset-fashion-mnist`` (see
:mod:`trex.data.fashion_mnist`) into a cache folder, upscaled from 28 to ``size`` px (bicubic),
white garments on black as in the source, grey replicated to three channels::

    <cache>/fashion-mnist-64/
        seen/train/<class>/*.jpg     classes 0-4, official training split (30,000 images)
        seen/val/<class>/*.jpg       classes 0-4, official test split (5,000 images)
        unseen/train/<class>/*.jpg   classes 5-9, official training split (30,000 images)
        unseen/test/<class>/*.jpg    classes 5-9, official test split (5,000 images)

``seen`` trains the backbone; ``unseen`` holds classes the backbone never saw, for transfer
evaluation. Class folders are named ``<digit>-<name>`` (``0-t-shirt-top`` ...) so that their sorted
order is the label order. The cache root is ``$TREX_CACHE`` when set, else ``~/.cache/trex``.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from trex.data.cache_tree import build_tree, is_complete
from trex.data.fashion_mnist import CLASSES, DEFAULT_ROOT, load_fashion_mnist

SEEN_CLASSES = (0, 1, 2, 3, 4)
UNSEEN_CLASSES = (5, 6, 7, 8, 9)
# (folder inside the tree, source split, classes)
_PARTS = (
    ("seen/train", "train", SEEN_CLASSES),
    ("seen/val", "test", SEEN_CLASSES),
    ("unseen/train", "train", UNSEEN_CLASSES),
    ("unseen/test", "test", UNSEEN_CLASSES),
)
# Written last: a tree without it is incomplete (an interrupted conversion) and is rebuilt.
_FORMAT = "1"


def cache_root() -> Path:
    """Where trex keeps converted data sets: ``$TREX_CACHE`` or ``~/.cache/trex``."""
    env = os.environ.get("TREX_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "trex"


def class_folder_name(label: int) -> str:
    """``3`` -> ``"3-dress"``: the label digit first, so sorted folder names follow label order."""
    return f"{label}-" + re.sub(r"[^a-z0-9]+", "-", CLASSES[label].lower()).strip("-")


def _write_jpegs(images: np.ndarray, paths: list[Path], size: int, quality: int) -> None:
    from PIL import Image

    for pixels, path in zip(images, paths):
        img = Image.fromarray(pixels).resize((size, size), Image.Resampling.BICUBIC).convert("RGB")
        img.save(path, format="JPEG", quality=quality)


def write_jpegs(
    parts: list[tuple[np.ndarray, list[Path]]], size: int, quality: int = 90, threads: int | None = None
) -> None:
    """Writes each part's grey images (uint8 [N, 28, 28]) to its paths as ``size`` px RGB JPEGs
    (bicubic), on ``threads`` threads (default all cores; Pillow releases the GIL). The parent
    folders must exist."""
    chunks = [
        (images[start : start + 1000], paths[start : start + 1000])  # chunks keep every thread busy
        for images, paths in parts
        for start in range(0, len(paths), 1000)
    ]
    with ThreadPoolExecutor(max_workers=threads or len(os.sched_getaffinity(0))) as pool:
        for future in [pool.submit(_write_jpegs, imgs, paths, size, quality) for imgs, paths in chunks]:
            future.result()


def prepare_fashion_mnist_folder(
    root: str | os.PathLike[str] | None = None,
    *,
    size: int = 64,
    quality: int = 90,
    source: str | os.PathLike[str] = DEFAULT_ROOT,
    threads: int | None = None,
    per_class: int | None = None,
) -> Path:
    """Converts Fashion-MNIST to the ImageFolder trees above, once; later calls return at once.

    The tree is written to a temporary sibling folder and renamed into place when complete, so an
    interrupted conversion leaves nothing half-written and concurrent callers cannot collide. A
    folder at ``root`` that trex did not build is left alone and the call refused.

    Args:
        root: the tree's folder; default ``cache_root() / f"fashion-mnist-{size}"``.
        size: output side in pixels (square images).
        quality: JPEG quality.
        source: folder with the ``*-ubyte.gz`` files of the Debian package.
        threads: encoder threads (Pillow releases the GIL); default all cores.
        per_class: keep only the first N images of each class in each folder (small trees for
            tests); default all.

    Returns:
        The tree's folder; ``root / "seen"`` is an ImageFolder root with ``train/`` and ``val/``.

    Raises:
        FileNotFoundError: the Fashion-MNIST files are missing (the message says how to install them).
        trex.data.cache_tree.ForeignFolderError: ``root`` holds something trex did not build (it is
            never deleted or replaced).
    """
    root = Path(root) if root is not None else cache_root() / f"fashion-mnist-{size}"
    stamp = f"{_FORMAT} {size} {quality} {per_class or 'all'}"
    if is_complete(root, stamp):
        return root
    splits = {name: load_fashion_mnist(name, source) for name in ("train", "test")}
    with build_tree(root, stamp) as tmp:
        parts: list[tuple[np.ndarray, list[Path]]] = []
        for folder, split, classes in _PARTS:
            images, labels = (t.numpy() for t in splits[split])
            for label in classes:
                out = tmp / folder / class_folder_name(label)
                out.mkdir(parents=True)
                index = np.flatnonzero(labels == label)[:per_class]
                parts.append((images[index], [out / f"{split}-{i:05d}.jpg" for i in index]))
        write_jpegs(parts, size, quality, threads)
    return root


__all__ = [
    "SEEN_CLASSES",
    "UNSEEN_CLASSES",
    "cache_root",
    "class_folder_name",
    "prepare_fashion_mnist_folder",
    "write_jpegs",
]
