"""Exceptions raised by trex. The Rust extension raises these same classes."""


class TrexError(Exception):
    """Base class of every trex-specific error."""


class DecodeError(TrexError, ValueError):
    """An image could not be decoded: empty, truncated, corrupt, not an image, or too large.

    The message names the file (when there is one) and the reason.
    """


class MemoryBankError(TrexError, ValueError):
    """A prototype-memory operation was refused; the memory is left unchanged."""


class SkippedFileWarning(UserWarning):
    """A file was skipped by a loader with ``on_error="skip"`` (warned once per file)."""


__all__ = ["TrexError", "DecodeError", "MemoryBankError", "SkippedFileWarning"]
