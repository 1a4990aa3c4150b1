"""`trex train`: train a backbone with t-ReX, t-ReX* or the supervised baseline.

Its flags, one run with bad input reported in one line. ``python -m trex train`` runs it too (what
``torchrun -m trex train`` runs). Importing this module imports no torch.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time

NAME = "train"
HELP = (
    "train a backbone with t-ReX, t-ReX* or the supervised baseline (with no --data: a few minutes on "
    "Fashion-MNIST on the CPU)"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from trex.train.config import add_arguments as train_arguments

    p.epilog = (
        "Multi-GPU or multi-process: torchrun --nproc_per_node N -m trex train [flags]. "
        "Outputs in --out: checkpoint.pt, backbone.pt, metrics.jsonl, curves.png, config.json."
    )
    train_arguments(p)


def run(args: argparse.Namespace) -> int:
    import trex
    from trex.train import NonFiniteLossError, TrainConfigError, config_from_args
    from trex.train import run as train

    t0 = time.perf_counter()
    try:
        result = train(config_from_args(args))
    except (TrainConfigError, trex.DecodeError, NonFiniteLossError) as err:
        # Bad input or a diverged run: one line saying what to do, no traceback.
        hint = "; fix or remove that file, or pass --on-error skip" if isinstance(err, trex.DecodeError) else ""
        print(f"trex train: error: {err}{hint}", file=sys.stderr)
        return 1 if isinstance(err, NonFiniteLossError) else 2
    except OSError as err:  # a file or folder that cannot be read or written (the message names it)
        print(f"trex train: error: {err}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0 and "val_top1" in result:
        print(
            f"done in {time.perf_counter() - t0:.0f}s: validation top-1 {result['val_top1']:.2f}% after "
            f"epoch {result['epoch']}\n  checkpoint: {result['checkpoint']}\n  backbone:   {result['backbone']}\n"
            f"  plot:       {result['plot']}\n  metrics:    {result['metrics']}\n"
            f"next, how well its features transfer to unseen classes:\n"
            f"  trex transfer --backbone {shlex.quote(result['backbone'])}"
        )
    return 0
