"""The data of a run: the ImageFolder train/val trees (or the built-in Fashion-MNIST one), checked
up front so that a wrong folder stops the run with one clear line, and the loaders built on them."""

from __future__ import annotations

import logging
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import trex
from trex.data.folder import first_per_class
from trex.train.config import TrainConfig
from trex.train.distributed import Dist, barrier
from trex.train.errors import TrainConfigError

Samples = list[tuple[str, int]]
log = logging.getLogger("trex.train")


@dataclass
class DataSplits:
    """The checked train and validation samples and the class names."""

    train_root: Path
    val_root: Path
    train: Samples
    val: Samples
    classes: list[str]


def builtin_root(dist: Dist) -> Path:
    """The built-in data (Fashion-MNIST classes 0-4 as 64 px JPEGs): converted by rank 0 on first use."""
    from trex.data.cache_tree import ForeignFolderError
    from trex.data.fashion_mnist_folder import cache_root, prepare_fashion_mnist_folder

    if dist.is_main:
        target = cache_root() / "fashion-mnist-64"
        if not (target / "COMPLETE").is_file():
            log.info("built-in data: converting Fashion-MNIST to 70,000 JPEGs of 64 px in %s (once)", target)
        try:
            prepare_fashion_mnist_folder()
        except ForeignFolderError as err:
            raise TrainConfigError(f"the built-in run's data folder: {err}") from err
        except FileNotFoundError as err:
            raise TrainConfigError(f"the built-in run needs Fashion-MNIST: {err}") from err
    barrier()
    return prepare_fashion_mnist_folder() / "seen"


def scan(root: Path, what: str) -> tuple[Samples, list[str]]:
    """(samples, classes) of an ImageFolder tree, with errors that say what to do."""
    from trex.data.folder import BrokenLinkError, scan_image_folder

    try:
        return scan_image_folder(root)
    except BrokenLinkError as err:
        raise TrainConfigError(f"{what} folder: {err}") from err
    except (FileNotFoundError, NotADirectoryError) as err:
        raise TrainConfigError(
            f"{what} folder: {err}; expected {root}/<class name>/<image files> (an ImageFolder tree)"
        ) from err
    except ValueError as err:
        raise TrainConfigError(
            f"{what} folder: {err}; add images (.jpg/.jpeg/.png) or remove that class folder"
        ) from err


def check_readable(samples: Samples, classes: list[str], root: Path, threads: int) -> None:
    """Every class must hold at least one image trex can decode (tries files in order until one
    decodes; costs one decode per class in the common case).

    Raises:
        TrainConfigError: a class folder whose files all fail to decode.
    """
    by_class: dict[int, list[str]] = defaultdict(list)
    for path, label in samples:
        by_class[label].append(path)

    def readable(label: int) -> tuple[int, str | None]:
        error = None
        for path in by_class[label]:
            try:
                trex.ops.decode_file(path)
                return label, None
            except (trex.DecodeError, OSError) as err:
                error = str(err)
        return label, error

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for label, error in pool.map(readable, sorted(by_class)):
            if error is not None:
                raise TrainConfigError(
                    f"{root / classes[label]}: class folder holds no readable image "
                    f"({len(by_class[label])} files; last error: {error}); fix or remove it"
                )


def load_splits(cfg: TrainConfig, dist: Dist, threads: int) -> DataSplits:
    """Finds, scans and checks the train and validation folders of ``cfg``.

    Raises:
        TrainConfigError: a missing or empty folder, a class folder without a readable image, or
            validation classes that differ from the training classes.
    """
    root = builtin_root(dist) if cfg.builtin else Path(cfg.data)
    if not cfg.builtin and not root.is_dir():
        raise TrainConfigError(f"--data {root}: no such folder; expected an ImageFolder root with train/ and val/")
    train_root = root / "train"
    val_root = Path(cfg.val) if cfg.val is not None else root / "val"
    if not cfg.builtin and not train_root.is_dir():
        raise TrainConfigError(
            f"--data {root}: no train/ sub-folder; expected {root}/train/<class>/<images> "
            f"and {root}/val/<class>/<images>"
        )
    if not val_root.is_dir():
        raise TrainConfigError(f"no validation folder {val_root}; create it or pass --val DIR")
    train, classes = scan(train_root, "training")
    val, val_classes = scan(val_root, "validation")
    if val_classes != classes:
        missing = sorted(set(classes) ^ set(val_classes))[:5]
        raise TrainConfigError(
            f"{val_root}: validation classes differ from the training classes in {train_root} "
            f"(e.g. {', '.join(missing)}); both need the same class folders"
        )
    train = first_per_class(train, cfg.train_per_class)
    val = first_per_class(val, cfg.val_per_class)
    if cfg.on_error == "raise":
        check_readable(train, classes, train_root, threads)
    return DataSplits(train_root, val_root, train, val, classes)


def create_train_loader(
    cfg: TrainConfig, splits: DataSplits, dist: Dist, threads: int, pin_memory: bool
) -> trex.MultiCropLoader:
    """The multi-crop loader over this rank's shard of the training samples (uint8 output), cutting
    the crops of ``cfg.crop_recipe`` (``--crops``, else the recipe's)."""
    return trex.MultiCropLoader(
        splits.train,
        cfg.batch_size,
        cfg.crop_recipe,
        seed=cfg.seed,
        shuffle=True,
        drop_last=True,
        num_threads=threads,
        prefetch=2,
        rank=dist.rank,
        world_size=dist.world_size,
        dtype="uint8",
        pin_memory=pin_memory,
        on_error=cfg.on_error,
        global_size=cfg.global_size,
        local_size=cfg.local_size,
    )


__all__ = [
    "DataSplits",
    "builtin_root",
    "check_readable",
    "create_train_loader",
    "first_per_class",
    "load_splits",
    "scan",
]
