"""``python -m trex ...`` = ``trex ...``; ``torchrun --nproc_per_node N -m trex train [flags]`` runs
one training process per rank."""

import sys

from trex.cli.main import main

sys.exit(main())
