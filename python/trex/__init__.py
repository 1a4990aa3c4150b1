"""trex: supervised image classifiers that transfer, after t-ReX (ICLR 2023).

A fast Rust multi-crop pipeline and a prototype memory head for ordinary PyTorch training.
"""

# torch must be imported before the extension: the extension links libtorch without an rpath.
import torch as _torch

from trex.constants import TORCH_VERSION as _TORCH_VERSION

if _torch.__version__.split("+")[0] != _TORCH_VERSION:
    raise ImportError(
        f"trex needs torch {_TORCH_VERSION} (the version its extension was built against), "
        f"but torch {_torch.__version__} is installed; install torch=={_TORCH_VERSION}"
    )

from trex import _trex, ops  # noqa: E402
from trex.data import Batch, ColorJitter, CropGroup, MultiCropLoader, MultiCropRecipe, create_recipe  # noqa: E402
from trex.exceptions import DecodeError, MemoryBankError, SkippedFileWarning, TrexError  # noqa: E402
from trex.models import (  # noqa: E402
    PrototypeHead,
    PrototypeMemory,
    Projector,
    TReX,
    prototype_logits,
    prototype_loss,
)
from trex.ops import normalize  # noqa: E402

__version__: str = _trex.__version__

__all__ = [
    "Batch", "ColorJitter", "CropGroup", "DecodeError", "MemoryBankError", "MultiCropLoader",
    "MultiCropRecipe", "PrototypeHead", "PrototypeMemory", "Projector", "SkippedFileWarning", "TReX",
    "TrexError", "__version__", "create_recipe", "normalize", "ops", "prototype_logits", "prototype_loss",
]
