"""``python -m trex.train ...`` = ``trex train ...`` (also what ``torchrun -m trex.train`` runs)."""

import sys

from trex.cli.main import main

sys.exit(main(["train", *sys.argv[1:]]))
