"""Multi-crop recipes: which crops are cut from each image and how each one is augmented.

A recipe is a tuple of :class:`CropGroup` s; crops of consecutive groups with the same size are
batched into one tensor. Presets (``create_recipe(name)``) follow the t-ReX paper and DINO.
"""

from __future__ import annotations

import dataclasses
import operator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from trex import _trex
from trex.constants import GLOBAL_CROP_SIZE, LOCAL_CROP_SIZE
from trex.ops import Interpolation

# The fields of `Batch.params` rows, in the order the Rust pipeline writes them (it defines them:
# top, left, height, width, flip, jitter, brightness, contrast, saturation, hue, order0-3,
# grayscale, blur_sigma, solarize).
PARAM_NAMES: tuple[str, ...] = tuple(name for name, _ in _trex.CROP_PARAMS)


@dataclass(frozen=True)
class ColorJitter:
    """torchvision's ColorJitter inside RandomApply(p): factors from [max(0, 1-x), 1+x], hue from
    [-hue, hue], the four operations in a random order each time."""

    p: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.2
    hue: float = 0.1


NO_JITTER = ColorJitter(p=0.0, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0)


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    """A crop size (h, w) of positive integers; an int is a square. Not truncated: 2.5 is refused."""
    try:
        h, w = (v, v) if not isinstance(v, (tuple, list)) else v
        h, w = operator.index(h), operator.index(w)
    except (TypeError, ValueError):
        raise TypeError(f"crop size must be an int or a pair (h, w) of ints, got {v!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"crop size must be positive, got ({h}, {w})")
    return h, w


@dataclass(frozen=True)
class CropGroup:
    """``count`` crops, each RandomResizedCrop(size, scale, ratio) then flip, colour jitter,
    grayscale, Gaussian blur (sigma ~ U(blur_sigma)) and solarize with the given probabilities.

    ``size`` is (height, width) or an int for square crops.
    """

    count: int = 1
    size: tuple[int, int] = (GLOBAL_CROP_SIZE, GLOBAL_CROP_SIZE)
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    interpolation: Interpolation = "bicubic"
    flip_p: float = 0.5
    jitter: ColorJitter = field(default=NO_JITTER)
    grayscale_p: float = 0.0
    blur_p: float = 0.0
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    solarize_p: float = 0.0
    solarize_threshold: int = 128

    if TYPE_CHECKING:  # the constructor type checkers see: it also takes an int size (a square crop),
        # which __post_init__ turns into the (h, w) the field holds; defaults are the fields' above.
        def __init__(
            self,
            count: int = ...,
            size: int | tuple[int, int] = ...,
            scale: tuple[float, float] = ...,
            ratio: tuple[float, float] = ...,
            interpolation: Interpolation = ...,
            flip_p: float = ...,
            jitter: ColorJitter = ...,
            grayscale_p: float = ...,
            blur_p: float = ...,
            blur_sigma: tuple[float, float] = ...,
            solarize_p: float = ...,
            solarize_threshold: int = ...,
        ) -> None: ...

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", _pair(self.size))
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise ValueError(f"crop group count must be an integer >= 1, got {self.count!r}")
        if isinstance(self.solarize_threshold, bool) or not 0 <= operator.index(self.solarize_threshold) <= 255:
            raise ValueError(f"solarize_threshold must be in [0, 255], got {self.solarize_threshold!r}")
        object.__setattr__(self, "scale", tuple(float(x) for x in self.scale))
        object.__setattr__(self, "ratio", tuple(float(x) for x in self.ratio))
        object.__setattr__(self, "blur_sigma", tuple(float(x) for x in self.blur_sigma))
        if self.interpolation not in _trex.INTERPOLATIONS:
            raise ValueError(
                f"interpolation must be one of {', '.join(map(repr, _trex.INTERPOLATIONS))}, got {self.interpolation!r}"
            )


@dataclass(frozen=True)
class MultiCropRecipe:
    """An ordered tuple of crop groups; the first crop is the global crop."""

    groups: tuple[CropGroup, ...]
    name: str = "custom"

    def __post_init__(self) -> None:
        object.__setattr__(self, "groups", tuple(self.groups))
        if not self.groups:
            raise ValueError("a recipe needs at least one crop group")

    @property
    def num_crops(self) -> int:
        return sum(g.count for g in self.groups)

    @property
    def outputs(self) -> list[tuple[tuple[int, int], int]]:
        """((height, width), crops) of each output tensor, in order: consecutive groups of the same
        size share one (as the loader batches them)."""
        return [((h, w), n) for h, w, n in _trex.recipe_outputs(self)]

    def resized(
        self, global_size: int | tuple[int, int] | None = None, local_size: int | tuple[int, int] | None = None
    ) -> MultiCropRecipe:
        """The same recipe at other crop sizes, in the same proportions.

        Groups of the first group's size get ``global_size``, the others ``local_size`` (for small
        images, e.g. 64 / 28); None keeps a size. Every size-dependent parameter scales with its
        crop's side, so that a resized crop looks like the original one shrunk: the blur sigma,
        in pixels, is multiplied by new side / old side (the geometric mean of the height and
        width ratios for non-square sizes). The crop scales and ratios are fractions of the image,
        the colour parameters have no size, so they stay. At 64 / 28 px the t-ReX recipe's sigma
        range (0.1, 2.0) at 224 / 96 px becomes (0.029, 0.57) / (0.029, 0.58).
        """
        first = self.groups[0].size
        groups = []
        for g in self.groups:
            new = global_size if g.size == first else local_size
            groups.append(g if new is None else _scale_group(g, _pair(new)))
        return dataclasses.replace(self, groups=tuple(groups))


def _scale_group(group: CropGroup, size: tuple[int, int]) -> CropGroup:
    """``group`` at output ``size``, its blur sigma scaled by the ratio of the sides."""
    factor = ((size[0] / group.size[0]) * (size[1] / group.size[1])) ** 0.5
    sigma = (group.blur_sigma[0] * factor, group.blur_sigma[1] * factor)
    return dataclasses.replace(group, size=size, blur_sigma=sigma)


_TREX_JITTER = ColorJitter()


def trex_recipe(
    s: float = 0.25,
    global_size: int = GLOBAL_CROP_SIZE,
    local_size: int = LOCAL_CROP_SIZE,
    local_crops: int = 8,
    name: str = "trex",
) -> MultiCropRecipe:
    """t-ReX multi-crop: 1 global crop at scale (s, 1) and ``local_crops`` at (0.05, s); other sizes
    than the paper's 224 / 96 keep its proportions (see :meth:`MultiCropRecipe.resized`)."""
    common: dict[str, Any] = dict(flip_p=0.5, jitter=_TREX_JITTER, grayscale_p=0.2)
    glob = CropGroup(1, GLOBAL_CROP_SIZE, (s, 1.0), blur_p=0.2, solarize_p=0.2, **common)
    local = CropGroup(local_crops, LOCAL_CROP_SIZE, (0.05, s), blur_p=0.5, **common)
    return MultiCropRecipe((glob, local), name=name).resized(global_size, local_size)


def dino_recipe(
    global_scale: tuple[float, float] = (0.4, 1.0),
    local_scale: tuple[float, float] = (0.05, 0.4),
    global_size: int = GLOBAL_CROP_SIZE,
    local_size: int = LOCAL_CROP_SIZE,
    local_crops: int = 8,
    name: str = "dino",
) -> MultiCropRecipe:
    """DINO's DataAugmentationDINO: two global crops (blur p=1; blur p=0.1 + solarize p=0.2); other
    sizes than 224 / 96 keep its proportions (see :meth:`MultiCropRecipe.resized`)."""
    common: dict[str, Any] = dict(flip_p=0.5, jitter=_TREX_JITTER, grayscale_p=0.2)
    g1 = CropGroup(1, GLOBAL_CROP_SIZE, global_scale, blur_p=1.0, **common)
    g2 = CropGroup(1, GLOBAL_CROP_SIZE, global_scale, blur_p=0.1, solarize_p=0.2, **common)
    local = CropGroup(local_crops, LOCAL_CROP_SIZE, local_scale, blur_p=0.5, **common)
    return MultiCropRecipe((g1, g2, local), name=name).resized(global_size, local_size)


def baseline_recipe(
    global_size: int = GLOBAL_CROP_SIZE, local_size: int | None = None, name: str = "baseline"
) -> MultiCropRecipe:
    """Plain supervised training: one RandomResizedCrop(scale=(0.08, 1)) + flip."""
    return MultiCropRecipe((CropGroup(1, global_size, (0.08, 1.0), flip_p=0.5),), name=name)


PRESETS = {
    "trex": lambda **kw: trex_recipe(s=0.25, name="trex", **kw),
    "trex-star": lambda **kw: trex_recipe(s=0.40, name="trex-star", **kw),
    "dino": lambda **kw: dino_recipe(name="dino", **kw),
    "dino-resnet50": lambda **kw: dino_recipe((0.14, 1.0), (0.05, 0.14), name="dino-resnet50", **kw),
    "baseline": lambda **kw: baseline_recipe(name="baseline", **kw),
}


def create_recipe(
    recipe: str | MultiCropRecipe, *, global_size: int | None = None, local_size: int | None = None
) -> MultiCropRecipe:
    """A preset by name (``trex``, ``trex-star``, ``dino``, ``dino-resnet50``, ``baseline``) or a
    recipe object, optionally with other crop sizes."""
    if isinstance(recipe, MultiCropRecipe):
        return recipe.resized(global_size, local_size)
    if recipe not in PRESETS:
        raise ValueError(f"unknown recipe {recipe!r}; choose one of {sorted(PRESETS)} or pass a MultiCropRecipe")
    kw = {}
    if global_size is not None:
        kw["global_size"] = global_size
    if local_size is not None and recipe != "baseline":
        kw["local_size"] = local_size
    return PRESETS[recipe](**kw)


__all__ = [
    "ColorJitter",
    "CropGroup",
    "MultiCropRecipe",
    "NO_JITTER",
    "PARAM_NAMES",
    "PRESETS",
    "baseline_recipe",
    "create_recipe",
    "dino_recipe",
    "trex_recipe",
]
