"""Transfer data sets: ImageFolder roots with ``train/`` and ``test/`` (or ``val/``) sub-folders,
checked up front so that a wrong folder stops the evaluation with one clear line."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from trex.data.folder import first_per_class, scan_image_folder
from trex.transfer.errors import TransferError

Samples = list[tuple[str, int]]
# Accepted names of the evaluation split, in order of preference.
TEST_SPLITS = ("test", "val")
# The linear probe holds out part of each class to choose C, and fits on the rest.
MIN_TRAIN_PER_CLASS = 2


@dataclass(frozen=True)
class TransferDataset:
    """One transfer data set: its name, root and the scanned, checked splits.

    Attributes:
        name: the name shown in reports.
        root: the ImageFolder root (holding ``train/`` and ``test/`` or ``val/``).
        train, test: (path, label) samples; labels index ``classes``.
        classes: sorted class names of ``train/`` (``test/`` uses a subset of them).
    """

    name: str
    root: Path
    train: Samples
    test: Samples
    classes: list[str]

    def fingerprint(self) -> str:
        """A hash of the sample list (relative paths, sizes, modification times, labels): changes
        whenever a file is added, removed, replaced or relabelled."""
        h = hashlib.sha256()
        for split, samples in (("train", self.train), ("test", self.test)):
            for path, label in samples:
                st = os.stat(path)
                rel = os.path.relpath(path, self.root)
                h.update(f"{split}\0{rel}\0{label}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return h.hexdigest()


def parse_dataset_arg(text: str) -> tuple[str, str]:
    """``"NAME=ROOT"`` -> (name, root); a bare ``ROOT`` is named after its folder.

    Raises:
        TransferError: an empty name or root.
    """
    name, sep, root = text.partition("=")
    if not sep:
        name, root = Path(text).name or text, text
    if not name or not root:
        raise TransferError(f"--dataset {text!r}: expected NAME=ROOT (e.g. flowers=/data/flowers)")
    return name, root


def load_dataset(
    name: str, root: str | os.PathLike[str], *, train_per_class: int | None = None, test_per_class: int | None = None
) -> TransferDataset:
    """Scans and checks the data set ``root``.

    Args:
        name: its name in reports.
        root: the ImageFolder root with ``train/`` and ``test/`` (or ``val/``).
        train_per_class: keep only the first N training images of each class (all when None).
        test_per_class: likewise for the test split (all when None; a budget knob: the subset is
            the same for every backbone, never chosen by results).

    Raises:
        TransferError: a missing folder, no ``train/`` or no ``test/``/``val/`` sub-folder, an
            empty class folder, or a test class that has no training folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise TransferError(
            f"dataset {name}: {root} is not a folder; expected an ImageFolder root with train/ and test/ (or val/)"
        )
    test_dir = next((root / s for s in TEST_SPLITS if (root / s).is_dir()), None)
    if not (root / "train").is_dir() or test_dir is None:
        missing = "train/" if not (root / "train").is_dir() else "test/ (or val/)"
        raise TransferError(
            f"dataset {name}: {root} has no {missing} sub-folder; expected {root}/train/<class>/"
            f"<images> and {root}/test/<class>/<images>"
        )
    try:
        train, classes = scan_image_folder(root / "train")
        test_raw, test_classes = scan_image_folder(test_dir)
    except (FileNotFoundError, ValueError) as err:
        raise TransferError(f"dataset {name}: {err}") from err
    unknown = sorted(set(test_classes) - set(classes))
    if unknown:
        raise TransferError(
            f"dataset {name}: class {unknown[0]!r} is in {test_dir.name}/ but not in train/ "
            f"({len(unknown)} such class{'es' if len(unknown) > 1 else ''}); a classifier cannot "
            "predict a class it never saw: add its training images or remove it"
        )
    index = {c: i for i, c in enumerate(classes)}
    test = [(path, index[test_classes[label]]) for path, label in test_raw]
    if len(classes) < 2:
        raise TransferError(f"dataset {name}: train/ holds {len(classes)} class; a classifier needs at least 2")
    train = first_per_class(train, train_per_class)
    counts = Counter(label for _, label in train)
    few = [c for i, c in enumerate(classes) if counts[i] < MIN_TRAIN_PER_CLASS]
    if few:
        n = counts[classes.index(few[0])]
        raise TransferError(
            f"dataset {name}: class {few[0]!r} has {n} training image{'s' if n != 1 else ''}"
            f"{f' (and {len(few) - 1} more such classes)' if len(few) > 1 else ''}; the linear "
            f"probe needs at least {MIN_TRAIN_PER_CLASS} per class (one is held out to choose C)"
            f"{'; raise --train-per-class' if train_per_class is not None else ''}"
        )
    return TransferDataset(name, root, train, first_per_class(test, test_per_class), classes)


__all__ = ["TEST_SPLITS", "TransferDataset", "load_dataset", "parse_dataset_arg"]
