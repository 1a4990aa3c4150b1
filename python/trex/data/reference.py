"""The reference pipeline trex is measured against: torchvision transforms on PIL images in
DataLoader workers, written as DINO's and t-ReX's public code write it (DataAugmentationDINO:
PIL GaussianBlur with a random radius, RandomSolarize, ToTensor + Normalize per crop)."""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch
from PIL import Image, ImageFilter
from torchvision import transforms as T

from trex.constants import IMAGENET_MEAN, IMAGENET_STD
from trex.data.recipes import CropGroup, MultiCropRecipe

_INTERPOLATION = {
    "nearest": T.InterpolationMode.NEAREST,
    "bilinear": T.InterpolationMode.BILINEAR,
    "bicubic": T.InterpolationMode.BICUBIC,
}


class PILGaussianBlur:
    """DINO's GaussianBlur: PIL's ImageFilter.GaussianBlur with radius ~ U(sigma range), with probability p."""

    def __init__(self, p: float, sigma: tuple[float, float]) -> None:
        self.p, self.sigma = p, sigma

    def __call__(self, img: Image.Image) -> Image.Image:
        if random.random() >= self.p:
            return img
        return img.filter(ImageFilter.GaussianBlur(radius=random.uniform(*self.sigma)))

    def __repr__(self) -> str:
        return f"PILGaussianBlur(p={self.p}, sigma={self.sigma})"


def group_transform(g: CropGroup, mean: Sequence[float], std: Sequence[float], to_tensor: bool = True) -> T.Compose:
    steps: list = [
        T.RandomResizedCrop(g.size, scale=g.scale, ratio=g.ratio, interpolation=_INTERPOLATION[g.interpolation]),
        T.RandomHorizontalFlip(g.flip_p),
    ]
    j = g.jitter
    if j.p > 0:
        steps.append(T.RandomApply([T.ColorJitter(j.brightness, j.contrast, j.saturation, j.hue)], p=j.p))
    if g.grayscale_p > 0:
        steps.append(T.RandomGrayscale(g.grayscale_p))
    if g.blur_p > 0:
        steps.append(PILGaussianBlur(g.blur_p, g.blur_sigma))
    if g.solarize_p > 0:
        steps.append(T.RandomSolarize(g.solarize_threshold, p=g.solarize_p))
    if to_tensor:
        steps += [T.ToTensor(), T.Normalize(mean, std)]
    return T.Compose(steps)


class ReferenceMultiCrop:
    """The recipe as a list of torchvision transforms: image -> list of crop tensors."""

    def __init__(
        self,
        recipe: MultiCropRecipe,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        to_tensor: bool = True,
    ) -> None:
        self.transforms = [group_transform(g, mean, std, to_tensor) for g in recipe.groups for _ in range(g.count)]

    def __call__(self, img: Image.Image) -> list:
        return [t(img) for t in self.transforms]


class ReferenceDataset(torch.utils.data.Dataset):
    """(path, label) samples opened with PIL and cut by a ReferenceMultiCrop."""

    def __init__(self, samples: Sequence[tuple[str, int]], transform: ReferenceMultiCrop) -> None:
        self.samples, self.transform = list(samples), transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        path, label = self.samples[i]
        with open(path, "rb") as f:
            img = Image.open(f).convert("RGB")
        return self.transform(img), label
