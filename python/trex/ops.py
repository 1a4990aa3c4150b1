"""Single image operations with explicit parameters.

Images are ``torch.uint8`` tensors of shape [H, W, 3] (RGB, values 0-255) on the CPU.
"""

from __future__ import annotations

import enum
import operator
import os
from collections.abc import Sequence
from typing import Literal

import torch

from trex import _trex
from trex.constants import MAX_IMAGE_PIXELS


def decode(data: bytes | bytearray | memoryview, *, max_pixels: int | None = MAX_IMAGE_PIXELS) -> torch.Tensor:
    """Decodes a JPEG or PNG image.

    Baseline and progressive JPEG (grayscale and CMYK/YCCK converted to RGB, EXIF orientation
    applied) and PNG (gray, RGB, RGBA, palette; alpha dropped, 16-bit reduced to 8).

    Args:
        data: the encoded file's bytes.
        max_pixels: refuse images with more pixels than this before decoding (Pillow's default);
            ``None`` for no limit.

    Returns:
        uint8 tensor [H, W, 3], RGB, on the CPU.

    Raises:
        trex.DecodeError: empty, truncated, corrupt or non-image input, or too many pixels.
    """
    if not isinstance(data, bytes):
        data = bytes(data)
    return _trex.decode_image(data, max_pixels=max_pixels)


def decode_file(path: str | os.PathLike[str], *, max_pixels: int | None = MAX_IMAGE_PIXELS) -> torch.Tensor:
    """Reads and decodes an image file; see :func:`decode`. Errors name the file.

    Raises:
        FileNotFoundError: no such file.
        trex.DecodeError: the file is not a decodable image.
    """
    return _trex.decode_image_file(os.fspath(path), max_pixels=max_pixels)


Interpolation = Literal["nearest", "bilinear", "bicubic"]


def _as_hwc_uint8(img: object, name: str = "img") -> torch.Tensor:
    """Checks that ``img`` is a uint8 [H, W, 3] CPU tensor and returns it contiguous."""
    if not isinstance(img, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(img).__name__}")
    if img.dtype != torch.uint8:
        raise TypeError(f"{name} must be a uint8 tensor, got dtype {img.dtype}")
    if img.device.type != "cpu":
        raise ValueError(f"{name} must be on the CPU, got device {img.device}")
    if img.dim() != 3 or img.shape[2] != 3 or img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"{name} must have shape [H, W, 3] with H, W > 0, got {list(img.shape)}")
    return img.contiguous()


def _interpolation_name(interpolation: object) -> str:
    # torchvision's InterpolationMode (an Enum whose values are these names) is accepted too.
    if isinstance(interpolation, enum.Enum):
        interpolation = interpolation.value
    if not isinstance(interpolation, str):
        raise TypeError(
            "interpolation must be one of 'nearest', 'bilinear', 'bicubic', "
            f"got {type(interpolation).__name__}"
        )
    return interpolation


def _output_size(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, bool):
        raise TypeError("size must be an int or a pair (h, w) of ints, got bool")
    if isinstance(size, Sequence) and not isinstance(size, str):
        if len(size) != 2:
            raise ValueError(f"size must be an int or a pair (h, w), got a sequence of length {len(size)}")
        h, w = (operator.index(v) for v in size)
    else:
        try:
            h = w = operator.index(size)  # type: ignore[arg-type]
        except TypeError:
            raise TypeError(f"size must be an int or a pair (h, w) of ints, got {type(size).__name__}") from None
    if h <= 0 or w <= 0:
        raise ValueError(f"size must be positive, got ({h}, {w})")
    return h, w


def resized_crop(
    img: torch.Tensor,
    top: int,
    left: int,
    height: int,
    width: int,
    size: int | Sequence[int],
    *,
    interpolation: Interpolation = "bicubic",
) -> torch.Tensor:
    """Crops a rectangle out of an image and resizes it, as torchvision does on a PIL image.

    Bit-exact with ``torchvision.transforms.v2.functional.resized_crop`` applied to the PIL image
    (Pillow's crop, then ``Image.resize`` with antialiasing: the filter support widens with the
    downscale factor), for Pillow >= 13. Unlike that function, an int ``size`` means a square
    output, as in ``RandomResizedCrop(size)``, not a resize of the shorter side.

    Args:
        img: uint8 tensor [H, W, 3], RGB, on the CPU (made contiguous if it is not).
        top: first row of the crop, 0 <= top.
        left: first column of the crop, 0 <= left.
        height: rows of the crop, > 0, top + height <= H.
        width: columns of the crop, > 0, left + width <= W.
        size: output size, an int for a square or a pair (h, w).
        interpolation: "bicubic" (Keys, a = -0.5), "bilinear" or "nearest"; torchvision's
            ``InterpolationMode`` members are accepted too.

    Returns:
        A new uint8 tensor [h, w, 3], RGB, on the CPU.

    Raises:
        TypeError: ``img`` is not a uint8 tensor, or an argument has the wrong type.
        ValueError: ``img`` is not [H, W, 3] on the CPU, the crop is empty or leaves the image,
            the size is not positive, or the interpolation is unknown.
    """
    img = _as_hwc_uint8(img)
    out_h, out_w = _output_size(size)
    box = [operator.index(v) for v in (top, left, height, width)]
    return _trex.resized_crop(img, *box, out_h, out_w, interpolation=_interpolation_name(interpolation))


def hflip(img: torch.Tensor) -> torch.Tensor:
    """Mirrors an image left to right (torchvision's ``hflip``).

    Args:
        img: uint8 tensor [H, W, 3], RGB, on the CPU.

    Returns:
        A new uint8 tensor [H, W, 3], RGB, on the CPU.

    Raises:
        TypeError: ``img`` is not a uint8 tensor.
        ValueError: ``img`` is not [H, W, 3] on the CPU.
    """
    return _trex.hflip(_as_hwc_uint8(img))


__all__ = ["Interpolation", "decode", "decode_file", "hflip", "resized_crop"]
