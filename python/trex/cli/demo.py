"""`trex demo`: decode real photos and report throughput (stand-in main job until training lands)."""

from __future__ import annotations

import argparse
import time

NAME = "demo"
HELP = "decode the bundled real photos with trex and Pillow and compare"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--repeat", type=int, default=20, help="passes over the photos (default 20)")


def run(args: argparse.Namespace) -> int:
    import trex
    from trex.data.photos import photo_jpegs

    files = photo_jpegs()
    t0 = time.perf_counter()
    n = 0
    for _ in range(args.repeat):
        for data in files:
            trex.ops.decode(data)
            n += 1
    dt = time.perf_counter() - t0
    print(f"decoded {n} real photos ({len(files)} files) in {dt:.2f}s: {n / dt:.0f} images/s on one thread")
    return 0
