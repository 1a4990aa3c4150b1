"""`trex train`: train a backbone with t-ReX, t-ReX* or the supervised baseline.

The command is defined in :mod:`trex.train.command`, next to what it runs, because
``python -m trex.train`` (what ``torchrun -m trex.train`` runs) runs it too and nothing in
:mod:`trex.train` imports :mod:`trex.cli`.
"""

from trex.train.command import HELP, NAME, add_arguments, run

__all__ = ["HELP", "NAME", "add_arguments", "run"]
