"""Listing an ImageFolder tree (one sub-folder per class), as torchvision's ImageFolder does."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

# What the Rust decoder reads; other files in class folders are ignored, as torchvision does.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


class BrokenLinkError(ValueError):
    """An image name in a data folder is a symbolic link whose target cannot be reached."""


def _class_files(folder: Path) -> list[str]:
    """The image files under ``folder``, recursively, following directory symlinks but entering
    each real directory once (a symlink loop, or two links to one directory, lists its files once)
    and listing each real file once (under the first path met).

    Raises:
        BrokenLinkError: a broken symlink named as an image (its target is gone).
    """
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[tuple[int, int]] = set()
    found: list[str] = []

    stack = [str(folder)]  # depth first, without recursion (any depth)
    while stack:
        d = stack.pop()
        try:
            st = os.stat(d)
            if (st.st_dev, st.st_ino) in seen_dirs:
                continue
            seen_dirs.add((st.st_dev, st.st_ino))
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError:
            continue
        subdirs = []
        for e in entries:
            try:
                is_dir = e.is_dir()
            except OSError:  # a symlink loop onto itself: ELOOP
                is_dir = False
            if is_dir:
                subdirs.append(e.path)
                continue
            if not e.name.lower().endswith(IMAGE_EXTENSIONS):
                continue
            try:
                fst = e.stat()
            except OSError as err:
                target = os.readlink(e.path) if e.is_symlink() else "?"
                raise BrokenLinkError(
                    f"{e.path}: broken symbolic link (its target {target} cannot be reached: "
                    f"{err.strerror}); fix or remove it"
                ) from err
            if (fst.st_dev, fst.st_ino) not in seen_files:
                seen_files.add((fst.st_dev, fst.st_ino))
                found.append(e.path)
        stack.extend(reversed(subdirs))
    return found


def scan_image_folder(root: str | os.PathLike[str]) -> tuple[list[tuple[str, int]], list[str]]:
    """Lists ``root/<class>/**/<image>`` files (directory symlinks followed, each real directory and
    file once).

    Returns:
        (samples, classes): samples as (path, class index) sorted by class then path, and the
        sorted class names (index = position).

    Raises:
        FileNotFoundError: ``root`` does not exist or holds no class folder.
        ValueError: a class folder holds no image file; BrokenLinkError (a ValueError): a broken
            symlink named as an image.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such data folder")
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    if not classes:
        raise FileNotFoundError(f"{root}: no class sub-folders (expected {root}/<class>/<image files>)")
    samples: list[tuple[str, int]] = []
    for index, name in enumerate(classes):
        found = _class_files(root / name)
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
