"""Folders written once into a cache and reused: built in a temporary sibling, stamped, and renamed
into place when complete, so that an interrupted build never looks finished and two processes
building the same tree at once both end with a complete one.

Only a folder trex made is ever replaced: one carrying the ``COMPLETE`` stamp (a finished tree of
other settings). Any other folder at the tree's place (the user's data, a tree of another tool) is
left untouched and the build refused with :class:`ForeignFolderError`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from trex.exceptions import TrexError

MARKER = "COMPLETE"


class ForeignFolderError(TrexError, FileExistsError):
    """The place of a cache tree holds something trex did not build; it is never deleted."""


def is_complete(root: Path, stamp: str) -> bool:
    """Whether ``root`` holds a finished tree built with settings ``stamp``."""
    marker = root / MARKER
    try:
        return marker.is_file() and marker.read_text().strip() == stamp
    except (OSError, UnicodeDecodeError):
        return False


def _check_replaceable(root: Path) -> None:
    """Raises ForeignFolderError unless ``root`` is absent, an empty folder, or a tree trex built
    (a real folder holding the ``COMPLETE`` stamp)."""
    if not (root.exists() or root.is_symlink()):
        return
    if root.is_symlink() or not root.is_dir():
        what = "a symbolic link" if root.is_symlink() else "not a folder"
        raise ForeignFolderError(
            f"{root}: is {what}, not a tree trex built; trex leaves it as it is: move it away or choose another folder"
        )
    if (root / MARKER).is_file() and not (root / MARKER).is_symlink():
        return
    with os.scandir(root) as entries:
        if next(entries, None) is None:
            return
    raise ForeignFolderError(
        f"{root}: exists and was not built by trex (no {MARKER} stamp); trex does not "
        "replace or delete it: move it away or choose another folder"
    )


@contextmanager
def build_tree(root: Path, stamp: str) -> Iterator[Path]:
    """Yields an empty temporary folder next to ``root`` to write the tree into; on a normal exit
    it is stamped and replaces ``root`` (a tree of other settings that trex built there is
    removed). On an exception the temporary folder is removed and ``root`` is left as it was.

    Raises:
        ForeignFolderError: ``root`` exists and is not a tree trex built (nor an empty folder);
            raised before anything is written, and nothing is changed.
    """
    root = Path(root)
    _check_replaceable(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        yield tmp
        (tmp / MARKER).write_text(stamp + "\n")
        if not is_complete(root, stamp):  # another process may have finished it meanwhile
            _check_replaceable(root)  # again: the folder may have changed during the build
            if root.is_dir():
                if (root / MARKER).is_file():
                    shutil.rmtree(root)
                else:
                    root.rmdir()  # empty (an OSError if something appeared in it: then it is kept)
        try:
            tmp.rename(root)
        except OSError:  # another process finished first
            if not is_complete(root, stamp):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


__all__ = ["MARKER", "ForeignFolderError", "build_tree", "is_complete"]
