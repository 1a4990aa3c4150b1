"""Data: the multi-crop loader, its recipes, and dataset helpers (real photos, Fashion-MNIST)."""

from trex.data.loader import Batch, LoaderSpec, MultiCropLoader
from trex.data.recipes import ColorJitter, CropGroup, MultiCropRecipe, create_recipe

__all__ = ["Batch", "ColorJitter", "CropGroup", "LoaderSpec", "MultiCropLoader", "MultiCropRecipe", "create_recipe"]
