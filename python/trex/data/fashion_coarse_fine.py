"""Fashion-MNIST's 10 classes as ImageFolder trees for the benchmarks of `trex compare`.

Two trees, converted once from the Debian package ``dataset-fashion-mnist`` into the cache
(``$TREX_CACHE`` or ``~/.cache/trex``), upscaled from 28 px to ``size`` (bicubic), RGB JPEGs::

    <cache>/fashion-coarse-32/           the coarse-to-fine benchmark's training data
        train/<super-class>/*.jpg        all 60,000 training images, labelled by super-class
        val/<super-class>/*.jpg          all 10,000 test images, labelled by super-class
    <cache>/fashion-fine-32/             the 10 classes, a transfer set
        train/<class>/*.jpg              the first 200 training images of each class
        test/<class>/*.jpg               the first 500 test images of each class

The four super-classes merge classes that look alike, so that a network trained on them has no
reason to keep what tells their members apart (:data:`COARSE_CLASSES`): upper-body garments
{T-shirt/top, pullover, coat, shirt}, {trouser, dress}, footwear {sandal, sneaker, ankle boot},
and {bag}. Probing the 10 fine classes on such a network's frozen features with 10 and with 100
images per class measures how much within-class detail a training recipe keeps.

``fashion-fine`` is also the far-transfer set of the glyph benchmark (garments seen by a network
trained on ideographs). Its images are a subset of the training images the coarse tree holds: the
coarse-to-fine probe reads fine labels of images that the network saw with coarse labels, and is
tested on the official test images, which no training run sees.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from trex.data.cache_tree import build_tree, is_complete
from trex.data.fashion_mnist import DEFAULT_ROOT, load_fashion_mnist
from trex.data.fashion_mnist_folder import cache_root, class_folder_name, write_jpegs

# Super-class -> its Fashion-MNIST classes; folder names start with the super-class index so that
# their sorted order is the label order.
COARSE_CLASSES: dict[str, tuple[int, ...]] = {
    "0-upper-body": (0, 2, 4, 6),
    "1-trouser-dress": (1, 3),
    "2-footwear": (5, 7, 9),
    "3-bag": (8,),
}
# Images per class of the fine transfer tree: (training split -> train/, test split -> test/).
FINE_TRAIN_PER_CLASS = 200
FINE_TEST_PER_CLASS = 500
DEFAULT_SIZE = 32
_FORMAT = "1"


def coarse_label(fine: int) -> int:
    """The super-class index (0-3) of a Fashion-MNIST class (0-9).

    Raises:
        ValueError: ``fine`` is not a class of Fashion-MNIST.
    """
    for index, members in enumerate(COARSE_CLASSES.values()):
        if fine in members:
            return index
    raise ValueError(f"Fashion-MNIST has classes 0-9, got {fine!r}")


def _convert(tmp: Path, parts: list[tuple[str, np.ndarray, list[str]]], size: int, threads: int | None) -> None:
    """Writes each part's images (uint8 [N, 28, 28]) to ``tmp / part / folder_i / name_i``."""
    jobs = []
    for part, images, rel_paths in parts:
        paths = [tmp / part / rel for rel in rel_paths]
        for folder in {p.parent for p in paths}:
            folder.mkdir(parents=True, exist_ok=True)
        jobs.append((images, paths))
    write_jpegs(jobs, size, threads=threads)


def prepare_fashion_coarse_folder(
    root: str | os.PathLike[str] | None = None,
    *,
    size: int = DEFAULT_SIZE,
    source: str | os.PathLike[str] = DEFAULT_ROOT,
    threads: int | None = None,
    per_class: int | None = None,
) -> Path:
    """The coarse tree above (``train/`` and ``val/`` by super-class), converted once.

    Args:
        root: the folder; default ``cache_root() / f"fashion-coarse-{size}"``.
        size: output side in pixels.
        source: folder of the Debian package's ``*-ubyte.gz`` files.
        threads: JPEG encoder threads; default all cores.
        per_class: keep only the first N images of each of the 10 classes in each split (small
            trees for tests); default all.

    Returns:
        The root, an ImageFolder root with ``train/`` and ``val/``.

    Raises:
        FileNotFoundError: Fashion-MNIST is not installed (the message says how to install it).
    """
    root = Path(root) if root is not None else cache_root() / f"fashion-coarse-{size}"
    stamp = f"{_FORMAT} coarse {size} {per_class or 'all'} {sorted(COARSE_CLASSES.items())}"
    if is_complete(root, stamp):
        return root
    parts = []
    names = list(COARSE_CLASSES)
    for part, split in (("train", "train"), ("val", "test")):
        images, labels = (t.numpy() for t in load_fashion_mnist(split, source))
        index = (
            np.arange(len(labels))
            if per_class is None
            else np.sort(np.concatenate([np.flatnonzero(labels == k)[:per_class] for k in range(10)]))
        )
        rel = [f"{names[coarse_label(int(labels[i]))]}/{split}-{i:05d}.jpg" for i in index]
        parts.append((part, images[index], rel))
    with build_tree(root, stamp) as tmp:
        _convert(tmp, parts, size, threads)
    return root


def prepare_fashion_fine_folder(
    root: str | os.PathLike[str] | None = None,
    *,
    size: int = DEFAULT_SIZE,
    source: str | os.PathLike[str] = DEFAULT_ROOT,
    threads: int | None = None,
) -> Path:
    """The fine transfer tree above (``train/``: 200 training images per class, ``test/``: 500
    test images per class, the first ones of each class in file order), converted once.

    Args and raises: as :func:`prepare_fashion_coarse_folder`; default root
    ``cache_root() / f"fashion-fine-{size}"``.
    """
    root = Path(root) if root is not None else cache_root() / f"fashion-fine-{size}"
    stamp = f"{_FORMAT} fine {size} {FINE_TRAIN_PER_CLASS} {FINE_TEST_PER_CLASS}"
    if is_complete(root, stamp):
        return root
    parts = []
    for part, split, per_class in (("train", "train", FINE_TRAIN_PER_CLASS), ("test", "test", FINE_TEST_PER_CLASS)):
        images, labels = (t.numpy() for t in load_fashion_mnist(split, source))
        index = np.concatenate([np.flatnonzero(labels == k)[:per_class] for k in range(10)])
        rel = [f"{class_folder_name(int(labels[i]))}/{split}-{i:05d}.jpg" for i in index]
        parts.append((part, images[index], rel))
    with build_tree(root, stamp) as tmp:
        _convert(tmp, parts, size, threads)
    return root


__all__ = [
    "COARSE_CLASSES",
    "DEFAULT_SIZE",
    "FINE_TEST_PER_CLASS",
    "FINE_TRAIN_PER_CLASS",
    "coarse_label",
    "prepare_fashion_coarse_folder",
    "prepare_fashion_fine_folder",
]
