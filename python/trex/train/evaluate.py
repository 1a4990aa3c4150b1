"""Validation: Resize + CenterCrop images, top-1 of the model's classifier.

Images are decoded by trex (GIL released) in a thread pool, resized with torchvision's bicubic
antialiased resize and centre-cropped. A small validation set is kept in memory after the first
pass (uint8), so later epochs only pay for the forward passes.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import torch
import torch.distributed as dist
from torch import nn

import trex
from trex.train.precision import Precision

# Keep the preprocessed validation images in memory when they take at most this many bytes.
CACHE_BYTES = 512 * 2**20


class EvalImages:
    """This rank's share of a validation set, as uint8 [B, 3, crop, crop] batches.

    Args:
        samples: (path, label) pairs of the whole set; rank r takes every world_size-th one.
        resize: the shorter side is resized to this (bicubic, antialiased) ...
        crop: ... then the centre crop x crop is kept.
        batch_size: images per batch.
        threads: decode/resize threads.
        rank, world_size: the shard.
        on_error: an image that cannot be read stops the run ("raise", the error names it) or is
            left out of the validation and counted in ``skipped`` ("skip"), as the training loader does.
    """

    def __init__(
        self,
        samples: Sequence[tuple[str, int]],
        resize: int,
        crop: int,
        batch_size: int,
        threads: int,
        rank: int = 0,
        world_size: int = 1,
        on_error: str = "raise",
    ) -> None:
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.on_error = on_error
        self.skipped: list[str] = []  # paths left out (this rank), in order
        self.samples = list(samples)[rank::world_size]
        self.total = len(samples)
        self.resize, self.crop, self.batch_size, self.threads = resize, crop, batch_size, threads
        fits = len(self.samples) * 3 * crop * crop <= CACHE_BYTES
        self._cache: list[tuple[torch.Tensor, torch.Tensor]] | None = None
        self._cacheable = fits

    def _load(self, item: tuple[str, int]) -> torch.Tensor | None:
        from torchvision.transforms.v2 import functional as F

        try:
            img = trex.ops.decode_file(item[0]).permute(2, 0, 1)
        except (trex.DecodeError, OSError) as err:
            if self.on_error == "raise":
                if isinstance(err, trex.DecodeError):
                    raise
                raise trex.DecodeError(f"{item[0]}: {err.strerror or err}") from err
            return None
        img = F.resize(img, [self.resize], interpolation=F.InterpolationMode.BICUBIC, antialias=True)
        return F.center_crop(img, [self.crop])

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self._cache is not None:
            yield from self._cache
            return
        batches = []
        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            for start in range(0, len(self.samples), self.batch_size):
                chunk = self.samples[start : start + self.batch_size]
                loaded = list(pool.map(self._load, chunk))
                for (path, _), img in zip(chunk, loaded):
                    if img is None:
                        self.skipped.append(path)
                        warnings.warn(
                            f"validation: skipped unreadable image {path}", trex.SkippedFileWarning, stacklevel=2
                        )
                kept = [(img, label) for (_, label), img in zip(chunk, loaded) if img is not None]
                if not kept:
                    continue
                batch = (
                    torch.stack([img for img, _ in kept]),
                    torch.tensor([label for _, label in kept], dtype=torch.int64),
                )
                if self._cacheable:
                    batches.append(batch)
                yield batch
        if self._cacheable:
            self._cache = batches


@torch.no_grad()
def evaluate(
    model: nn.Module, images: EvalImages, device: torch.device, precision: Precision, channels_last: bool = False
) -> dict[str, float]:
    """Top-1 accuracy and mean cross-entropy of ``model`` (a :class:`trex.TReX`) on ``images``.

    The model runs in eval mode (BatchNorm running statistics; no memory write), its classifier
    being the prototypes of the memory (t-ReX) or the linear layer (baseline). Under
    torch.distributed the counts of every rank are summed, so every rank returns the same figures.

    Returns:
        ``{"val_top1": percent, "val_loss": mean cross-entropy, "val_images": count}``, and
        ``"val_skipped"`` (unreadable images left out on this rank) when ``images.on_error`` is "skip".
    """
    was_training = model.training
    model.eval()
    stats = torch.zeros(3, dtype=torch.float64, device=device)  # correct, loss sum, count
    for x, y in images:
        x = trex.normalize(x.to(device, non_blocking=True))
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = y.to(device, non_blocking=True)
        with precision.autocast():
            loss, logits = model([x], y)
        stats[0] += (logits.argmax(1) == y).sum()
        stats[1] += loss.double() * y.numel()
        stats[2] += y.numel()
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(stats)
    model.train(was_training)
    correct, loss_sum, count = stats.tolist()
    out = {"val_top1": 100.0 * correct / max(count, 1), "val_loss": loss_sum / max(count, 1), "val_images": int(count)}
    if images.on_error == "skip":
        out["val_skipped"] = len(set(images.skipped))  # this rank's unreadable images
    return out


__all__ = ["EvalImages", "evaluate"]
