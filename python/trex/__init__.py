"""trex: supervised image classifiers that transfer, after t-ReX (ICLR 2023).

A fast Rust multi-crop pipeline and a prototype memory head for ordinary PyTorch training.

``import trex`` itself is light: torch and the Rust extension are imported on first use of a
name that needs them (PEP 562), so ``trex --help`` and argument errors answer at once. Every
public name and submodule is reached as before: ``trex.TReX``, ``from trex import normalize``,
``trex.ops``, ``trex.train``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from trex._lazy import submodule as _submodule
from trex.constants import TORCH_VERSION as _TORCH_VERSION
from trex.exceptions import DecodeError, MemoryBankError, SkippedFileWarning, TrexError, UnreadableFilesError

if TYPE_CHECKING:  # what a type checker sees: the names, eagerly (they are loaded lazily at run time)
    from trex import data as data
    from trex import models as models
    from trex import ops as ops
    from trex.data import Batch, ColorJitter, CropGroup, MultiCropLoader, MultiCropRecipe, create_recipe
    from trex.models import Projector, PrototypeHead, PrototypeMemory, TReX, prototype_logits, prototype_loss
    from trex.ops import normalize

    __version__: str


_torch_checked = False


def _import_torch() -> None:
    """Imports torch, checking its version, before anything that needs the extension: the
    extension links libtorch without an rpath, so torch must be loaded first."""
    global _torch_checked
    if _torch_checked:
        return
    import torch

    if torch.__version__.split("+")[0] != _TORCH_VERSION:
        raise ImportError(
            f"trex needs torch {_TORCH_VERSION} (the version its extension was built against), "
            f"but torch {torch.__version__} is installed; install torch=={_TORCH_VERSION}"
        )
    _torch_checked = True


class _TorchBeforeExtension(importlib.abc.MetaPathFinder):
    """Imports torch (and checks its version) whenever ``trex._trex`` is about to be loaded, by
    whatever route: ``trex.X``, ``from trex import _trex``, ``import trex._trex``."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname == "trex._trex":
            _import_torch()
        return None  # the ordinary finders load it


if not any(isinstance(f, _TorchBeforeExtension) for f in sys.meta_path):
    sys.meta_path.insert(0, _TorchBeforeExtension())

# Public name -> the module that defines it (imported on first access).
_LAZY = {
    **dict.fromkeys(
        ("Batch", "ColorJitter", "CropGroup", "MultiCropLoader", "MultiCropRecipe", "create_recipe"), "trex.data"
    ),
    **dict.fromkeys(
        ("PrototypeHead", "PrototypeMemory", "Projector", "TReX", "prototype_logits", "prototype_loss"), "trex.models"
    ),
    "normalize": "trex.ops",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value: Any = importlib.import_module("trex._trex").__version__
    elif name in _LAZY:
        _import_torch()
        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        return _submodule(__name__, name)  # trex.ops, trex.train, ... (AttributeError if none)
    globals()[name] = value  # later accesses skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "Batch",
    "ColorJitter",
    "CropGroup",
    "DecodeError",
    "MemoryBankError",
    "MultiCropLoader",
    "MultiCropRecipe",
    "PrototypeHead",
    "PrototypeMemory",
    "Projector",
    "SkippedFileWarning",
    "TReX",
    "TrexError",
    "UnreadableFilesError",
    "__version__",
    "create_recipe",
    "normalize",
    "ops",
    "prototype_logits",
    "prototype_loss",
]
