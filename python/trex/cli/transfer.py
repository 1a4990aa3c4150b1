"""`trex transfer`: how well a trained backbone's frozen features transfer to other data sets."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

NAME = "transfer"
HELP = (
    "evaluate a trained backbone's frozen features on other data sets: linear probe (C chosen on held-out "
    "training data) and optional weighted kNN, per data set and as mean log-odds"
)


# At most this many C values (each is a probe fit per data set).
MAX_GRID = 100


def parse_grid(text: str) -> tuple[float, ...]:
    """``"LO:HI:N"`` (N log-spaced values from LO to HI) or ``"C1,C2,..."``."""
    import math

    import numpy as np

    try:
        if ":" in text:
            lo, hi, n = (float(v) for v in text.split(":"))
            if not (math.isfinite(lo) and math.isfinite(hi) and lo > 0 and hi > 0):
                raise argparse.ArgumentTypeError(f"LO and HI must be positive finite numbers, got {text!r}")
            if n != int(n) or not 1 <= n <= MAX_GRID:
                raise argparse.ArgumentTypeError(f"N must be a whole number from 1 to {MAX_GRID}, got {text!r}")
            values = tuple(float(c) for c in np.logspace(np.log10(lo), np.log10(hi), int(n)))
        else:
            values = tuple(float(c) for c in text.split(","))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected LO:HI:N or C1,C2,... got {text!r}") from err
    if not values or len(values) > MAX_GRID or any(not (math.isfinite(c) and c > 0) for c in values):
        raise argparse.ArgumentTypeError(f"C values must be 1 to {MAX_GRID} positive finite numbers, got {text!r}")
    return values


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("input")
    g.add_argument(
        "--backbone", metavar="PATH", required=True, help="the backbone.pt written by `trex train` (or its run folder)"
    )
    g.add_argument(
        "--dataset",
        action="append",
        default=None,
        metavar="NAME=ROOT",
        help="an ImageFolder root with train/ and test/ (or val/); repeat for several. A bare name picks "
        "a built-in set: fashion-unseen (Fashion-MNIST classes 5-9, never seen by the built-in "
        "training run), digits (scikit-learn's 8x8 digits, upscaled), fashion (all 10 Fashion-MNIST "
        "classes) or glyphs-unseen (the glyph benchmark's 500 unseen ideographs in held-out font "
        "faces). Default: fashion-unseen and digits",
    )
    g.add_argument(
        "--train-per-class",
        metavar="N",
        type=int,
        default=None,
        help="fit the probes on the first N training images of each class (default: all)",
    )
    g.add_argument(
        "--test-per-class",
        metavar="N",
        type=int,
        default=None,
        help="test on the first N test images of each class (default: all; a budget knob, the same "
        "subset for every backbone)",
    )
    g = p.add_argument_group("protocol")
    g.add_argument("--knn", action="store_true", help="also report weighted kNN top-1 (cosine, DINO's vote)")
    g.add_argument("--knn-k", metavar="K", type=int, default=20, help="kNN neighbours (default 20)")
    g.add_argument(
        "--knn-temperature", metavar="T", type=float, default=0.07, help="kNN vote temperature (default 0.07)"
    )
    g.add_argument(
        "--c-grid",
        metavar="GRID",
        type=parse_grid,
        default=None,
        help="inverse regularisation values tried on the held-out 20%% per class: LO:HI:N log-spaced or "
        "C1,C2,... (default 1e-4:1e4:9, one per decade)",
    )
    g.add_argument(
        "--image-size",
        metavar="PX",
        type=int,
        default=None,
        help="Resize + CenterCrop side (default: the backbone's training resolution)",
    )
    g = p.add_argument_group("run")
    g.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="folder for transfer.json and transfer.png (default: <backbone folder>/transfer)",
    )
    g.add_argument(
        "--cache",
        metavar="DIR",
        default=None,
        help="feature cache folder (default $TREX_CACHE/transfer-features or ~/.cache/trex/transfer-features)",
    )
    g.add_argument("--no-cache", action="store_true", help="do not read or write cached features")
    g.add_argument("--batch-size", metavar="N", type=int, default=256, help="images per forward pass (default 256)")
    g.add_argument(
        "--threads", metavar="N", type=int, default=None, help="decode and torch threads (default: all cores)"
    )
    g.add_argument(
        "--device", metavar="DEVICE", default="cpu", help="device of the backbone (default cpu; cuda for a GPU)"
    )
    g.add_argument("--seed", metavar="N", type=int, default=0, help="seed of the held-out split (default 0)")


def run(args: argparse.Namespace) -> int:
    import trex
    from trex.train.files import check_out_dir
    from trex.transfer import (
        DEFAULT_C_GRID,
        TransferError,
        TransferOptions,
        default_cache_dir,
        evaluate_transfer,
        format_table,
        load_frozen_backbone,
        plot_bars,
        resolve_dataset_specs,
        write_json,
    )

    try:
        for flag in ("train_per_class", "test_per_class", "image_size", "batch_size", "threads", "knn_k"):
            value = getattr(args, flag)
            if value is not None and value < 1:
                raise TransferError(f"--{flag.replace('_', '-')} must be at least 1, got {value}")
        if not (math.isfinite(args.knn_temperature) and args.knn_temperature > 0):
            raise TransferError(f"--knn-temperature must be a positive finite number, got {args.knn_temperature}")
        device = check_device(args.device)
        _, info = load_frozen_backbone(args.backbone)
        # Where the results go, checked before the evaluation (which may take long) rather than after.
        out = Path(args.out) if args.out else Path(info["path"]).parent / "transfer"
        check_out_dir(out, "--out", TransferError)
        size = int(args.image_size or info["image_size"])
        datasets = resolve_dataset_specs(
            args.dataset, image_size=size, train_per_class=args.train_per_class, test_per_class=args.test_per_class
        )
        options = TransferOptions(
            knn=args.knn,
            knn_k=args.knn_k,
            knn_temperature=args.knn_temperature,
            c_grid=args.c_grid or DEFAULT_C_GRID,
            image_size=size,
            batch_size=args.batch_size,
            threads=args.threads,
            cache_dir=None if args.no_cache else Path(args.cache or default_cache_dir()),
            device=device,
            seed=args.seed,
        )
        result = evaluate_transfer(info["path"], datasets, options)
    except (TransferError, trex.DecodeError) as err:
        print(f"trex transfer: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a file or folder that cannot be read or written (the message names it)
        print(f"trex transfer: error: {err}", file=sys.stderr)
        return 2
    print(format_table(result))
    try:
        json_path = write_json(result, out / "transfer.json")
        png_path = plot_bars(result, out / "transfer.png")
    except OSError as err:
        print(
            f"trex transfer: error: cannot write the results to {out} ({err.strerror or err}); the table above "
            "holds them",
            file=sys.stderr,
        )
        return 2
    print(
        f"  results: {json_path}\n  chart:   {png_path}\n"
        "look at the mean (log-odds) row: the higher, the better these features transfer; `trex compare` "
        "sets baseline, t-ReX and t-ReX* side by side on one benchmark"
    )
    return 0


def check_device(name: str) -> str:
    """``name`` if torch can run the backbone there, else TransferError saying why."""
    import torch

    from trex.transfer import TransferError

    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as err:
        raise TransferError(f"--device {name}: not a device name (use cpu, cuda or cuda:N)") from err
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise TransferError(f"--device {name}: no CUDA device is available; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise TransferError(f"--device {name}: there are {torch.cuda.device_count()} CUDA devices")
    elif device.type != "cpu":
        raise TransferError(f"--device {name}: only cpu and cuda are supported")
    return name
