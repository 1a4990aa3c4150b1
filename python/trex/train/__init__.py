"""Training: `trex train` (also ``python -m trex.train``) and its parts.

``trex.train.run(config)`` trains as a :class:`TrainConfig` says; :func:`load_backbone` reads the
``backbone.pt`` a run writes, for transfer evaluation::

    from trex.train import make_config, run, load_backbone
    result = run(make_config(data="/data/imagenet", recipe="trex-star", epochs=10))
    backbone, info = load_backbone(result["backbone"])   # info: arch, feature_dim, classes, ...
"""

from trex.train.backbones import ARCHS, SmallResNet, create_backbone
from trex.train.checkpoint import load_backbone
from trex.train.config import TrainConfig, add_arguments, config_from_args, make_config
from trex.train.errors import NonFiniteLossError, TrainConfigError
from trex.train.run import run

__all__ = ["ARCHS", "NonFiniteLossError", "SmallResNet", "TrainConfig", "TrainConfigError", "add_arguments",
           "config_from_args", "create_backbone", "load_backbone", "make_config", "run"]
