"""Gathering the rows written to the memory from every rank, so all ranks hold the same memory."""

from __future__ import annotations

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    """Whether torch.distributed is initialised with more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_gather_rows(*tensors: torch.Tensor) -> list[torch.Tensor]:
    """Concatenates each tensor's rows from every rank, in rank order (the same on all ranks).

    Ranks may hold different numbers of rows (their sizes are exchanged first); all tensors of
    one call must have the same number of rows. A collective: every rank must call it.

    Args:
        tensors: [B_rank, ...] tensors on the device the process group communicates on (CPU for
            gloo, CUDA for NCCL).

    Returns:
        One [sum of B over ranks, ...] tensor per input, same dtype and device.
    """
    if not tensors:
        return []
    rows = tensors[0].shape[0]
    if any(t.shape[0] != rows for t in tensors):
        raise ValueError(f"all_gather_rows: row counts differ: {[t.shape[0] for t in tensors]}")
    world = dist.get_world_size()
    device = tensors[0].device
    count = torch.tensor([rows], dtype=torch.int64, device=device)
    counts = [torch.empty_like(count) for _ in range(world)]
    dist.all_gather(counts, count)
    sizes = [int(c.item()) for c in counts]
    most = max(sizes)
    out = []
    for t in tensors:
        padded = t.new_zeros((most, *t.shape[1:]))
        padded[:rows] = t
        parts = [torch.empty_like(padded) for _ in range(world)]
        dist.all_gather(parts, padded)
        out.append(torch.cat([p[:n] for p, n in zip(parts, sizes)]))
    return out


__all__ = ["all_gather_rows", "is_distributed"]
