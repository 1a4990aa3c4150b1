"""Single image operations with explicit parameters.

Images are ``torch.uint8`` tensors of shape [H, W, 3] (RGB, values 0-255) on the CPU.
"""

from __future__ import annotations

import enum
import math
import numbers
import operator
import os
from collections.abc import Iterable, Sequence
from typing import Literal, SupportsFloat, cast

import torch

from trex import _trex
from trex.constants import IMAGENET_MEAN, IMAGENET_STD, MAX_IMAGE_PIXELS, MAX_OUTPUT_PIXELS

Interpolation = Literal["nearest", "bilinear", "bicubic"]


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
        TypeError: ``data`` is not a bytes-like object (an int, a str, ...).
        trex.DecodeError: empty, truncated, corrupt or non-image input, or too many pixels.
    """
    if not isinstance(data, bytes):
        # Only objects that export bytes (buffer protocol): bytes(5) would be five zero bytes.
        try:
            data = memoryview(data).tobytes()
        except TypeError:
            raise TypeError(f"data must be bytes, bytearray or memoryview, got {type(data).__name__}") from None
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
        IsADirectoryError: a directory.
        trex.DecodeError: the file is not a decodable image: not a regular file (a FIFO, a device,
            refused without reading), larger than ``trex.constants.MAX_FILE_BYTES`` (refused
            before reading), or without a JPEG/PNG signature in its first bytes (refused before
            the rest is read).
    """
    return _trex.decode_image_file(os.fspath(path), max_pixels=max_pixels)


def normalize(
    images: torch.Tensor,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """uint8 images to normalised floats, on the images' own device (run it on the GPU).

    Computes ``(x / 255 - mean) / std`` in float32 in that order, with true divisions on every
    device, so the result is bit-identical to the loader's ``dtype="float32"`` output on the CPU
    (on a GPU too); then casts to ``dtype``.

    Args:
        images: uint8 [..., 3, H, W] (values 0-255), any device.
        mean, std: per channel.
        dtype: result dtype (float32, or bfloat16/float16 for mixed precision).

    Returns:
        [..., 3, H, W] tensor of ``dtype`` on the same device.

    Raises:
        ValueError: not uint8 [..., 3, H, W] images, or ``mean``/``std`` not three finite
            numbers with every ``std`` > 0.
    """
    mean, std = _channel_stats("mean", mean, positive=False), _channel_stats("std", std, positive=True)
    if images.dtype != torch.uint8:
        raise ValueError(f"normalize expects uint8 images, got {images.dtype}")
    if images.dim() < 3 or images.shape[-3] != 3:
        raise ValueError(f"normalize expects [..., 3, H, W] images, got shape {tuple(images.shape)}")
    m = torch.tensor(mean, dtype=torch.float32, device=images.device).view(3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=images.device).view(3, 1, 1)
    # 255 as a tensor on the device, not a Python number: CUDA's division by a scalar multiplies
    # by its reciprocal, which differs from x / 255 in the last bit for some x.
    full_scale = torch.full((), 255.0, dtype=torch.float32, device=images.device)  # a fill, no copy
    out = images.to(torch.float32).div_(full_scale).sub_(m).div_(s)
    return out if dtype == torch.float32 else out.to(dtype)


def _channel_stats(name: str, values: object, *, positive: bool) -> tuple[float, float, float]:
    try:
        out = tuple(float(v) for v in cast(Iterable[SupportsFloat], values))  # not iterable: TypeError
    except TypeError:
        raise TypeError(f"{name} must be 3 real numbers, got {values!r}") from None
    if len(out) != 3:
        raise ValueError(f"{name} must hold 3 values (one per channel), got {len(out)}")
    if not all(math.isfinite(v) and (v > 0 or not positive) for v in out):
        raise ValueError(f"{name} {out} must be finite{' and > 0' if positive else ''}")
    return out[0], out[1], out[2]


def _image(img: object, op: str) -> torch.Tensor:
    """Checks that ``img`` is a uint8 [H, W, 3] CPU tensor and returns it contiguous."""
    if not isinstance(img, torch.Tensor):
        raise TypeError(f"{op}: img must be a torch.Tensor (uint8 [H, W, 3]), got {type(img).__name__}")
    if img.dtype != torch.uint8:
        raise TypeError(f"{op}: img must have dtype torch.uint8, got {img.dtype}")
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"{op}: img must have shape [H, W, 3] (RGB, channels last), got {list(img.shape)}")
    if img.device.type != "cpu":
        raise ValueError(f"{op}: img must be on the CPU, got device {img.device}")
    return img.contiguous()


