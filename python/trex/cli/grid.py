"""`trex grid`: a picture of what the augmentation does, a grid of every crop of a few images."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

import trex
from trex.defaults import DEFAULT_RECIPE

if TYPE_CHECKING:
    from PIL import Image

# torch, Pillow and the recipes are imported where used: `trex --help` imports this module for
# NAME and HELP and must not import torch.

NAME = "grid"
HELP = "save a PNG grid of the multi-crop views of a few images (global crop first in each row)"


def crop_grid(batch: trex.Batch, images: int, pad: int = 4) -> Image.Image:
    """One row per image: its crops left to right at their own sizes, global first.

    Args:
        batch: a uint8 batch from a MultiCropLoader.
        images: rows to draw (at most the batch size).
    """
    import torch
    from PIL import Image

    if batch.groups[0].dtype != torch.uint8:
        raise ValueError("crop_grid needs a uint8 batch (MultiCropLoader(dtype='uint8'))")
    rows = min(images, batch.labels.numel())
    crops = batch.crops
    width = sum(c.shape[-1] for c in crops) + pad * (len(crops) + 1)
    height = max(c.shape[-2] for c in crops)
    canvas = Image.new("RGB", (width, rows * (height + pad) + pad), (255, 255, 255))
    for r in range(rows):
        x = pad
        for c in crops:
            tile = Image.fromarray(c[r].permute(1, 2, 0).contiguous().numpy())
            canvas.paste(tile, (x, pad + r * (height + pad)))
            x += c.shape[-1] + pad
    return canvas


def save_crop_grid(
    source: str | os.PathLike[str] | list[tuple[str, int]],
    path: str | os.PathLike[str],
    recipe: str = DEFAULT_RECIPE,
    images: int = 4,
    seed: int = 0,
    **loader_kw,
) -> Path:
    """Cuts the crops of ``images`` images of ``source`` with ``recipe`` and saves the grid as PNG."""
    loader = trex.MultiCropLoader(source, images, recipe, seed=seed, drop_last=False, **loader_kw)
    batch = next(iter(loader))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    crop_grid(batch, images).save(path)
    return path


def add_arguments(p: argparse.ArgumentParser) -> None:
    from trex.data.recipes import PRESETS

    p.add_argument(
        "--data",
        type=Path,
        default=None,
        help="ImageFolder root; default: ImageNet-sized JPEGs cut from the bundled real photos",
    )
    p.add_argument(
        "--recipe",
        default=DEFAULT_RECIPE,
        choices=sorted(PRESETS),
        help=f"multi-crop recipe (default {DEFAULT_RECIPE})",
    )
    p.add_argument("--images", type=int, default=4, help="rows (images) in the grid (default 4)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--out", type=Path, default=Path("crops.png"), help="PNG to write (default crops.png)")


def run(args: argparse.Namespace) -> int:
    if args.data is None:
        from trex.data.photos import default_cache_dir, make_corpus

        files = make_corpus(default_cache_dir() / "grid-corpus", n=args.images, seed=args.seed)
        source = [(str(f), 0) for f in files]
    else:
        source = args.data
    out = save_crop_grid(source, args.out, args.recipe, args.images, args.seed)
    print(f"wrote {out}")
    return 0
