"""Prototype memory per training step on CPU, trex vs the same computation in plain PyTorch.

One t-ReX step's memory work at the paper's sizes (memory 8192, dim 256, 1000 classes, batch
256 with 9 crops): prototypes from the memory, prototype logits of the 9 x 256 projected crops,
backward of the logits to z, then the push of the 256 global-crop EMA features. The plain
PyTorch version is the published one: prototypes recomputed with index_add_ over the whole
memory each step, logits by a matmul, FIFO write by indexing. Both run in the same process,
interleaved step by step, from the same full memory; each timing is the median of the repeats.

    .venv/bin/python benchmarks/bank.py [--repeats 30] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F

import trex
from trex import _trex
from trex.defaults import MEMORY_SIZE, PAPER, PROJECTOR_OUT_DIM, TEMPERATURE

# The paper's sizes (trex.defaults); 1000 classes (ImageNet); 9 crops (trex recipe: 1 global + 8 local).
SIZE, DIM, CLASSES, BATCH, CROPS, TAU = MEMORY_SIZE, PROJECTOR_OUT_DIM, 1000, PAPER["batch_size"], 9, TEMPERATURE


class PlainMemory:
    """The published implementation's memory (naver/trex Memory), written here for comparison."""

    def __init__(self) -> None:
        self.features = torch.zeros(SIZE, DIM)
        self.labels = torch.zeros(SIZE, dtype=torch.int64)
        self.ptr = 0

    @torch.no_grad()
    def prototypes(self) -> torch.Tensor:
        weights = torch.zeros(CLASSES, DIM)
        weights.index_add_(0, self.labels, self.features)
        return F.normalize(weights, dim=1)

    @torch.no_grad()
    def push(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        slots = (self.ptr + torch.arange(features.shape[0])) % SIZE
        self.features[slots] = features
        self.labels[slots] = labels
        self.ptr = (self.ptr + features.shape[0]) % SIZE


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="timed steps per variant (median reported)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if _trex.build_profile != "release":
        print(f"refusing to time a {_trex.build_profile} build of trex: run `make build` first", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"trex {trex.__version__} ({_trex.build_profile}), torch {torch.__version__}, threads {torch.get_num_threads()}"
    )
    print(f"memory {SIZE} x {DIM}, {CLASSES} classes, {CROPS} crops x {BATCH} images, tau {TAU}, CPU")

    g = torch.Generator().manual_seed(0)
    centres = torch.randn(CLASSES, DIM, generator=g)

    def ema_batch() -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.randint(0, CLASSES, (BATCH,), generator=g)
        return centres[labels] + 0.5 * torch.randn(BATCH, DIM, generator=g), labels

    ours, plain = trex.PrototypeMemory(SIZE, DIM, CLASSES), PlainMemory()
    for _ in range(SIZE // BATCH):  # start full, as in steady-state training
        f, l = ema_batch()
        ours.push(f, l)
        plain.push(f, l)
    torch.testing.assert_close(ours.prototypes(), plain.prototypes(), rtol=1e-5, atol=1e-5)

    z = torch.randn(CROPS * BATCH, DIM, generator=g, requires_grad=True)
    upstream = torch.randn(CROPS * BATCH, CLASSES, generator=g)

    def step_trex(f: torch.Tensor, l: torch.Tensor) -> None:
        z.grad = None
        trex.prototype_logits(z, ours.prototypes(), TAU).backward(upstream)
        ours.push(f, l)

    def step_plain(f: torch.Tensor, l: torch.Tensor) -> None:
        z.grad = None
        ((F.normalize(z, dim=1) @ plain.prototypes().T) / TAU).backward(upstream)
        plain.push(f, l)

    def bank_trex(f: torch.Tensor, l: torch.Tensor) -> None:
        ours.prototypes()
        ours.push(f, l)

    def bank_plain(f: torch.Tensor, l: torch.Tensor) -> None:
        plain.prototypes()
        plain.push(f, l)

    rows = [("step: prototypes + logits + backward + push", step_trex, step_plain),
            ("memory only: prototypes + push", bank_trex, bank_plain)]  # fmt: skip
    for name, ours_fn, plain_fn in rows:
        times: dict[str, list[float]] = {"trex": [], "plain": []}
        for i in range(args.repeats + 3):
            f, l = ema_batch()
            order = (("trex", ours_fn), ("plain", plain_fn)) if i % 2 else (("plain", plain_fn), ("trex", ours_fn))
            for label, fn in order:
                t = time.perf_counter()
                fn(f, l)
                if i >= 3:  # warm-up
                    times[label].append(time.perf_counter() - t)
        t_ours, t_plain = (statistics.median(times[k]) * 1e3 for k in ("trex", "plain"))
        print(
            f"{name:46s} trex {t_ours:8.3f} ms   plain PyTorch {t_plain:8.3f} ms   plain/trex {t_plain / t_ours:5.2f}x"
        )
    # Same memory contents after the same pushes: the comparison is like for like.
    torch.testing.assert_close(ours.prototypes(), plain.prototypes(), rtol=1e-5, atol=1e-5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
