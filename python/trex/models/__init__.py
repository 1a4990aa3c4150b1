"""t-ReX's model parts: the projector, the prototype memory and head, and the whole model.

The names are imported on first use (see :mod:`trex._lazy`): the defaults they take
(:mod:`trex.defaults`) are read without torch.
"""

from typing import TYPE_CHECKING

from trex._lazy import lazy_exports

if TYPE_CHECKING:
    from trex.models.head import PrototypeHead
    from trex.models.memory import PrototypeMemory, prototype_logits, prototype_loss
    from trex.models.model import TReX
    from trex.models.projector import Projector

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "PrototypeHead": "trex.models.head",
        "PrototypeMemory": "trex.models.memory",
        "prototype_logits": "trex.models.memory",
        "prototype_loss": "trex.models.memory",
        "TReX": "trex.models.model",
        "Projector": "trex.models.projector",
    },
    globals(),
)

__all__ = ["PrototypeHead", "PrototypeMemory", "Projector", "TReX", "prototype_logits", "prototype_loss"]
