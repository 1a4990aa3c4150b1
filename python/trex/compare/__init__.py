"""`trex compare`: baseline, t-ReX, t-ReX* and ablations trained on the built-in data with several
seeds, each evaluated by the transfer protocol; the trade-off table and plot."""

from trex.compare.report import markdown, scatter, summarise, write_outputs
from trex.compare.runner import Budget, finished, train_config, train_or_reuse
from trex.compare.variants import ABLATIONS, RECIPES, VARIANTS, Variant

__all__ = ["ABLATIONS", "Budget", "RECIPES", "VARIANTS", "Variant", "finished", "markdown", "scatter",
           "summarise", "train_config", "train_or_reuse", "write_outputs"]
