"""Errors of `trex transfer`: the command prints their message on one line, without a traceback."""

from __future__ import annotations

from trex.exceptions import TrexError


class TransferError(TrexError, ValueError):
    """Transfer evaluation cannot run on this input (dataset folder, checkpoint, option); the
    message says what is wrong and what to do."""


__all__ = ["TransferError"]
