"""The classification head: projector + prototype logits from a memory, or a cosine classifier."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from trex.defaults import (
    DEFAULT_MEMORY_INIT,
    INIT_STD,
    MEMORY_INITS,
    MEMORY_SIZE,
    PROJECTOR_HIDDEN_DIM,
    PROJECTOR_OUT_DIM,
    TEMPERATURE,
)
from trex.models._checks import positive_float, positive_int
from trex.models.distributed import all_gather_rows, is_distributed
from trex.models.memory import PrototypeMemory, _autocast_off, prototype_logits
from trex.models.projector import Projector


class PrototypeHead(nn.Module):
    """Projector followed by prototype logits (t-ReX's classifier).

    With ``memory_size > 0`` the class weights are the prototypes of a
    :class:`~trex.PrototypeMemory`: ``forward`` returns
    ``normalize(projector(x)) @ prototypes.T / temperature`` with the memory as it is before
    this step's write, and :meth:`update_memory` writes features (already projected, usually by
    an EMA copy of backbone + projector). A class with no entry yet has logit 0.

    With ``memory_size=0`` it is the plain variant: a learned cosine classifier,
    ``normalize(z) @ normalize(weight).T / temperature``.

    With ``hidden_layers=None`` there is no projector (``projector`` is ``nn.Identity``): the
    prototypes (or the cosine classifier) act on the backbone features directly, and the memory
    stores ``in_dim``-dimensional features (``hidden_dim`` and ``out_dim`` are unused).
    ``feature_dim`` is the dimension the classifier acts on: ``out_dim``, or ``in_dim`` without
    a projector.

    Args:
        in_dim: input feature dimension (the backbone's, 2048 for a ResNet-50).
        num_classes: number of classes.
        hidden_layers: projector hidden blocks (3: t-ReX, 1: t-ReX*, 0: one linear map, None: no
            projector at all).
        hidden_dim: projector hidden width.
        out_dim: projector output dimension = the memory's feature dimension.
        memory_size: memory entries; 0 for the learned cosine classifier.
        temperature: tau > 0 dividing the cosines.
        memory_init: ``"empty"`` (default: every class starts with a zero prototype, logit 0) or
            ``"noise"`` (as the published code: the memory starts full of random unit vectors,
            ``memory_size / num_classes`` of each class, drawn from torch's global generator, so
            that the first prototypes are random, distinct class directions; real features
            replace them first in, first out).

    Shapes:
        forward input: float [N, in_dim]; output: float32 [N, num_classes] logits.
    """

    def __init__(
        self,
        in_dim: int,
        num_classes: int,
        hidden_layers: int | None = 3,
        hidden_dim: int = PROJECTOR_HIDDEN_DIM,
        out_dim: int = PROJECTOR_OUT_DIM,
        memory_size: int = MEMORY_SIZE,
        temperature: float = TEMPERATURE,
        memory_init: str = DEFAULT_MEMORY_INIT,
    ) -> None:
        super().__init__()
        if memory_init not in MEMORY_INITS:
            raise ValueError(f"memory_init must be one of {', '.join(map(repr, MEMORY_INITS))}, got {memory_init!r}")
        self.num_classes = positive_int("num_classes", num_classes)
        self.temperature = positive_float("temperature", temperature)
        memory_size = positive_int("memory_size", memory_size, allow_zero=True)
        self.projector: nn.Module
        if hidden_layers is None:  # no projector: the classifier acts on the backbone features
            self.projector = nn.Identity()
            self.feature_dim = positive_int("in_dim", in_dim)
        else:
            self.projector = Projector(in_dim, hidden_layers, hidden_dim, out_dim)
            self.feature_dim = self.projector.out_dim
        self.memory: PrototypeMemory | None = None
        self.weight: nn.Parameter | None = None
        if memory_size > 0:
            self.memory = PrototypeMemory(memory_size, self.feature_dim, self.num_classes)
            if memory_init == "noise":
                noise = F.normalize(torch.randn(memory_size, self.feature_dim), dim=1)
                self.memory.push(noise, torch.arange(memory_size) % self.num_classes)
        else:
            self.weight = nn.Parameter(torch.empty(self.num_classes, self.feature_dim))
            nn.init.trunc_normal_(self.weight, std=INIT_STD)

    if TYPE_CHECKING:  # what nn.Module.__call__ returns: forward's type (it is typed Any in torch)

        def __call__(self, x: torch.Tensor) -> torch.Tensor: ...

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of backbone features ``x`` (float [N, in_dim]) -> float32 [N, num_classes].

        Raises:
            TypeError: ``x`` is not a floating-point tensor (uint8 crops: call
                :func:`trex.normalize` first, then the backbone).
            ValueError: without a projector, ``x`` is not [N, in_dim].
        """
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            got = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
            raise TypeError(
                f"PrototypeHead takes float features [N, in_dim], got {got}; uint8 crops: call "
                "trex.normalize first, then the backbone"
            )
        if isinstance(self.projector, nn.Identity) and (x.dim() != 2 or x.shape[1] != self.feature_dim):
            raise ValueError(f"PrototypeHead expects a [N, {self.feature_dim}] input, got {list(x.shape)}")
        return self.logits(self.projector(x))

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        """Logits of projected features ``z`` (float [N, feature_dim]) -> float32 [N, num_classes]."""
        if self.memory is not None:
            return prototype_logits(z, self.memory.prototypes(), self.temperature)
        if self.weight is None:  # unreachable: __init__ sets the memory or the weight
            raise RuntimeError("PrototypeHead has neither a memory nor a weight")
        with _autocast_off(z.device):  # float32 logits, as with the memory
            w = F.normalize(self.weight.float(), dim=1)
            return F.normalize(z.float(), dim=1) @ w.T / self.temperature

    def update_memory(self, features: torch.Tensor, labels: torch.Tensor, *, gather: bool | None = None) -> None:
        """Writes projected features to the memory (no gradient).

        Args:
            features: float [B, feature_dim], already projected (by the EMA model in t-ReX).
            labels: integer [B] in [0, num_classes).
            gather: concatenate the rows of every rank first, so all ranks hold the same
                memory; default: when torch.distributed is initialised with several ranks
                (then every rank must call this at the same step).

        Raises:
            RuntimeError: the head has no memory (``memory_size=0``).
            trex.MemoryBankError: bad features or labels (see :meth:`PrototypeMemory.push`).
        """
        if self.memory is None:
            raise RuntimeError("this PrototypeHead has no memory (memory_size=0): nothing to update")
        if not isinstance(features, torch.Tensor) or not isinstance(labels, torch.Tensor):
            raise TypeError(
                f"features and labels must be torch.Tensors, got {type(features).__name__} and {type(labels).__name__}"
            )
        features = features.detach()
        if features.is_floating_point() and features.dtype != torch.float32:
            features = features.float()  # what the memory stores; also what every backend gathers
        if is_distributed() if gather is None else gather:
            features, labels = all_gather_rows(features, labels)
        self.memory.push(features, labels)

    def extra_repr(self) -> str:
        kind = "prototypes" if self.memory is not None else "cosine classifier"
        return (
            f"num_classes={self.num_classes}, feature_dim={self.feature_dim}, temperature={self.temperature}, "
            f"classifier={kind}"
        )


__all__ = ["PrototypeHead"]
