"""`trex demo`: decode real photos with trex and with Pillow, compare pixels and speed.

The stand-in main job until training lands: it cuts the installed photographs into
ImageNet-like JPEG files (cached), decodes each with ``trex.ops.decode`` and with Pillow, checks
that the pixels agree and prints both single-thread throughputs.
"""

from __future__ import annotations

import argparse
import io
import time

NAME = "demo"
HELP = "decode real photos (ImageNet-like JPEGs) with trex and Pillow; compare pixels and speed"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--files", type=int, default=32, help="number of JPEG files to cut from the photos (default 32)")
    p.add_argument("--repeat", type=int, default=5, help="timed passes over the files (default 5)")
    p.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")


def _pillow_decode(data: bytes):  # noqa: ANN202
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return im.convert("RGB")


def _throughput(fn, files: list[bytes], repeat: int) -> float:  # noqa: ANN001
    t0 = time.perf_counter()
    for _ in range(repeat):
        for data in files:
            fn(data)
    return repeat * len(files) / (time.perf_counter() - t0)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    import trex
    from trex.data.photos import default_cache_dir, photo_jpegs

    if args.files < 1 or args.repeat < 1:
        raise SystemExit("--files and --repeat must be at least 1")
    torch.set_num_threads(1)
    files = photo_jpegs(n=args.files, seed=args.seed)
    pixels = 0
    worst = 0.0
    for data in files:
        ours = trex.ops.decode(data).numpy().astype(np.int16)
        ref = np.asarray(_pillow_decode(data), dtype=np.int16)
        if ours.shape != ref.shape:
            print(f"shape mismatch: trex {ours.shape}, Pillow {ref.shape}")
            return 1
        worst = max(worst, float(np.abs(ours - ref).mean()))
        pixels += ours.shape[0] * ours.shape[1]
    first = trex.ops.decode(files[0])
    mean_rgb = ", ".join(f"{v:.1f}" for v in first.float().mean(dim=(0, 1)).tolist())
    print(f"trex {trex.__version__} ({trex._trex.build_profile} build), torch {torch.__version__}")
    print(f"{len(files)} ImageNet-like JPEGs cut from real photos, cached in {default_cache_dir()}")
    print(f"first file: {len(files[0])} bytes -> {tuple(first.shape)} {first.dtype}, mean RGB ({mean_rgb})")
    print(
        f"average size {pixels / len(files):,.0f} pixels; largest mean |trex - Pillow| over files: {worst:.4f} levels"
    )
    ours = _throughput(trex.ops.decode, files, args.repeat)
    pil = _throughput(_pillow_decode, files, args.repeat)
    print(f"decode, one thread: trex {ours:,.0f} images/s, Pillow {pil:,.0f} images/s ({ours / pil:.2f}x)")
    return 0 if worst <= 1.0 else 1
