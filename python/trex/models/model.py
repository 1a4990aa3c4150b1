"""The whole t-ReX model: backbone, head, EMA copy feeding the memory, and the multi-crop loss."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from trex.defaults import (
    DEFAULT_MEMORY_INIT,
    DEFAULT_RECIPE,
    EMA_MOMENTUM,
    MEMORY_SIZE,
    PROJECTOR_HIDDEN_DIM,
    PROJECTOR_OUT_DIM,
    TEMPERATURE,
    Recipe,
    recipe_hidden_layers,
    resolve_projector_layers,
)
from trex.models._checks import positive_int, unit_interval
from trex.models.head import PrototypeHead
from trex.models.memory import PrototypeMemory
from trex.models.projector import init_linear

# Attributes holding a backbone's own classifier (torchvision: ResNet `fc`, ViT `heads`,
# VGG/EfficientNet/MobileNet `classifier`; timm: `head`), replaced by nn.Identity.
_CLASSIFIER_ATTRS = ("fc", "head", "heads", "classifier")
# Attributes holding a headless backbone's feature dimension (timm: num_features).
_DIM_ATTRS = ("num_features", "feature_dim", "embed_dim", "out_features")


def _last_linear(module: nn.Module) -> nn.Linear | None:
    if isinstance(module, nn.Linear):
        return module
    if isinstance(module, nn.Sequential) and len(module) > 0 and isinstance(module[-1], nn.Linear):
        return module[-1]
    return None


def strip_classifier(backbone: nn.Module) -> int | None:
    """Replaces the backbone's final ``nn.Linear`` classifier by ``nn.Identity`` (in place) and
    returns its input dimension, or returns None when there is none."""
    for attr in _CLASSIFIER_ATTRS:
        layer = getattr(backbone, attr, None)
        linear = _last_linear(layer) if isinstance(layer, nn.Module) else None
        if linear is None or layer is None:
            continue
        if layer is linear:
            setattr(backbone, attr, nn.Identity())
        else:
            layer[-1] = nn.Identity()
        return linear.in_features
    return None


def feature_dim_of(backbone: nn.Module) -> int:
    """The dimension of the features ``backbone`` returns, making it return features.

    A backbone with a linear classifier (``fc``, ``head``, ``heads`` or ``classifier``, a Linear
    or a Sequential ending in one) has it replaced by ``nn.Identity`` and the classifier's input
    dimension is returned; otherwise an int ``num_features`` / ``feature_dim`` / ``embed_dim`` /
    ``out_features`` attribute is used.

    Raises:
        ValueError: neither is found; pass ``feature_dim`` explicitly.
    """
    dim = strip_classifier(backbone)
    if dim is not None:
        return dim
    for attr in _DIM_ATTRS:
        value = getattr(backbone, attr, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    raise ValueError(
        f"cannot tell the feature dimension of {type(backbone).__name__}: it has no linear classifier "
        f"({', '.join(_CLASSIFIER_ATTRS)}) and no {' / '.join(_DIM_ATTRS)} attribute; pass feature_dim="
    )


class TReX(nn.Module):
    """A backbone trained with t-ReX (or the supervised baseline), ready for a training loop.

    ``forward(groups, labels)`` runs the backbone once per crop resolution (each group holds
    all crops of one size, crop-major, the global crops first), the head on every crop, and
    returns the cross-entropy over every crop (the image's label repeated per crop) and the
    logits. In training mode with a memory it then writes the first global crop of each image
    (the first crop of ``groups[0]``; with a single crop per image, that crop), passed through
    the EMA copy of backbone + projector without gradient, to the memory: the logits of this
    step use the memory as it was before the write. Any number of crops and resolutions works
    with every head: the recipe picks the head, not the crops (e.g. the baseline's linear
    classifier on t-ReX's multi-crop, or the t-ReX head on a single crop). Under torch.distributed the
    written rows are gathered from every rank, so all ranks hold the same memory (every rank
    must then run forward at each step). Call :meth:`update_ema` after each ``optimizer.step()``.

    Recipes (docs/method.md):
        ``"trex"``: projector with 3 hidden layers, prototype logits from the memory.
        ``"trex-star"``: projector with 1 hidden layer, prototype logits from the memory.
        ``"baseline"``: a plain linear classifier on the backbone features (no projector, no
        memory, no EMA).
    ``projector_layers`` overrides the recipe's projector depth (t-ReX and t-ReX* only); 0 removes
    the projector, so the prototypes (or the cosine classifier) act on the backbone features.

    ``model.backbone`` is what transfer uses; the head and the EMA copy are thrown away. The
    EMA copy (``model.ema``, parameters frozen, BatchNorm statistics from its own forward
    passes) is part of ``state_dict()`` and of ``parameters()`` with ``requires_grad=False``:
    build the optimiser from the parameters that require grad. For synchronised BatchNorm,
    call ``nn.SyncBatchNorm.convert_sync_batchnorm(model)`` before wrapping in DDP.

    Args:
        backbone: maps float [N, 3, H, W] images to [N, feature_dim] features (or
            [N, feature_dim, 1, 1]). When ``feature_dim`` is None its linear classifier, if it
            has one, is replaced in place by ``nn.Identity`` (see :func:`feature_dim_of`).
        num_classes: number of classes.
        recipe: ``"trex"``, ``"trex-star"`` or ``"baseline"``.
        feature_dim: the backbone's feature dimension; None reads it from the backbone.
        projector_layers: projector hidden blocks; None: the recipe's (3 for ``"trex"``, 1 for
            ``"trex-star"``); 0: no projector (the memory then stores backbone features). The
            baseline has no projector: only None or 0 are accepted for it.
        hidden_dim: projector hidden width.
        out_dim: projector output dimension (memory feature dimension; unused without projector).
        memory_size: memory entries; 0 gives the learned cosine classifier (and no EMA).
        temperature: tau of the prototype / cosine logits.
        ema_momentum: EMA momentum m: ema = m * ema + (1 - m) * online.
        memory_init: how the memory starts, ``"empty"`` or ``"noise"`` (see :class:`PrototypeHead`).

    Example:
        >>> import torch, torchvision, trex
        >>> model = trex.TReX(torchvision.models.resnet18(), num_classes=10, recipe="trex-star",
        ...                   hidden_dim=64, out_dim=32, memory_size=64)
        >>> groups = [torch.zeros(4, 3, 64, 64), torch.zeros(8, 3, 32, 32)]  # 1 global + 2 local crops, B=4
        >>> loss, logits = model(groups, torch.tensor([0, 1, 2, 3]))
        >>> logits.shape, len(model.memory)
        (torch.Size([12, 10]), 4)
    """

    def __init__(
        self,
        backbone: nn.Module,
        num_classes: int,
        recipe: Recipe = DEFAULT_RECIPE,
        feature_dim: int | None = None,
        *,
        projector_layers: int | None = None,
        hidden_dim: int = PROJECTOR_HIDDEN_DIM,
        out_dim: int = PROJECTOR_OUT_DIM,
        memory_size: int = MEMORY_SIZE,
        temperature: float = TEMPERATURE,
        ema_momentum: float = EMA_MOMENTUM,
        memory_init: str = DEFAULT_MEMORY_INIT,
    ) -> None:
        super().__init__()
        if not isinstance(backbone, nn.Module):
            raise TypeError(f"backbone must be a torch.nn.Module, got {type(backbone).__name__}")
        baseline = recipe_hidden_layers(recipe) is None
        # Hidden blocks of the projector, 0 when there is none (baseline, or projector_layers=0).
        self.projector_layers = resolve_projector_layers(recipe, projector_layers)
        self.recipe = recipe
        self.num_classes = positive_int("num_classes", num_classes)
        self.ema_momentum = unit_interval("ema_momentum", ema_momentum)
        self.feature_dim = feature_dim_of(backbone) if feature_dim is None else positive_int("feature_dim", feature_dim)
        self.backbone = backbone
        # The recipe's classifier: PrototypeHead (t-ReX, t-ReX*) or nn.Linear (baseline). For the
        # memory, typed, see the `memory` property.
        self.head: PrototypeHead | nn.Linear
        self.ema: nn.ModuleDict | None = None
        if baseline:
            self.head = nn.Linear(self.feature_dim, self.num_classes)
            init_linear(self.head)
            return
        head = PrototypeHead(
            self.feature_dim,
            self.num_classes,
            self.projector_layers or None,
            hidden_dim,
            out_dim,
            memory_size,
            temperature,
            memory_init,
        )
        self.head = head
        if head.memory is not None:
            self.ema = nn.ModuleDict({"backbone": copy.deepcopy(backbone), "projector": copy.deepcopy(head.projector)})
            self.ema.requires_grad_(False)

    @property
    def memory(self) -> PrototypeMemory:
        """The prototype memory of the head (``model.head.memory``), typed as such.

        Raises:
            RuntimeError: the model has none (``recipe="baseline"`` or ``memory_size=0``).
        """
        memory = self.head.memory if isinstance(self.head, PrototypeHead) else None
        if memory is None:
            raise RuntimeError(
                f"this TReX model (recipe {self.recipe!r}) has no prototype memory: "
                + (
                    "the baseline has a linear classifier"
                    if self.recipe == "baseline"
                    else "memory_size=0 gives a learned cosine classifier"
                )
            )
        return memory

    if TYPE_CHECKING:  # what nn.Module.__call__ returns: forward's types (it is typed Any in torch)

        def __call__(
            self, groups: Sequence[torch.Tensor] | torch.Tensor, labels: torch.Tensor
        ) -> tuple[torch.Tensor, torch.Tensor]: ...

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Backbone features of float [N, 3, H, W] images -> [N, feature_dim]."""
        features: torch.Tensor = self.backbone(images)
        return features.flatten(1)

    def forward(
        self, groups: Sequence[torch.Tensor] | torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One training (or evaluation) step's forward pass.

        Args:
            groups: one float tensor per crop resolution, already normalised, each
                [n_crops * B, 3, H, W] crop-major (crop 0 of every image, then crop 1, ...),
                the group of global crops first; a single tensor is one group.
            labels: int64 [B], on the images' device.

        Returns:
            (loss, logits): the mean cross-entropy over all crops (float scalar) and the
            logits [total_crops * B, num_classes] in the order of the groups (float32 for the
            prototype and cosine heads).

        Raises:
            ValueError: empty groups, or a group whose size is not a multiple of B.
            TypeError: a group that is not floating point (uint8 crops: call :func:`trex.normalize`
                first).
        """
        groups = [groups] if isinstance(groups, torch.Tensor) else list(groups)
        if not groups:
            raise ValueError("groups is empty: pass at least one [n_crops * B, 3, H, W] tensor")
        if not isinstance(labels, torch.Tensor) or labels.dim() != 1 or labels.shape[0] == 0:
            got = list(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
            raise ValueError(f"labels must be a non-empty [B] tensor, got {got}")
        batch = labels.shape[0]
        for i, g in enumerate(groups):
            if not isinstance(g, torch.Tensor) or g.dim() < 1 or g.shape[0] == 0 or g.shape[0] % batch:
                got = list(g.shape) if isinstance(g, torch.Tensor) else type(g).__name__
                raise ValueError(f"groups[{i}] must be [n_crops * {batch}, ...] (B = len(labels)), got {got}")
            if not g.is_floating_point():
                raise TypeError(
                    f"groups[{i}] is {g.dtype}, the model takes float images; uint8 crops: call "
                    "trex.normalize first (trex.normalize(group.to(device)) per group)"
                )

        features = torch.cat([self.features(g) for g in groups]) if len(groups) > 1 else self.features(groups[0])
        logits = self.head(features)
        crops = features.shape[0] // batch
        loss = F.cross_entropy(logits, labels.repeat(crops))
        if self.training and self.ema is not None:
            self._write_memory(groups[0][:batch], labels)
        return loss, logits

    @torch.no_grad()
    def _write_memory(self, global_crops: torch.Tensor, labels: torch.Tensor) -> None:
        if self.ema is None or not isinstance(self.head, PrototypeHead):
            return
        z = self.ema["projector"](self.ema["backbone"](global_crops).flatten(1))
        self.head.update_memory(z, labels)

    def ema_pairs(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """(EMA parameters, online parameters) of backbone + projector, in matching order."""
        if self.ema is None or not isinstance(self.head, PrototypeHead):
            return [], []
        online: list[torch.Tensor] = [*self.backbone.parameters(), *self.head.projector.parameters()]
        ema: list[torch.Tensor] = [*self.ema["backbone"].parameters(), *self.ema["projector"].parameters()]
        if len(online) != len(ema) or any(a.shape != b.shape for a, b in zip(online, ema)):
            raise RuntimeError("the EMA copy no longer matches the backbone + projector (modified after construction?)")
        return ema, online

    @torch.no_grad()
    def update_ema(self, momentum: float | None = None) -> None:
        """``ema = m * ema + (1 - m) * online`` on the parameters of backbone + projector.

        Call it after each ``optimizer.step()``. Buffers (BatchNorm statistics) are not
        averaged. Does nothing for the baseline and the memory-free head.

        Args:
            momentum: m in [0, 1]; default the model's ``ema_momentum`` (0.999).
        """
        m = self.ema_momentum if momentum is None else unit_interval("momentum", momentum)
        ema, online = self.ema_pairs()
        if not ema:
            return
        torch._foreach_mul_(ema, m)
        torch._foreach_add_(ema, online, alpha=1.0 - m)

    def extra_repr(self) -> str:
        return (
            f"recipe={self.recipe!r}, num_classes={self.num_classes}, feature_dim={self.feature_dim}, "
            f"projector_layers={self.projector_layers}"
        )


__all__ = ["TReX", "feature_dim_of", "strip_classifier"]
