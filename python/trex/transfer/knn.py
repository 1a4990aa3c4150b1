"""Weighted k-nearest-neighbour classifier on frozen features (DINO's ``knn_classifier``).

Features are L2-normalised; each test image takes its k most cosine-similar training images,
each voting for its label with weight ``exp(similarity / T)``; the class of largest total wins.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from trex.transfer.errors import TransferError

KNN_K = 20
KNN_TEMPERATURE = 0.07


@torch.no_grad()
def knn_predict(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    *,
    k: int = KNN_K,
    temperature: float = KNN_TEMPERATURE,
    num_classes: int | None = None,
    chunk: int = 1024,
) -> torch.Tensor:
    """Predicted labels of ``test_x``.

    Args:
        train_x: float [N, D] training features (any scale; normalised here).
        train_y: int64 [N] labels in [0, num_classes).
        test_x: float [M, D] features.
        k: neighbours (capped at N).
        temperature: T of the vote weights ``exp(cos / T)``.
        num_classes: default ``train_y.max() + 1``.
        chunk: test rows per similarity block.

    Returns:
        int64 [M] predicted labels.
    """
    if k < 1 or temperature <= 0:
        raise TransferError(f"kNN needs k >= 1 and a positive temperature, got k={k}, T={temperature}")
    train_x = F.normalize(torch.as_tensor(train_x, dtype=torch.float32), dim=1)
    test_x = F.normalize(torch.as_tensor(test_x, dtype=torch.float32), dim=1)
    train_y = torch.as_tensor(train_y, dtype=torch.int64)
    classes = int(train_y.max()) + 1 if num_classes is None else num_classes
    k = min(k, train_x.shape[0])
    preds = []
    for start in range(0, test_x.shape[0], chunk):
        sim = test_x[start : start + chunk] @ train_x.T
        top_sim, top_idx = sim.topk(k, dim=1)
        weights = (top_sim / temperature).exp()
        votes = torch.zeros(sim.shape[0], classes).scatter_add_(1, train_y[top_idx], weights)
        preds.append(votes.argmax(1))
    return torch.cat(preds) if preds else torch.zeros(0, dtype=torch.int64)


def knn_top1(
    train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor, **kwargs: float
) -> float:
    """Top-1 accuracy in [0, 1] of :func:`knn_predict` on ``test_x``."""
    pred = knn_predict(train_x, train_y, test_x, **kwargs)  # type: ignore[arg-type]
    return float((pred == torch.as_tensor(test_y)).double().mean())


__all__ = ["KNN_K", "KNN_TEMPERATURE", "knn_predict", "knn_top1"]
