"""The recipes `trex compare` trains, and the ablations that isolate each part of t-ReX.

Each variant is a set of `trex train` flags on top of the built-in default. The ablations add one
part of t-ReX to the baseline (``--crops`` picks the loader's crops apart from the head,
``--projector-layers 0`` removes the projector), or remove the memory from t-ReX.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trex.defaults import RECIPES


@dataclass(frozen=True)
class Variant:
    """One training recipe of the comparison: a name, a label, and `trex train` settings."""

    name: str
    label: str
    settings: dict[str, Any] = field(default_factory=dict)


_RECIPE_LABELS = {
    "baseline": "baseline (1 crop, linear classifier)",
    "trex": "t-ReX (multi-crop, 3-layer projector, memory prototypes)",
    "trex-star": "t-ReX* (multi-crop s=0.40, 1-layer projector, memory prototypes)",
}
# Each recipe of trex.defaults.RECIPES as it is, the baseline first: the row every other is read against.
RECIPE_VARIANTS = tuple(
    Variant(r, _RECIPE_LABELS[r], {"recipe": r}) for r in sorted(RECIPES, key=lambda r: r != "baseline")
)
ABLATIONS = (
    # t-ReX without the memory: multi-crop + projector + learned cosine classifier. Against
    # "trex" it isolates the memory prototypes.
    Variant(
        "trex-no-memory", "multi-crop + projector, cosine classifier (no memory)", {"recipe": "trex", "memory_size": 0}
    ),
    # The baseline plus one part of t-ReX each; against "baseline" they isolate that part.
    Variant(
        "baseline+multi-crop",
        "baseline + multi-crop (t-ReX crops: 1 global + 8 local, linear classifier on every crop)",
        {"recipe": "baseline", "crops": "trex"},
    ),
    Variant(
        "baseline+projector",
        "baseline + projector (1 crop, 3-layer projector, learned cosine classifier, no memory)",
        {"recipe": "trex", "crops": "baseline", "memory_size": 0},
    ),
    Variant(
        "baseline+memory",
        "baseline + memory (1 crop, no projector, memory prototypes of backbone features)",
        {"recipe": "trex", "crops": "baseline", "projector_layers": 0},
    ),
)
VARIANTS = {v.name: v for v in (*RECIPE_VARIANTS, *ABLATIONS)}


__all__ = ["ABLATIONS", "RECIPE_VARIANTS", "VARIANTS", "Variant"]
