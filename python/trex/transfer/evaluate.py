"""The transfer protocol end to end: one frozen backbone, several data sets, a linear probe (and
optionally a weighted kNN) per data set, and the mean log-odds over data sets."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from trex.transfer.backbone import file_digest, load_frozen_backbone
from trex.transfer.datasets import TransferDataset
from trex.transfer.features import dataset_features
from trex.transfer.knn import KNN_K, KNN_TEMPERATURE, knn_top1
from trex.transfer.probe import DEFAULT_C_GRID, linear_probe
from trex.transfer.scores import mean_log_odds

log = logging.getLogger("trex.transfer")


@dataclass(frozen=True)
class TransferOptions:
    """Settings of one evaluation (see ``trex transfer --help``)."""

    knn: bool = False
    knn_k: int = KNN_K
    knn_temperature: float = KNN_TEMPERATURE
    c_grid: tuple[float, ...] = DEFAULT_C_GRID
    image_size: int | None = None  # None: the backbone's training resolution
    batch_size: int = 256
    threads: int | None = None
    cache_dir: Path | None = None
    device: str = "cpu"
    seed: int = 0


def evaluate_transfer(
    backbone_path: str | Path, datasets: Sequence[TransferDataset], options: TransferOptions = TransferOptions()
) -> dict[str, Any]:
    """Runs the transfer protocol of ``backbone_path`` on ``datasets``.

    Returns:
        A JSON-ready dict: ``backbone`` (path, arch, recipe, epoch, image_size, feature_dim),
        ``datasets`` (per data set: classes, train/test sizes, ``linear_top1`` in percent, chosen
        ``c``, held-out curve, ``knn_top1`` when asked, seconds, whether features came from the
        cache), and ``mean`` (``linear_log_odds`` and ``linear_top1``, its sigmoid in percent;
        the same for kNN).

    Raises:
        TransferError: the checkpoint is not a backbone.
    """
    backbone, info = load_frozen_backbone(backbone_path)
    backbone.to(options.device)
    digest = file_digest(info["path"])
    size = int(options.image_size or info["image_size"])
    if options.threads:
        torch.set_num_threads(options.threads)
    rows = []
    for ds in datasets:
        t0 = time.perf_counter()
        feats, cached = dataset_features(
            backbone,
            digest,
            ds,
            size,
            cache_dir=options.cache_dir,
            batch_size=options.batch_size,
            threads=options.threads,
            device=options.device,
        )
        t_feat = time.perf_counter() - t0
        probe = linear_probe(
            feats.train.numpy(),
            feats.train_labels.numpy(),
            feats.test.numpy(),
            feats.test_labels.numpy(),
            options.c_grid,
            seed=options.seed,
        )
        row: dict[str, Any] = {
            "name": ds.name,
            "root": str(ds.root),
            "classes": len(ds.classes),
            "train_images": len(ds.train),
            "test_images": len(ds.test),
            "linear_top1": 100.0 * probe.top1,
            "c": probe.c,
            "c_grid": probe.grid,
            "holdout_top1": [100.0 * s for s in probe.val_top1],
            "converged": probe.converged,
            "features_cached": cached,
            "features_s": round(t_feat, 2),
        }
        if options.knn:
            row["knn_top1"] = 100.0 * knn_top1(
                feats.train,
                feats.train_labels,
                feats.test,
                feats.test_labels,
                k=options.knn_k,
                temperature=options.knn_temperature,
                num_classes=len(ds.classes),
            )
        row["seconds"] = round(time.perf_counter() - t0, 2)
        log.info(
            "%s: linear top-1 %.2f%% (C=%.3g)%s, train %d / test %d images, %.1fs%s",
            ds.name,
            row["linear_top1"],
            probe.c,
            f", kNN top-1 {row['knn_top1']:.2f}%" if options.knn else "",
            len(ds.train),
            len(ds.test),
            row["seconds"],
            " (cached features)" if cached else "",
        )
        rows.append(row)
    mean: dict[str, float] = {}
    for kind in ("linear", "knn") if options.knn else ("linear",):
        lo, acc = mean_log_odds([r[f"{kind}_top1"] / 100.0 for r in rows])
        mean[f"{kind}_log_odds"] = lo
        mean[f"{kind}_top1"] = 100.0 * acc
    return {
        "backbone": {**{k: v for k, v in info.items() if k != "classes"}, "sha256": digest},
        "image_size": size,
        "datasets": rows,
        "mean": mean,
        "protocol": {
            "resize": size,
            "center_crop": size,
            "c_grid": list(options.c_grid),
            "holdout": 0.2,
            "knn_k": options.knn_k,
            "knn_temperature": options.knn_temperature,
        },
    }


__all__ = ["TransferOptions", "evaluate_transfer"]
