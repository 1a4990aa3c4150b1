"""Decode throughput: trex vs Pillow vs torchvision, on the same real ImageNet-sized JPEG files.

Usage (after ``make build``)::

    .venv/bin/python benchmarks/decode.py [--files 200] [--rounds 5] [--corpus .bench/corpus]

The files are cut from real photographs by ``trex.data.photos.make_corpus`` (short side 300-500
px, quality 75-95, a quarter progressive) and read into memory first; each decoder turns the
bytes into an RGB uint8 array:

- trex: ``trex.ops.decode(data)`` (libjpeg-turbo through the ``turbojpeg`` crate)
- Pillow: ``Image.open(BytesIO(data)).convert("RGB")``
- torchvision: ``torchvision.io.decode_jpeg(tensor, mode=ImageReadMode.RGB)``

Everything runs on one thread (``torch.set_num_threads(1)``). Throughput is images per second
of CPU time of this thread (``time.thread_time``), i.e. per core, which other load on a shared
machine does not distort; wall-clock figures are printed next to it. The decoders take turns
within each round and the median round is reported. The last column is each decoder's mean
absolute difference from Pillow's pixels, in levels, over all files.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=200, help="number of corpus files (default 200)")
    parser.add_argument("--rounds", type=int, default=5, help="timed passes per decoder (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")
    parser.add_argument(
        "--corpus", type=Path, default=Path(".bench/corpus"), help="corpus directory (default .bench/corpus)"
    )
    args = parser.parse_args(argv)

    import numpy as np
    import PIL
    import torch
    import torchvision
    from PIL import Image
    from torchvision.io import ImageReadMode, decode_jpeg

    import trex
    from trex.data.photos import make_corpus

    if trex._trex.build_profile != "release":
        print(f"refusing to time a {trex._trex.build_profile} build of trex: run `make build`", file=sys.stderr)
        return 2
    torch.set_num_threads(1)

    paths = make_corpus(args.corpus, n=args.files, seed=args.seed)
    blobs = [p.read_bytes() for p in paths]
    tensors = [torch.frombuffer(bytearray(b), dtype=torch.uint8) for b in blobs]

    def pil(i: int) -> object:
        with Image.open(io.BytesIO(blobs[i])) as im:
            return im.convert("RGB")

    decoders: dict[str, Callable[[int], object]] = {
        "trex (libjpeg-turbo)": lambda i: trex.ops.decode(blobs[i]),
        f"Pillow {PIL.__version__}": pil,
        f"torchvision {torchvision.__version__}": lambda i: decode_jpeg(tensors[i], mode=ImageReadMode.RGB),
    }

    # Fidelity against Pillow, and a warm-up pass for every decoder.
    ref = [np.asarray(pil(i), dtype=np.int16) for i in range(len(blobs))]

    def as_hwc(out: object) -> np.ndarray:
        if isinstance(out, torch.Tensor):
            arr = out.numpy()
            return arr.transpose(1, 2, 0) if arr.shape[0] == 3 and arr.shape[-1] != 3 else arr
        return np.asarray(out)

    fidelity = {}
    for name, fn in decoders.items():
        total = 0.0
        for i in range(len(blobs)):
            out = as_hwc(fn(i)).astype(np.int16)
            if out.shape != ref[i].shape:
                raise SystemExit(f"{name} decoded {paths[i]} to {out.shape}, Pillow to {ref[i].shape}")
            total += float(np.abs(out - ref[i]).mean())
        fidelity[name] = total / len(blobs)

    cpu: dict[str, list[float]] = {name: [] for name in decoders}
    wall: dict[str, list[float]] = {name: [] for name in decoders}
    for _ in range(args.rounds):
        for name, fn in decoders.items():
            c0, w0 = time.thread_time(), time.perf_counter()
            for i in range(len(blobs)):
                fn(i)
            c1, w1 = time.thread_time(), time.perf_counter()
            cpu[name].append(len(blobs) / (c1 - c0))
            wall[name].append(len(blobs) / (w1 - w0))

    pixels = sum(r.shape[0] * r.shape[1] for r in ref) / len(ref)
    size = sum(len(b) for b in blobs) / len(blobs)
    print(
        f"trex {trex.__version__} ({trex._trex.build_profile}), torch {torch.__version__}, "
        f"Python {sys.version.split()[0]}"
    )
    print(f"{len(blobs)} JPEG files from {args.corpus}: {pixels:,.0f} pixels and {size / 1024:.1f} KiB on average")
    print(f"one thread, median of {args.rounds} rounds\n")
    base = statistics.median(cpu[next(k for k in decoders if k.startswith("Pillow"))])
    header = (
        f"| {'decoder':<24} | {'images/s per core (CPU)':>23} | {'images/s (wall)':>15} | {'vs Pillow':>9} "
        f"| {'mean abs diff vs Pillow':>23} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for name in decoders:
        c = statistics.median(cpu[name])
        w = statistics.median(wall[name])
        print(f"| {name:<24} | {c:>23,.0f} | {w:>15,.0f} | {c / base:>8.2f}x | {fidelity[name]:>23.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
