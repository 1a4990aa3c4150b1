"""Training-step time of the built-in default's model on the CPU, float32 against bf16 autocast,
timed in alternating rounds in one process (so that load from elsewhere hits both alike): the
model, crops and batch of `trex train` with no arguments (resnet-tiny, t-ReX recipe, 1x64 + 8x28
crops, batch 32, 5 classes, 1024 prototypes), random pixels, SGD + EMA update as in training.

    python benchmarks/precision_cpu_steps.py [--threads 2] [--rounds 5] [--steps 10]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch

import trex
from trex.train.backbones import create_backbone


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=10)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    backbone, dim = create_backbone("resnet-tiny")
    model = trex.TReX(
        backbone, 5, "trex", feature_dim=dim, hidden_dim=512, out_dim=128, memory_size=1024, ema_momentum=0.9
    )
    opt = torch.optim.SGD([q for q in model.parameters() if q.requires_grad], lr=0.01, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    groups = [
        torch.randint(0, 256, (32, 3, 64, 64), dtype=torch.uint8, generator=g),
        torch.randint(0, 256, (256, 3, 28, 28), dtype=torch.uint8, generator=g),
    ]
    labels = torch.randint(0, 5, (32,), generator=g)
    modes = {"fp32": contextlib.nullcontext, "bf16": lambda: torch.autocast("cpu", dtype=torch.bfloat16)}

    def steps(mode: str, n: int) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            with modes[mode]():
                loss, _ = model([trex.normalize(x) for x in groups], labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            model.update_ema()
        return (time.perf_counter() - t0) / n * 1000

    for mode in modes:  # warm-up, discarded
        steps(mode, 3)
    times: dict[str, list[float]] = {m: [] for m in modes}
    for r in range(args.rounds):
        for mode in list(modes) if r % 2 == 0 else list(modes)[::-1]:
            times[mode].append(steps(mode, args.steps))
    print(
        f"torch {torch.__version__}, {args.threads} threads, native bf16: "
        f"{torch.ops.mkldnn._is_mkldnn_bf16_supported()}, {args.rounds} rounds x {args.steps} steps"
    )
    for mode, v in times.items():
        print(
            f"{mode}: ms/step min {min(v):.1f} median {statistics.median(v):.1f} max {max(v):.1f}   "
            + " ".join(f"{x:.1f}" for x in v)
        )
    ratios = [b / f for f, b in zip(times["fp32"], times["bf16"])]
    print(
        f"bf16 / fp32 step time per round: median {statistics.median(ratios):.2f} "
        f"(min {min(ratios):.2f}, max {max(ratios):.2f})"
    )


if __name__ == "__main__":
    main()
