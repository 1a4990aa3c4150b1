"""Backbones for `trex train`: torchvision ResNets with the classifier removed, and a small ResNet.

Every builder returns a module mapping float images [B, 3, H, W] to features [B, D]; ``D`` is read
from the model (``feature_dim``), never assumed.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from trex.train.config import ARCH_NAMES


def _torchvision(name: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import torchvision

        model = getattr(torchvision.models, name)(weights=None)
        model.fc = nn.Identity()
        return model

    return build


class _BasicBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.downsample(x))


class SmallResNet(nn.Module):
    """A ResNet for 32-64 px images: 3x3 stem, no max-pool, four stages of basic blocks.

    ``resnet-small`` (widths 32-256, one block per stage, stride-2 stem, 1.2M parameters) and
    ``resnet-tiny`` (widths 16-128, 0.3M parameters, about 3x cheaper; the built-in Fashion-MNIST
    run's) are sized for 64 px images upscaled from 28 px, so that they train at tens of images/s
    per CPU core with the t-ReX multi-crop; use ``stem_stride=1`` for native 32 px images.

    Args:
        widths: channels of the four stages (the last one is the feature dimension).
        blocks: basic blocks per stage.
        stem_stride: stride of the 3x3 stem (2 quarters the cost of the first stage).

    Input: float [B, 3, H, W] (normalised), output: float [B, widths[-1]].
    """

    def __init__(
        self, widths: tuple[int, ...] = (32, 64, 128, 256), blocks: tuple[int, ...] = (1, 1, 1, 1), stem_stride: int = 2
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, widths[0], 3, stem_stride, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)
        )
        layers: list[nn.Module] = []
        in_ch = widths[0]
        for i, (width, n) in enumerate(zip(widths, blocks, strict=True)):
            for j in range(n):
                layers.append(_BasicBlock(in_ch, width, 2 if (i > 0 and j == 0) else 1))
                in_ch = width
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.feature_dim = in_ch
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for block in self.layers:
            nn.init.zeros_(block.bn2.weight)  # zero-init residual, as torchvision's option

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.layers(self.stem(x))), 1)


ARCHS: dict[str, Callable[[], nn.Module]] = {
    "resnet50": _torchvision("resnet50"),
    "resnet18": _torchvision("resnet18"),
    "resnet-small": lambda: SmallResNet((32, 64, 128, 256)),
    "resnet-tiny": lambda: SmallResNet((16, 32, 64, 128)),
}
if tuple(ARCHS) != ARCH_NAMES:  # the flags offer trex.train.config.ARCH_NAMES: exactly these
    raise ImportError(f"trex.train.backbones builds {tuple(ARCHS)} but trex.train.config names {ARCH_NAMES}")


class Pixels(nn.Module):
    """Raw pixels as features, the reference row of transfer tables: the (normalised) image,
    area-averaged down to at most ``side`` x ``side``, flattened (3 * side^2 values).

    The averaging bounds the probe's size (a 64 px image would give 12,288 features, and a
    500-class probe on them takes many minutes); images no larger than ``side`` pass unchanged.
    It has no parameters and nothing to train.
    """

    def __init__(self, side: int = 16) -> None:
        super().__init__()
        self.side = side
        self.feature_dim = 3 * side * side

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] > self.side or x.shape[-2] > self.side:
            x = nn.functional.adaptive_avg_pool2d(x, self.side)
        else:
            x = nn.functional.interpolate(x, size=(self.side, self.side), mode="nearest")
        return torch.flatten(x, 1)


# Backbones that are references for transfer tables, not networks to train.
REFERENCE_ARCHS: dict[str, Callable[[], nn.Module]] = {"pixels": Pixels}


def feature_dim(backbone: nn.Module) -> int:
    """The backbone's output width, read from the model (``feature_dim`` attribute, or a dry run)."""
    dim = getattr(backbone, "feature_dim", None)
    if isinstance(dim, int):
        return dim
    was_training = backbone.training
    param = next(backbone.parameters())
    backbone.eval()
    with torch.no_grad():
        out = backbone(torch.zeros(2, 3, 64, 64, device=param.device, dtype=param.dtype))
    backbone.train(was_training)
    return int(out.shape[1])


def create_backbone(arch: str) -> tuple[nn.Module, int]:
    """The backbone ``arch`` (one of :data:`ARCHS`, or of :data:`REFERENCE_ARCHS`) with random
    weights, and its feature dimension.

    Raises:
        ValueError: unknown ``arch``.
    """
    build = ARCHS.get(arch) or REFERENCE_ARCHS.get(arch)
    if build is None:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(sorted(ARCHS))}")
    model = build()
    return model, feature_dim(model)


__all__ = ["ARCHS", "Pixels", "REFERENCE_ARCHS", "SmallResNet", "create_backbone", "feature_dim"]
