"""Folders written once into a cache and reused: built in a temporary sibling, stamped, and renamed
into place when complete, so that an interrupted build never looks finished and two processes
building the same tree at once both end with a complete one."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MARKER = "COMPLETE"


def is_complete(root: Path, stamp: str) -> bool:
    """Whether ``root`` holds a finished tree built with settings ``stamp``."""
    marker = root / MARKER
    return marker.is_file() and marker.read_text().strip() == stamp


@contextmanager
def build_tree(root: Path, stamp: str) -> Iterator[Path]:
    """Yields an empty temporary folder next to ``root`` to write the tree into; on a normal exit
    it is stamped and replaces ``root`` (a stale or incomplete tree there is removed). On an
    exception the temporary folder is removed and ``root`` is left as it was."""
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        yield tmp
        (tmp / MARKER).write_text(stamp + "\n")
        if root.exists():
            shutil.rmtree(root)
        try:
            tmp.rename(root)
        except OSError:  # another process finished first
            if not is_complete(root, stamp):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


__all__ = ["MARKER", "build_tree", "is_complete"]
