"""Single image operations with explicit parameters.

Images are ``torch.uint8`` tensors of shape [H, W, 3] (RGB, values 0-255) on the CPU.
"""

from __future__ import annotations

import os

import torch

from trex import _trex
from trex.constants import IMAGENET_MEAN, IMAGENET_STD, MAX_IMAGE_PIXELS


def decode(
    data: bytes | bytearray | memoryview,
    *,
    max_pixels: int | None = MAX_IMAGE_PIXELS,
    name: str | None = None,
) -> torch.Tensor:
    """Decodes a JPEG or PNG image, recognised by its content (not by a file name).

    Baseline and progressive JPEG (grayscale and CMYK/YCCK converted to RGB as Pillow does) and
    PNG (gray, gray+alpha, RGB, RGBA, palette with or without transparency; alpha dropped,
    16-bit reduced to 8 by keeping the high byte). The EXIF orientation (JPEG APP1, PNG eXIf) is
    applied, as ``PIL.ImageOps.exif_transpose`` does. The pixels equal Pillow's
    ``ImageOps.exif_transpose(Image.open(f)).convert("RGB")``, except 16-bit grayscale PNG,
    which Pillow clips instead of scaling.

    Args:
        data: the encoded file's bytes.
        max_pixels: refuse images with more pixels than this, before any pixel memory is
            allocated (default: Pillow's ``Image.MAX_IMAGE_PIXELS``); ``None`` for no limit.
        name: what to call the input in error messages (a file name, say).

    Returns:
        uint8 tensor [H, W, 3], RGB, values 0-255, on the CPU.

    Raises:
        trex.DecodeError: empty, truncated, corrupt or non-image input, or too many pixels.
    """
    if not isinstance(data, bytes):
        data = bytes(data)
    return _trex.decode_image(data, max_pixels=max_pixels, name=name)


def decode_file(path: str | os.PathLike[str], *, max_pixels: int | None = MAX_IMAGE_PIXELS) -> torch.Tensor:
    """Reads and decodes an image file; see :func:`decode`. Errors name the file.

    Args:
        path: the image file; its content decides the format, not its extension.
        max_pixels: as in :func:`decode`.

    Returns:
        uint8 tensor [H, W, 3], RGB, values 0-255, on the CPU.

    Raises:
        FileNotFoundError: no such file.
        trex.DecodeError: the file is not a decodable image.
    """
    return _trex.decode_image_file(os.fspath(path), max_pixels=max_pixels)


def normalize(
    images: torch.Tensor,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """uint8 images to normalised floats, on the images' own device (run it on the GPU).

    Computes ``(x / 255 - mean) / std`` in float32 in that order, exactly as the loader's
    ``dtype="float32"`` output does on the CPU, then casts to ``dtype``.

    Args:
        images: uint8 [..., 3, H, W] (values 0-255), any device.
        mean, std: per channel.
        dtype: result dtype (float32, or bfloat16/float16 for mixed precision).

    Returns:
        [..., 3, H, W] tensor of ``dtype`` on the same device.
    """
    if images.dtype != torch.uint8:
        raise ValueError(f"normalize expects uint8 images, got {images.dtype}")
    if images.dim() < 3 or images.shape[-3] != 3:
        raise ValueError(f"normalize expects [..., 3, H, W] images, got shape {tuple(images.shape)}")
    m = torch.tensor(mean, dtype=torch.float32, device=images.device).view(3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=images.device).view(3, 1, 1)
    out = images.to(torch.float32).div_(255.0).sub_(m).div_(s)
    return out if dtype == torch.float32 else out.to(dtype)


__all__ = ["decode", "decode_file", "normalize"]
