"""Transfer evaluation (docs/method.md, "Transfer protocol"): frozen-backbone features, a
linear probe per data set with its regularisation chosen on held-out training data, an optional
weighted kNN, and the mean log-odds over data sets. The command is `trex transfer`."""

from trex.transfer.backbone import load_frozen_backbone
from trex.transfer.builtin import BUILTIN_DATASETS, builtin_dataset_root, prepare_digits_folder, resolve_dataset_specs
from trex.transfer.datasets import TransferDataset, load_dataset, parse_dataset_arg
from trex.transfer.errors import TransferError
from trex.transfer.evaluate import TransferOptions, evaluate_transfer
from trex.transfer.features import default_cache_dir, extract
from trex.transfer.knn import knn_predict, knn_top1
from trex.transfer.probe import DEFAULT_C_GRID, ProbeResult, holdout_split, linear_probe, select_c
from trex.transfer.report import format_table, plot_bars, write_json
from trex.transfer.scores import log_odds, mean_log_odds

__all__ = [
    "BUILTIN_DATASETS",
    "DEFAULT_C_GRID",
    "ProbeResult",
    "TransferDataset",
    "TransferError",
    "TransferOptions",
    "builtin_dataset_root",
    "default_cache_dir",
    "evaluate_transfer",
    "extract",
    "format_table",
    "holdout_split",
    "knn_predict",
    "knn_top1",
    "linear_probe",
    "load_dataset",
    "load_frozen_backbone",
    "log_odds",
    "mean_log_odds",
    "parse_dataset_arg",
    "plot_bars",
    "prepare_digits_folder",
    "resolve_dataset_specs",
    "select_c",
    "write_json",
]
