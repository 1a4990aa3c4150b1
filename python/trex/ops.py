"""Single image operations with explicit parameters.

Images are ``torch.uint8`` tensors of shape [H, W, 3] (RGB, values 0-255) on the CPU.
"""

from __future__ import annotations

import os

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


__all__ = ["decode", "decode_file"]
