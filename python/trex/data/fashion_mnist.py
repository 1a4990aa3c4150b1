"""Fashion-MNIST from the Debian package ``dataset-fashion-mnist`` (idx files, gzip-compressed).

The built-in real data set for tests, demos and the short training runs: 60,000 training and
10,000 test grayscale 28x28 images of 10 clothing classes.
"""

from __future__ import annotations

import gzip
import os
from typing import Literal

import numpy as np
import torch

DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"
CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_PREFIX = {"train": "train", "test": "t10k"}
_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension


def _read_idx(path: str, magic: int, dims: int) -> tuple[tuple[int, ...], np.ndarray]:
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"Fashion-MNIST file {path} not found; install the data set with "
            f"`apt-get install dataset-fashion-mnist` (or `make system-deps`), or pass root="
        )
    with gzip.open(path, "rb") as f:
        data = f.read()
    header = 4 + 4 * dims
    if len(data) < header:
        raise ValueError(f"{path}: truncated idx file ({len(data)} bytes)")
    got = int.from_bytes(data[:4], "big")
    if got != magic:
        raise ValueError(f"{path}: not an idx file of the expected kind (magic {got:#010x}, expected {magic:#010x})")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    count = int(np.prod(shape))
    if len(data) - header != count:
        raise ValueError(f"{path}: header says {shape} = {count} bytes of data, the file holds {len(data) - header}")
    return shape, np.frombuffer(data, dtype=np.uint8, offset=header)


def load_fashion_mnist(
    split: Literal["train", "test"] = "train", root: str | os.PathLike[str] = DEFAULT_ROOT
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reads one split of Fashion-MNIST.

    Args:
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000).
        root: folder holding ``{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``.

    Returns:
        (images, labels): uint8 [N, 28, 28] (0-255, white garment on black) and int64 [N] in
        [0, 10) (names in ``CLASSES``), on the CPU.

    Raises:
        ValueError: an unknown split, or a malformed file.
        FileNotFoundError: the files are absent (the message says how to install them).
    """
    if split not in _PREFIX:
        raise ValueError(f"unknown split {split!r}; expected 'train' or 'test'")
    root = os.fspath(root)
    prefix = _PREFIX[split]
    shape, pixels = _read_idx(os.path.join(root, f"{prefix}-images-idx3-ubyte.gz"), _IMAGES_MAGIC, 3)
    (n,), labels = _read_idx(os.path.join(root, f"{prefix}-labels-idx1-ubyte.gz"), _LABELS_MAGIC, 1)
    if n != shape[0]:
        raise ValueError(f"Fashion-MNIST {split}: {shape[0]} images but {n} labels in {root}")
    images = torch.from_numpy(pixels.reshape(shape).copy())
    return images, torch.from_numpy(labels.astype(np.int64))


__all__ = ["CLASSES", "DEFAULT_ROOT", "load_fashion_mnist"]