def _real(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    return float(value)


def adjust_brightness(img: torch.Tensor, factor: float) -> torch.Tensor:
    """Adjusts brightness as ``torchvision.transforms.v2.functional.adjust_brightness`` on a PIL image.

    Pillow's ``ImageEnhance.Brightness``: every value becomes ``factor * value`` computed in C
    float, truncated toward zero and clipped to 0-255. Bit-exact with torchvision + Pillow.

    Args:
        img: uint8 tensor [H, W, 3], RGB, values 0-255, on the CPU (made contiguous if needed).
        factor: 0 gives black, 1 the original image; any finite value >= 0.

    Returns:
        A new uint8 tensor [H, W, 3] on the CPU.

    Raises:
        TypeError: ``img`` is not a uint8 tensor, or ``factor`` is not a number.
        ValueError: wrong shape or device, or ``factor`` negative or not finite.
    """
    return _trex.adjust_brightness(_image(img, "adjust_brightness"), _real(factor, "brightness factor"))


def adjust_contrast(img: torch.Tensor, factor: float) -> torch.Tensor:
    """Adjusts contrast as ``torchvision.transforms.v2.functional.adjust_contrast`` on a PIL image.

    Pillow's ``ImageEnhance.Contrast``: a blend with the grey level ``int(mean(L) + 0.5)``, where L
    is Pillow's luma (``convert("L")``), in C float, truncated and clipped. Bit-exact.

    Args:
        img: uint8 tensor [H, W, 3], RGB, values 0-255, on the CPU.
        factor: 0 gives a flat grey image, 1 the original; any finite value >= 0.

    Returns:
        A new uint8 tensor [H, W, 3] on the CPU.

    Raises:
        TypeError: ``img`` is not a uint8 tensor, or ``factor`` is not a number.
        ValueError: wrong shape or device, or ``factor`` negative or not finite.
    """
    return _trex.adjust_contrast(_image(img, "adjust_contrast"), _real(factor, "contrast factor"))


def adjust_saturation(img: torch.Tensor, factor: float) -> torch.Tensor:
    """Adjusts saturation as ``torchvision.transforms.v2.functional.adjust_saturation`` on a PIL image.

    Pillow's ``ImageEnhance.Color``: a blend of each pixel with its luma (``convert("L")``), in C
    float, truncated and clipped. Bit-exact.

    Args:
        img: uint8 tensor [H, W, 3], RGB, values 0-255, on the CPU.
        factor: 0 gives the grayscale image, 1 the original; any finite value >= 0.

    Returns:
        A new uint8 tensor [H, W, 3] on the CPU.

    Raises:
        TypeError: ``img`` is not a uint8 tensor, or ``factor`` is not a number.
        ValueError: wrong shape or device, or ``factor`` negative or not finite.
    """
    return _trex.adjust_saturation(_image(img, "adjust_saturation"), _real(factor, "saturation factor"))


def adjust_hue(img: torch.Tensor, hue_factor: float) -> torch.Tensor:
    """Shifts hue as ``torchvision.transforms.v2.functional.adjust_hue`` on a PIL image.

    Pillow's uint8 HSV conversion, the hue byte shifted by ``uint8(int(hue_factor * 255))`` with
    wrap-around, and back to RGB. Bit-exact with torchvision + Pillow. Like the reference, this is
    not exactly the identity at ``hue_factor=0`` (uint8 HSV is lossy).

    Args:
        img: uint8 tensor [H, W, 3], RGB, values 0-255, on the CPU.
        hue_factor: shift in turns of the hue circle, in [-0.5, 0.5].

    Returns:
        A new uint8 tensor [H, W, 3] on the CPU.

    Raises:
        TypeError: ``img`` is not a uint8 tensor, or ``hue_factor`` is not a number.
        ValueError: wrong shape or device, or ``hue_factor`` outside [-0.5, 0.5].
    """
    return _trex.adjust_hue(_image(img, "adjust_hue"), _real(hue_factor, "hue_factor"))


def to_grayscale(img: torch.Tensor) -> torch.Tensor:
    """Converts to grayscale as ``torchvision.transforms.v2.functional.rgb_to_grayscale(img, 3)`` on a PIL image.

    Pillow's ``convert("L")`` (ITU-R 601-2 luma in 16-bit fixed point), replicated to 3 channels.
    Bit-exact.

    Args:
        img: uint8 tensor [H, W, 3], RGB, values 0-255, on the CPU.

    Returns:
        A new uint8 tensor [H, W, 3] on the CPU with three equal channels.

    Raises:
        TypeError: ``img`` is not a uint8 tensor.
        ValueError: wrong shape or device.
    """
    return _trex.to_grayscale(_image(img, "to_grayscale"))


def solarize(img: torch.Tensor, threshold: float = 128) -> torch.Tensor:
    """Solarizes as ``torchvision.transforms.v2.functional.solarize`` on a PIL image.

    Every value ``>= threshold`` becomes ``255 - value``. Bit-exact.

    Args:
        img: uint8 tensor [H, W, 3], RGB, values 0-255, on the CPU.
        threshold: in [0, 255]; a fractional threshold acts as its ceiling (values are integers).

    Returns:
        A new uint8 tensor [H, W, 3] on the CPU.

    Raises:
        TypeError: ``img`` is not a uint8 tensor, or ``threshold`` is not a number.
        ValueError: wrong shape or device, or ``threshold`` outside [0, 255].
    """
    t = _real(threshold, "threshold")
    if not 0 <= t <= 255:
        raise ValueError(f"threshold must be in [0, 255], got {threshold}")
    return _trex.solarize(_image(img, "solarize"), math.ceil(t))


def gaussian_blur(img: torch.Tensor, sigma: float, kernel_size: int | None = None) -> torch.Tensor:
    """Blurs as ``torchvision.transforms.v2.functional.gaussian_blur(img, [k, k], [sigma, sigma])`` on a PIL image.

    A separable Gaussian kernel (torchvision's, normalised over ``kernel_size`` taps) with reflect
    padding, computed in float32 and rounded half to even, as torchvision does after converting
    the PIL image to a tensor. Equal to the reference except for rare values lying within ~1e-5 of
    a half-integer, which may differ by one grey level.

    Args:
        img: uint8 tensor [H, W, 3], RGB, values 0-255, on the CPU.
        sigma: standard deviation of the Gaussian in pixels, > 0.
        kernel_size: odd number of taps; default ``2 * ceil(3 * sigma) + 1``. ``kernel_size // 2``
            must be smaller than the image's height and width (reflect padding).

    Returns:
        A new uint8 tensor [H, W, 3] on the CPU.

    Raises:
        TypeError: ``img`` is not a uint8 tensor, or ``sigma``/``kernel_size`` has the wrong type.
        ValueError: wrong shape or device, ``sigma <= 0``, even or too large ``kernel_size``.
    """
    s = _real(sigma, "sigma")
    if kernel_size is not None:
        if isinstance(kernel_size, bool) or not isinstance(kernel_size, numbers.Integral):
            raise TypeError(f"kernel_size must be an odd int or None, got {type(kernel_size).__name__}")
        if kernel_size <= 0 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
        kernel_size = int(kernel_size)
    return _trex.gaussian_blur(_image(img, "gaussian_blur"), s, kernel_size)


def _interpolation_name(interpolation: object) -> str:
    # torchvision's InterpolationMode (an Enum whose values are these names) is accepted too.
    if isinstance(interpolation, enum.Enum):
        interpolation = interpolation.value
    if not isinstance(interpolation, str):
        raise TypeError(
            f"interpolation must be one of {', '.join(map(repr, _trex.INTERPOLATIONS))}, "
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
            h = w = operator.index(size)
        except TypeError:
            raise TypeError(f"size must be an int or a pair (h, w) of ints, got {type(size).__name__}") from None
    if h <= 0 or w <= 0:
        raise ValueError(f"size must be positive, got ({h}, {w})")
    if h * w > MAX_OUTPUT_PIXELS:
        raise ValueError(
            f"size ({h}, {w}) is {h * w} pixels, over the limit of {MAX_OUTPUT_PIXELS} (MAX_OUTPUT_PIXELS)"
        )
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

    ``torchvision.transforms.v2.functional.resized_crop`` applied to the PIL image (Pillow's crop,
    then ``Image.resize`` with antialiasing: the filter support widens with the downscale factor),
    with the same taps, pass order (Pillow >= 13) and rounding, but 14-bit instead of 22-bit filter
    coefficients, as Pillow-SIMD, for speed: a few values in a thousand differ by one level. Unlike
    that function, an int ``size`` means a square
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
            the size is not positive or has more than ``trex.constants.MAX_OUTPUT_PIXELS`` pixels
            (refused before any allocation), or the interpolation is unknown.
    """
    img = _image(img, "resized_crop")
    out_h, out_w = _output_size(size)
    box = [operator.index(v) for v in (top, left, height, width)]
    if any(abs(v) >= 2**63 for v in box):  # past int64: the extension could not even take it
        raise ValueError(f"crop {box[3]}x{box[2]} at ({box[1]},{box[0]}) exceeds {img.shape[1]}x{img.shape[0]} image")
    top, left, height, width = box
    return _trex.resized_crop(
        img, top, left, height, width, out_h, out_w, interpolation=_interpolation_name(interpolation)
    )


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
    return _trex.hflip(_image(img, "hflip"))


__all__ = [
    "Interpolation",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_hue",
    "adjust_saturation",
    "decode",
    "decode_file",
    "gaussian_blur",
    "hflip",
    "normalize",
    "resized_crop",
    "solarize",
    "to_grayscale",
]
