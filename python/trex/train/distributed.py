"""torch.distributed for `trex train`: one process per device, started by ``torchrun``.

``torchrun`` sets RANK, WORLD_SIZE and LOCAL_RANK; without them the run is a single process.
Backend: NCCL on CUDA, gloo on the CPU. Only rank 0 prints and writes files.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    """This process's place in the run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device_kind: str, timeout_s: float = 1800.0) -> tuple[Dist, torch.device]:
    """Joins the process group when started by torchrun, and picks this process's device.

    Args:
        device_kind: ``"cuda"`` or ``"cpu"``.

    Returns:
        (Dist, device): the rank layout and ``cuda:<local_rank>`` or ``cpu``.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    info = Dist(
        int(os.environ.get("RANK", "0")),
        world,
        int(os.environ.get("LOCAL_RANK", "0")),
        int(os.environ.get("LOCAL_WORLD_SIZE", str(world))),
    )
    if device_kind == "cuda":
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if info.enabled and not dist.is_initialized():
        dist.init_process_group(
            "nccl" if device_kind == "cuda" else "gloo",
            timeout=datetime.timedelta(seconds=timeout_s),
            device_id=device if device_kind == "cuda" else None,
        )
    return info, device


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def all_mean(values: list[float], device: torch.device) -> list[float]:
    """The mean over ranks of each value (the values themselves in a single process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return (t / dist.get_world_size()).tolist()


def average_batchnorm_stats(model: torch.nn.Module) -> None:
    """Replaces every BatchNorm running mean and variance by its mean over ranks, so that all ranks
    evaluate and checkpoint the same model (each rank updates them from its own data during an
    epoch). A no-op in a single process."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    world = dist.get_world_size()
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
            for buf in (m.running_mean, m.running_var):
                if buf is not None:
                    dist.all_reduce(buf)
                    buf.div_(world)


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


__all__ = ["Dist", "all_mean", "average_batchnorm_stats", "barrier", "init_distributed", "shutdown"]
