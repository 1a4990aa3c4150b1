"""Writing a run's files safely: every file is written to a fresh temporary file created in the
output folder itself (``O_CREAT | O_EXCL``: never through a symlink planted there, never over
anything that exists) and renamed over its final name only once complete. A write that fails
(disk full, kill signal) leaves the previous version in place and removes its temporary file; a
temporary file left by a killed run is recognised by its name and removed by the next run."""

from __future__ import annotations

import errno
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from trex.train.errors import TrainConfigError

# The files a run writes into --out (the one list of their names; `checkpoint-epoch<NNNN>.pt`
# copies are named by trex.train.checkpoint.copy_name).
CHECKPOINT = "checkpoint.pt"
BACKBONE = "backbone.pt"
METRICS = "metrics.jsonl"
CURVES = "curves.png"
CONFIG = "config.json"
# Their temporary files are ".<name>.<random>.tmp"; the last three alternatives are the temporary
# files of earlier trex versions.
_OWN_TMP = re.compile(
    r"^\.(?:checkpoint(?:-epoch\d+)?\.pt|backbone\.pt|metrics\.jsonl|curves\.png|config\.json)"
    r"\.[A-Za-z0-9_]+\.tmp$|^\.(?:checkpoint(?:-epoch\d+)?\.pt|backbone\.pt)\.tmp$"
    r"|^metrics\.tmp$|^curves\.tmp\.png$"
)


def _file_mode() -> int:
    """The mode a plain open() would give a new file (0o666 less the umask): mkstemp makes 0o600."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


_MODE = _file_mode()


class _Sink:
    """A binary file that remembers the OSError of a failed write (the writer may wrap it)."""

    def __init__(self, f: IO[bytes]) -> None:
        self._f = f
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            n = self._f.write(data)
        except OSError as err:
            self.error = err
            raise
        if n is not None and n < memoryview(data).nbytes:
            self.error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            raise self.error
        return n

    def flush(self) -> None:
        try:
            self._f.flush()
        except OSError as err:
            self.error = err
            raise

    def __getattr__(self, name: str):  # noqa: ANN204 (tell, seek, fileno ... of the file)
        return getattr(self._f, name)


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Calls ``write(file)`` on a new temporary file next to ``path``, then renames it to ``path``
    (replacing a file, or a symlink itself, never what a symlink points to).

    Raises:
        TrainConfigError: the folder cannot be written (full, read-only, gone); nothing is left behind.
    """
    tmp = None
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        tmp = Path(name)
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), _MODE)
            sink = _Sink(f)
            try:
                write(sink)  # type: ignore[arg-type]
            except Exception as err:
                if sink.error is not None:  # torch.save reports a failed write as a RuntimeError
                    raise sink.error from err
                raise
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as err:
        raise TrainConfigError(
            f"cannot write {path} ({err.strerror or err}); free some space or pass another --out"
        ) from err
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return path


def write_bytes(path: Path, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def write_text(path: Path, text: str) -> Path:
    return write_bytes(path, text.encode())


def remove_stale_tmp(out: Path) -> list[str]:
    """Removes the temporary files a killed run left in ``out`` (regular files named as this
    module names them; nothing else). Returns their names."""
    removed = []
    try:
        entries = list(os.scandir(out))
    except OSError:
        return removed
    for e in entries:
        if _OWN_TMP.match(e.name) and e.is_file(follow_symlinks=False):
            try:
                os.unlink(e.path)
                removed.append(e.name)
            except OSError:
                pass
    return removed


def check_out_dir(out: Path, flag: str = "--out", error: type[Exception] = TrainConfigError) -> None:
    """Refuses, without creating anything, an output folder that cannot be one: an existing
    non-folder, or a path whose nearest existing parent is not a writable folder.

    Raises:
        ``error`` (TrainConfigError): saying which path and why.
    """
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise error(f"{flag} {out}: exists and is not a folder; pass a folder")
        if not os.access(out, os.W_OK | os.X_OK):
            raise error(f"{flag} {out}: the folder is not writable; pass another {flag}")
        return
    parent = out.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise error(f"{flag} {out}: cannot create it, {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise error(f"{flag} {out}: cannot create it, {parent} is not writable; pass another {flag}")


def make_out_dir(out: Path, flag: str = "--out") -> None:
    """Creates ``out`` and proves it writable (a probe file made and removed).

    Raises:
        TrainConfigError: it cannot be created or written.
    """
    check_out_dir(out, flag)
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".write-probe.", suffix=".tmp", dir=out)
        os.close(fd)
        os.unlink(name)
    except OSError as err:
        raise TrainConfigError(
            f"{flag} {out}: cannot write there ({err.strerror or err}); pass another {flag}"
        ) from err


__all__ = ["atomic_write", "check_out_dir", "make_out_dir", "remove_stale_tmp", "write_bytes", "write_text"]
