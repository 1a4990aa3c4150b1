"""The expendable projector between the backbone and the classifier (thrown away after training)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trex.defaults import INIT_STD, PROJECTOR_HIDDEN_DIM, PROJECTOR_OUT_DIM
from trex.models._checks import positive_int


def init_linear(module: nn.Module) -> None:
    """Truncated-normal weights (std 0.02) and zero biases for every ``nn.Linear`` in ``module``.

    The truncation bounds are torch's defaults (+-2, i.e. +-100 std), as in the published t-ReX
    and DINO code.
    """
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=INIT_STD)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class Projector(nn.Module):
    """L2-normalised input, ``hidden_layers`` blocks of Linear + BatchNorm1d + GELU, then a
    bias-free linear bottleneck.

    ``hidden_layers=0`` is a single bias-free linear map from ``in_dim`` to ``out_dim`` (on the
    normalised input). Linear weights are initialised truncated-normal with std 0.02, biases 0.
    For distributed training, convert its BatchNorm with ``nn.SyncBatchNorm.convert_sync_batchnorm``.

    Args:
        in_dim: input feature dimension (2048 for a ResNet-50).
        hidden_layers: number of Linear + BatchNorm1d + GELU blocks (3 for t-ReX, 1 for t-ReX*).
        hidden_dim: width of the hidden blocks.
        out_dim: output dimension (the memory's feature dimension).

    Shapes:
        input: float [N, in_dim]; output: float [N, out_dim], same device and dtype (autocast
        applies as usual).
    """

    def __init__(
        self,
        in_dim: int,
        hidden_layers: int = 3,
        hidden_dim: int = PROJECTOR_HIDDEN_DIM,
        out_dim: int = PROJECTOR_OUT_DIM,
    ) -> None:
        super().__init__()
        self.in_dim = positive_int("in_dim", in_dim)
        self.hidden_layers = positive_int("hidden_layers", hidden_layers, allow_zero=True)
        self.hidden_dim = positive_int("hidden_dim", hidden_dim)
        self.out_dim = positive_int("out_dim", out_dim)
        layers: list[nn.Module] = []
        width = self.in_dim
        for _ in range(self.hidden_layers):
            layers += [nn.Linear(width, self.hidden_dim), nn.BatchNorm1d(self.hidden_dim), nn.GELU()]
            width = self.hidden_dim
        layers.append(nn.Linear(width, self.out_dim, bias=False))
        self.layers = nn.Sequential(*layers)
        init_linear(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"Projector expects a [N, {self.in_dim}] input, got {list(x.shape)}")
        out: torch.Tensor = self.layers(F.normalize(x, dim=1))
        return out

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, hidden_layers={self.hidden_layers}, out_dim={self.out_dim}"


__all__ = ["Projector", "init_linear"]
