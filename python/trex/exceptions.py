"""Exceptions raised by trex. The Rust extension raises these same classes."""


class TrexError(Exception):
    """Base class of every trex-specific error."""


class DecodeError(TrexError, ValueError):
    """An image could not be decoded: empty, truncated, corrupt, not an image, or too large.

    The message names the file (when there is one) and the reason.
    """


class MemoryBankError(TrexError, ValueError):
    """A prototype-memory operation was refused; the memory is left unchanged."""


class UnreadableFilesError(TrexError, ValueError):
    """A loader with ``on_error="skip"`` gave up: too many files in a row could not be read.

    The message says how many, from which dataset index, and the last file's error. (A
    ``ValueError``, as this error was before it had a class of its own.)
    """


class SkippedFileWarning(UserWarning):
    """A file was skipped by a loader with ``on_error="skip"`` (warned once per file)."""


__all__ = ["TrexError", "DecodeError", "MemoryBankError", "SkippedFileWarning", "UnreadableFilesError"]
