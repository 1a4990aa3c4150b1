"""Built-in transfer sets for the built-in training run, real and reachable without internet.

``fashion-unseen``: the Fashion-MNIST classes 5-9 (sandal, shirt, sneaker, bag, ankle boot) that
the built-in run never trains on, from the training data's conversion
(:func:`trex.data.fashion_mnist_folder.prepare_fashion_mnist_folder`, ``unseen/train`` and
``unseen/test``).

``fashion``: all 10 Fashion-MNIST classes, 200 training and 500 test images each
(:func:`trex.data.fashion_coarse_fine.prepare_fashion_fine_folder`): the far-transfer set of the
glyph benchmark and the fine classes of the coarse-to-fine one.

``glyphs-unseen``: the 500 ideographs the glyph benchmark never trains on, drawn in the font faces
it never trains on (:func:`trex.data.glyphs.prepare_glyph_folder`, ``unseen/``): near transfer.

``digits``: scikit-learn's bundled handwritten digits (1,797 8x8 images, 10 classes), upscaled
(bicubic) to RGB PNGs with white strokes on black, as Fashion-MNIST's garments, and split once
70/30 per class (seeded) into ``train/`` and ``test/``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from trex.data.cache_tree import ForeignFolderError, build_tree, is_complete
from trex.data.fashion_mnist_folder import cache_root, prepare_fashion_mnist_folder
from trex.transfer.errors import TransferError

DIGITS_TEST_FRACTION = 0.3
_FORMAT = "1"


def prepare_digits_folder(root: str | os.PathLike[str] | None = None, *, size: int = 64) -> Path:
    """Writes scikit-learn's digits as an ImageFolder with ``train/`` and ``test/``, once.

    Args:
        root: the folder; default ``cache_root() / f"digits-{size}"``.
        size: output side in pixels.

    Returns:
        The root (``train/<digit>/*.png``, ``test/<digit>/*.png``).
    """
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    root = Path(root) if root is not None else cache_root() / f"digits-{size}"
    stamp = f"{_FORMAT} {size} {DIGITS_TEST_FRACTION}"
    if is_complete(root, stamp):
        return root
    digits = load_digits()
    images = np.clip(np.rint(digits.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)  # 16 = full ink
    index = np.arange(len(images))
    train_idx, test_idx = train_test_split(
        index, test_size=DIGITS_TEST_FRACTION, stratify=digits.target, random_state=0
    )
    with build_tree(root, stamp) as tmp:
        for split, idx in (("train", train_idx), ("test", test_idx)):
            for i in idx:
                folder = tmp / split / str(int(digits.target[i]))
                folder.mkdir(parents=True, exist_ok=True)
                img = Image.fromarray(images[i]).resize((size, size), Image.Resampling.BICUBIC).convert("RGB")
                img.save(folder / f"{i:04d}.png")
    return root


def _fashion_fine() -> Path:
    from trex.data.fashion_coarse_fine import prepare_fashion_fine_folder

    return prepare_fashion_fine_folder()


def _glyphs_unseen() -> Path:
    from trex.data.glyphs import prepare_glyph_folder

    return prepare_glyph_folder() / "unseen"


# name -> preparer(size); images are resized to the backbone's resolution when features are taken,
# so the stored size matters little (it is the size of the source data).
BUILTIN_DATASETS: dict[str, Callable[[int], Path]] = {
    "fashion-unseen": lambda size: prepare_fashion_mnist_folder(size=64) / "unseen",
    "digits": lambda size: prepare_digits_folder(size=size),
    "fashion": lambda size: _fashion_fine(),
    "glyphs-unseen": lambda size: _glyphs_unseen(),
}
# What each needs installed, for the error when its source files are missing.
_SOURCES = {
    "fashion-unseen": "Fashion-MNIST",
    "digits": "scikit-learn's bundled digits",
    "fashion": "Fashion-MNIST",
    "glyphs-unseen": "the CJK font packages",
}
# Those of them that `trex transfer` evaluates when no --dataset is given (the built-in run's).
DEFAULT_DATASETS = ("fashion-unseen", "digits")


def builtin_dataset_root(name: str, size: int = 64) -> Path:
    """The root of the built-in transfer set ``name``, prepared on first use.

    Raises:
        TransferError: an unknown name, its source data missing (the message says what to
            install), or a folder trex did not build where its cache goes (never replaced).
    """
    if name not in BUILTIN_DATASETS:
        raise TransferError(
            f"unknown built-in dataset {name!r}; choose {', '.join(BUILTIN_DATASETS)}, or pass "
            "NAME=ROOT for an ImageFolder root"
        )
    try:
        return BUILTIN_DATASETS[name](size)
    except ForeignFolderError as err:
        raise TransferError(f"built-in dataset {name}: {err}") from err
    except FileNotFoundError as err:
        raise TransferError(f"built-in dataset {name} needs {_SOURCES[name]}: {err}") from err


def resolve_dataset_specs(
    specs: list[str] | None,
    *,
    image_size: int = 64,
    train_per_class: int | None = None,
    test_per_class: int | None = None,
) -> list:
    """Loads the data sets named on the command line.

    Each spec is ``NAME=ROOT`` (an ImageFolder root), or the name of a built-in set
    (``fashion-unseen``, ``digits``, ``fashion``, ``glyphs-unseen``); no spec at all means
    :data:`DEFAULT_DATASETS` (fashion-unseen and digits).

    Returns:
        list of checked :class:`trex.transfer.TransferDataset`.

    Raises:
        TransferError: a bad spec or folder (see :func:`trex.transfer.load_dataset`).
    """
    from trex.transfer.datasets import load_dataset, parse_dataset_arg

    out = []
    for spec in specs or list(DEFAULT_DATASETS):
        if "=" not in spec and spec in BUILTIN_DATASETS and not Path(spec).exists():
            name, root = spec, builtin_dataset_root(spec, image_size)
        else:
            name, root_text = parse_dataset_arg(spec)
            root = Path(root_text)
        out.append(load_dataset(name, root, train_per_class=train_per_class, test_per_class=test_per_class))
    return out


__all__ = [
    "BUILTIN_DATASETS",
    "DEFAULT_DATASETS",
    "builtin_dataset_root",
    "prepare_digits_folder",
    "resolve_dataset_specs",
]
