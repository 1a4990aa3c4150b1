"""Why the memory prototypes cost accuracy at the built-in scale: `trex compare`'s
``baseline+memory`` ablation (one crop, no projector, classes scored against prototypes averaged
from a memory of EMA features) rerun with one setting changed at a time, plus longer runs.

    .venv/bin/python benchmarks/compare/diagnose.py [--seeds 1] [--only NAME,...]

Runs go to runs/compare (finished ones are reused, as by `trex compare`); the table, JSON and
plot to benchmarks/compare/diagnose/.
"""

from __future__ import annotations

import argparse
import sys

from trex.cli.main import main
from trex.compare import VARIANTS, Variant

MEMORY_ONLY = VARIANTS["baseline+memory"].settings  # one crop, no projector, memory prototypes
DIAGNOSTICS = (
    VARIANTS["baseline+memory"],
    Variant("memory-256", "baseline+memory, memory 256 (default 1024)", {**MEMORY_ONLY, "memory_size": 256}),
    Variant("memory-4096", "baseline+memory, memory 4096", {**MEMORY_ONLY, "memory_size": 4096}),
    Variant("memory-t0.05", "baseline+memory, temperature 0.05 (default 0.1)", {**MEMORY_ONLY, "temperature": 0.05}),
    Variant("memory-t0.3", "baseline+memory, temperature 0.3", {**MEMORY_ONLY, "temperature": 0.3}),
    Variant("memory-t0.02", "baseline+memory, temperature 0.02", {**MEMORY_ONLY, "temperature": 0.02}),
    Variant(
        "memory-ema0",
        "baseline+memory, memory fed by the model itself (EMA 0, default 0.9)",
        {**MEMORY_ONLY, "ema_momentum": 0.0},
    ),
    VARIANTS["baseline"],
    Variant("baseline-12ep", "baseline, 12 epochs (default 4)", {"recipe": "baseline", "epochs": 12}),
    Variant("memory-12ep", "baseline+memory, 12 epochs", {**MEMORY_ONLY, "epochs": 12}),
    Variant("trex-t0.05", "t-ReX, temperature 0.05 (default 0.1)", {"recipe": "trex", "temperature": 0.05}),
)


def run(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default=None, help="comma-separated diagnostics to run (default: all)")
    args, rest = p.parse_known_args(argv)  # the rest goes to `trex compare` (e.g. --seeds)
    for v in DIAGNOSTICS:
        VARIANTS.setdefault(v.name, v)
    names = [v.name for v in DIAGNOSTICS if args.only is None or v.name in args.only.split(",")]
    return main(
        [
            "compare",
            "--variants",
            ",".join(names),
            "--out",
            "runs/compare",
            "--table-out",
            "benchmarks/compare/diagnose",
            *rest,
        ]
    )


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
