"""matplotlib for trex's PNGs (curves.png, transfer.png): the file-only Agg backend, and no INFO
chatter from matplotlib's font cache ("generated new fontManager", which would land between two
epochs' progress lines under `trex`'s INFO logging)."""

from __future__ import annotations

import logging
from types import ModuleType


def pyplot() -> ModuleType:
    """``matplotlib.pyplot`` on the Agg backend, its font cache (built on first use) built quietly."""
    logging.getLogger("matplotlib.font_manager").setLevel(logging.WARNING)  # before the import that builds it
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt
