"""Frozen-backbone features of a transfer data set: Resize + CenterCrop at the backbone's
resolution, batched through the model in eval mode under ``no_grad``, cached on disk.

The cache key hashes the backbone file's bytes, the data set's sample listing (paths, sizes,
modification times, labels) and the preprocessing, so a retrained backbone or an edited folder is
never served stale features.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

import trex
from trex.transfer.datasets import TransferDataset

log = logging.getLogger("trex.transfer")

# Bump when the preprocessing or the file layout changes: old cache entries are then ignored.
CACHE_FORMAT = 1


@dataclass
class Features:
    """Features of both splits: float32 [N, D] on the CPU, labels int64 [N]."""

    train: torch.Tensor
    train_labels: torch.Tensor
    test: torch.Tensor
    test_labels: torch.Tensor


def default_cache_dir() -> Path:
    """``$TREX_CACHE/transfer-features`` (``~/.cache/trex/transfer-features`` when unset)."""
    env = os.environ.get("TREX_CACHE")
    return (Path(env) if env else Path.home() / ".cache" / "trex") / "transfer-features"


def _load_image(path: str, size: int) -> torch.Tensor:
    from torchvision.transforms.v2 import functional as F

    img = trex.ops.decode_file(path).permute(2, 0, 1)
    img = F.resize(img, [size], interpolation=F.InterpolationMode.BICUBIC, antialias=True)
    return F.center_crop(img, [size])


@torch.no_grad()
def extract(
    backbone: nn.Module,
    samples: Sequence[tuple[str, int]],
    image_size: int,
    *,
    batch_size: int = 256,
    threads: int | None = None,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Backbone features of ``samples``.

    Each image is decoded (trex), its shorter side resized to ``image_size`` (bicubic,
    antialiased), centre-cropped to ``image_size`` x ``image_size``, normalised with the ImageNet
    mean/std, and passed through ``backbone`` in eval mode.

    Returns:
        (features, labels): float32 [N, D] and int64 [N], on the CPU.
    """
    was_training = backbone.training
    backbone.eval()
    device = torch.device(device)
    threads = threads or len(os.sched_getaffinity(0))
    feats, labels = [], []
    try:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for start in range(0, len(samples), batch_size):
                chunk = samples[start : start + batch_size]
                images = torch.stack(list(pool.map(lambda s: _load_image(s[0], image_size), chunk)))
                x = trex.normalize(images.to(device))
                feats.append(backbone(x).flatten(1).float().cpu())
                labels.append(torch.tensor([label for _, label in chunk], dtype=torch.int64))
    finally:
        backbone.train(was_training)
    return torch.cat(feats), torch.cat(labels)


def cache_key(backbone_digest: str, dataset: TransferDataset, image_size: int) -> str:
    """The cache entry name of (backbone file, data set contents, preprocessing)."""
    text = json.dumps([CACHE_FORMAT, backbone_digest, dataset.fingerprint(), image_size, "resize-centercrop-bicubic"])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def dataset_features(
    backbone: nn.Module,
    backbone_digest: str,
    dataset: TransferDataset,
    image_size: int,
    *,
    cache_dir: Path | None,
    batch_size: int = 256,
    threads: int | None = None,
    device: torch.device | str = "cpu",
) -> tuple[Features, bool]:
    """Features of both splits of ``dataset``, from the cache when present.

    Args:
        backbone: the frozen network.
        backbone_digest: SHA-256 of its file (part of the cache key).
        dataset: the checked data set.
        image_size: Resize + CenterCrop side (the backbone's training resolution).
        cache_dir: where entries live; None disables the cache.

    Returns:
        (features, from_cache).
    """
    path = None
    if cache_dir is not None:
        path = cache_dir / f"{cache_key(backbone_digest, dataset, image_size)}.pt"
        if path.is_file():
            try:
                blob = torch.load(path, map_location="cpu", weights_only=True)
                return Features(**blob), True
            except Exception:  # a damaged entry is recomputed  # noqa: BLE001
                pass
    train, train_labels = extract(
        backbone, dataset.train, image_size, batch_size=batch_size, threads=threads, device=device
    )
    test, test_labels = extract(
        backbone, dataset.test, image_size, batch_size=batch_size, threads=threads, device=device
    )
    features = Features(train, train_labels, test, test_labels)
    if path is not None:
        _store(path, features)
    return features, False


def _store(path: Path, features: Features) -> None:
    """Writes a cache entry through a fresh temporary file (never through a symlink planted there);
    a cache that cannot be written only costs the next run the extraction again."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        tmp = Path(name)
        with os.fdopen(fd, "wb") as f:
            torch.save(vars(features), f)
        os.replace(tmp, path)
        tmp = None
    except (OSError, RuntimeError) as err:  # torch.save reports a failed write as a RuntimeError
        log.warning("feature cache: cannot write %s (%s); continuing without it", path, str(err).splitlines()[0])
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


__all__ = ["CACHE_FORMAT", "Features", "cache_key", "dataset_features", "default_cache_dir", "extract"]
