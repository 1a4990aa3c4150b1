"""Argument checks for the model constructors: `raise`, never `assert`."""

from __future__ import annotations

import numbers


def positive_int(name: str, value: object, *, allow_zero: bool = False) -> int:
    """`value` as an int >= 1 (>= 0 with `allow_zero`), else a ValueError/TypeError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    low = 0 if allow_zero else 1
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return int(value)


def positive_float(name: str, value: object) -> float:
    """`value` as a finite float > 0, else a ValueError/TypeError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    v = float(value)
    if not (v > 0 and v != float("inf")):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return v


def unit_interval(name: str, value: object) -> float:
    """`value` as a float in [0, 1], else a ValueError/TypeError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    v = float(value)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value}")
    return v
