"""Two processes (torch.distributed, gloo, CPU), each with different data: after several steps
both hold the same memory, equal to one memory fed with the rows of both ranks in rank order.
The test starts the processes itself (spawn, free port, timeout)."""

from __future__ import annotations

import os
import socket
import time

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

WORLD = 2
STEPS = 6
TIMEOUT_S = 180
IN_DIM, OUT_DIM, CLASSES, MEMORY = 12, 8, 5, 20


def head_batch(rank: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rank-specific data; the ranks' batch sizes differ (3 and 5 rows)."""
    g = torch.Generator().manual_seed(1000 * rank + step)
    rows = 3 + 2 * rank
    return torch.randn(rows, OUT_DIM, generator=g), torch.randint(0, CLASSES, (rows,), generator=g)


def image_batch(rank: int, step: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Two real photos per rank (different photos on each rank), one global + one local crop."""
    import skimage

    from trex.ops import decode_file

    names = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"][2 * rank : 2 * rank + 2]
    folder = os.path.dirname(skimage.data.__file__)
    imgs = []
    for name in names:
        img = decode_file(os.path.join(folder, name)).permute(2, 0, 1).float() / 255
        imgs.append(nn.functional.interpolate(img[None], size=(32, 32), mode="bilinear", antialias=True)[0])
    x = torch.stack(imgs) - 0.5
    shift = step % 4  # vary the crops from step to step
    local = nn.functional.interpolate(x[:, :, shift : shift + 24, shift : shift + 24], size=(16, 16), mode="bilinear")
    return [x, local], torch.tensor([rank, 2 + rank])


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
    )


def _worker(rank: int, port: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    import trex

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    try:
        torch.manual_seed(0)  # same initial weights on both ranks
        head = trex.PrototypeHead(IN_DIM, CLASSES, hidden_layers=1, hidden_dim=16, out_dim=OUT_DIM, memory_size=MEMORY)
        for step in range(STEPS):
            head.update_memory(*head_batch(rank, step))

        torch.manual_seed(0)
        model = trex.TReX(
            small_cnn(),
            num_classes=4,
            recipe="trex-star",
            feature_dim=8,
            hidden_dim=16,
            out_dim=8,
            memory_size=6,
            ema_momentum=0.5,
        )
        ddp = nn.parallel.DistributedDataParallel(model)
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
        for step in range(3):
            loss, _ = ddp(*image_batch(rank, step))
            opt.zero_grad()
            loss.backward()
            opt.step()
            model.update_ema()
        torch.save(
            {"head": head.memory.state_dict(), "model": model.head.memory.state_dict()},
            os.path.join(out_dir, f"rank{rank}.pt"),
        )
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ranks_hold_identical_memories(tmp_path):
    ctx = mp.start_processes(
        _worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=False, start_method="spawn"
    )
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while not ctx.join(timeout=1):
            if time.monotonic() > deadline:
                pytest.fail(f"distributed workers did not finish within {TIMEOUT_S} s")
    finally:
        for p in ctx.processes:
            if p.is_alive():
                p.kill()
                p.join()
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD))

    # PrototypeHead.update_memory: identical on both ranks, and equal to one memory fed with
    # rank 0's rows then rank 1's at each step.
    import trex

    reference = trex.PrototypeMemory(MEMORY, OUT_DIM, CLASSES)
    for step in range(STEPS):
        rows = [head_batch(r, step) for r in range(WORLD)]
        assert not torch.equal(rows[0][0], rows[1][0][:3])  # different data per rank
        reference.push(torch.cat([f for f, _ in rows]), torch.cat([l for _, l in rows]))
    for k, v in reference.state_dict().items():
        assert torch.equal(r0["head"][k], r1["head"][k]), k
        assert torch.equal(r0["head"][k], v), k

    # TReX under DDP: 4 rows per step (labels [0, 2] from rank 0, [1, 3] from rank 1), 12 in
    # all, so the 6-entry ring holds rows 6..11 at slots i % 6; identical on both ranks.
    for k in r0["model"]:
        assert torch.equal(r0["model"][k], r1["model"][k]), k
    assert r0["model"]["labels"].tolist() == [1, 3, 0, 2, 1, 3]
    assert int(r0["model"]["pushes"]) == 3
