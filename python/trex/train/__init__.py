"""Training: `trex train` (also ``python -m trex train``, what torchrun runs) and its parts.

``trex.train.run(config)`` trains as a :class:`TrainConfig` says; :func:`load_backbone` reads the
``backbone.pt`` a run writes, for transfer evaluation::

    from trex.train import make_config, run, load_backbone
    result = run(make_config(data="/data/imagenet", recipe="trex-star", epochs=10))
    backbone, info = load_backbone(result["backbone"])   # info: arch, feature_dim, classes, ...

The names are imported on first use (see :mod:`trex._lazy`): ``trex train --help`` reads
``trex.train.config`` without torch.
"""

from typing import TYPE_CHECKING

from trex._lazy import lazy_exports

if TYPE_CHECKING:
    from trex.train.backbones import ARCHS, SmallResNet, create_backbone
    from trex.train.checkpoint import load_backbone
    from trex.train.config import TrainConfig, add_arguments, config_from_args, make_config
    from trex.train.errors import NonFiniteLossError, TrainConfigError
    from trex.train.run import run

# ``run`` is the function, not the submodule trex.train.run of the same name (lazy_exports keeps
# it so even after that submodule is imported).
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ARCHS": "trex.train.backbones",
        "SmallResNet": "trex.train.backbones",
        "create_backbone": "trex.train.backbones",
        "load_backbone": "trex.train.checkpoint",
        "TrainConfig": "trex.train.config",
        "add_arguments": "trex.train.config",
        "config_from_args": "trex.train.config",
        "make_config": "trex.train.config",
        "NonFiniteLossError": "trex.train.errors",
        "TrainConfigError": "trex.train.errors",
        "run": "trex.train.run",
    },
    globals(),
)

__all__ = [
    "ARCHS",
    "NonFiniteLossError",
    "SmallResNet",
    "TrainConfig",
    "TrainConfigError",
    "add_arguments",
    "config_from_args",
    "create_backbone",
    "load_backbone",
    "make_config",
    "run",
]
