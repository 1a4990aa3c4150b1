"""t-ReX's model parts: the projector, the prototype memory and head, and the whole model."""

from trex.models.head import PrototypeHead
from trex.models.memory import PrototypeMemory, prototype_logits, prototype_loss
from trex.models.model import TReX
from trex.models.projector import Projector

__all__ = ["PrototypeHead", "PrototypeMemory", "Projector", "TReX", "prototype_logits", "prototype_loss"]
