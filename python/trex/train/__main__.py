"""``python -m trex.train ...`` = ``trex train ...`` (also what ``torchrun -m trex.train`` runs)."""

import sys

from trex.train.command import main

sys.exit(main())
