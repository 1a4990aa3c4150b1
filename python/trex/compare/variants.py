"""The recipes `trex compare` trains, and the ablations that isolate each part of t-ReX.

Each variant is a set of `trex train` flags on top of the built-in default. The ablations the
trainer cannot express yet are listed in :data:`UNSUPPORTED` with the flag they need.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Variant:
    """One training recipe of the comparison: a name, a label, and `trex train` settings."""

    name: str
    label: str
    settings: dict[str, Any] = field(default_factory=dict)


RECIPES = (
    Variant("baseline", "baseline (1 crop, linear classifier)", {"recipe": "baseline"}),
    Variant("trex", "t-ReX (multi-crop, 3-layer projector, memory prototypes)", {"recipe": "trex"}),
    Variant("trex-star", "t-ReX* (multi-crop s=0.40, 1-layer projector, memory prototypes)", {"recipe": "trex-star"}),
)
ABLATIONS = (
    # t-ReX without the memory: multi-crop + projector + learned cosine classifier. Against
    # "trex" it isolates the memory prototypes.
    Variant("trex-no-memory", "multi-crop + projector, cosine classifier (no memory)",
            {"recipe": "trex", "memory_size": 0}),
)
# Ablations that need a `trex train` flag it does not have: the loader's crops follow the recipe
# and the head follows the recipe, so neither can be switched on alone.
UNSUPPORTED = {
    "baseline+multi-crop": "a flag choosing the loader's crops apart from the head (e.g. --crops trex with "
                           "--recipe baseline)",
    "baseline+projector": "a single-crop loader under a projector head (e.g. --crops baseline with --recipe trex "
                          "--memory-size 0)",
    "baseline+memory": "memory prototypes without a projector (e.g. --projector-layers 0) and single-crop "
                       "loading (--crops baseline)",
}
VARIANTS = {v.name: v for v in (*RECIPES, *ABLATIONS)}


__all__ = ["ABLATIONS", "RECIPES", "UNSUPPORTED", "VARIANTS", "Variant"]
