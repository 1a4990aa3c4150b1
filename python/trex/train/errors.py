"""Errors of `trex train`: the command prints their message on one line, without a traceback."""

from __future__ import annotations

from trex.exceptions import TrexError


class TrainConfigError(TrexError, ValueError):
    """The run cannot start or continue with this input (data folder, flag, checkpoint); the
    message says what is wrong and what to do."""


class NonFiniteLossError(TrexError, FloatingPointError):
    """The training loss became NaN or infinite (lower --lr, or check the data)."""


__all__ = ["NonFiniteLossError", "TrainConfigError"]
