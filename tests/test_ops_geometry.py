"""Crop geometry and resampling (trex.ops.resized_crop, hflip, the RandomResizedCrop sampler)
against torchvision and Pillow on real photos."""

from __future__ import annotations

import functools
import math
import os

import numpy as np
import PIL
import pytest
import skimage
import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image
from scipy.stats import ks_2samp
from torchvision.transforms import InterpolationMode, RandomResizedCrop

import trex
from trex import _trex

PHOTO_DIR = os.path.join(os.path.dirname(skimage.__file__), "data")
PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png"]

# trex resamples as Pillow does (same taps, same pass order as Pillow 13, same rounding between
# the passes) with 14-bit instead of 22-bit coefficients, so that the AVX2 passes multiply 16-bit
# values (as Pillow-SIMD does). A sum within about 0.02 of a half then rounds the other way:
# measured on these photos, 0.08-0.5% of the values differ, by 1 level, at most 2 where both
# passes round the other way. Older Pillow also runs the passes in another order.
PILLOW_13 = tuple(int(p) for p in PIL.__version__.split(".")[:2]) >= (13, 0)
MAX_LEVELS = 2 if PILLOW_13 else 3
# Share of values allowed to differ from Pillow at all, over all the boxes of a test.
MAX_DIFFERING = 0.01 if PILLOW_13 else 0.05

MODES = {
    "bicubic": (InterpolationMode.BICUBIC, Image.Resampling.BICUBIC),
    "bilinear": (InterpolationMode.BILINEAR, Image.Resampling.BILINEAR),
    "nearest": (InterpolationMode.NEAREST, Image.Resampling.NEAREST),
}


def load(name: str) -> tuple[Image.Image, torch.Tensor]:
    pil = Image.open(os.path.join(PHOTO_DIR, name)).convert("RGB")
    return pil, torch.from_numpy(np.array(pil))


@pytest.fixture(scope="module", params=PHOTOS)
def photo(request: pytest.FixtureRequest) -> tuple[Image.Image, torch.Tensor]:
    return load(request.param)


def boxes(width: int, height: int) -> list[tuple[int, int, int, int, tuple[int, int]]]:
    """(top, left, h, w, (out_h, out_w)): downscaling, upscaling, mixed, odd and identity cases."""
    return [
        (0, 0, height, width, (224, 224)),  # whole photo down to 224
        (height // 4, width // 5, height // 2, width // 2, (96, 96)),  # a local crop
        (3, 7, 40, 31, (224, 224)),  # small patch blown up
        (height - 131, width - 97, 131, 97, (61, 223)),  # odd sizes, narrower but wider output
        (10, 20, height - 30, 50, (5, 300)),  # tall strip to a wide band: vertical pass first
        (11, 13, 77, 89, (77, 89)),  # output size == crop size: a plain crop
        (1, 2, height - 3, width - 5, (1, 1)),
        (height // 3, width // 3, 1, 1, (17, 9)),  # a single pixel
        (0, 0, 255, 254, (255, 253)),  # width resampled at nearly scale 1
    ]


def stats(ours: torch.Tensor, ref: np.ndarray) -> tuple[float, float, int]:
    diff = np.abs(ours.numpy().astype(np.int16) - ref.astype(np.int16))
    return float(diff.mean()), float(np.percentile(diff, 99)), int(diff.max())


@pytest.mark.parametrize("mode", ["bicubic", "bilinear", "nearest"])
def test_resized_crop_matches_torchvision_on_pil(photo: tuple[Image.Image, torch.Tensor], mode: str) -> None:
    pil, img = photo
    tv_mode, _ = MODES[mode]
    differing = total = 0
    for top, left, h, w, size in boxes(pil.width, pil.height):
        ref = np.asarray(TF.resized_crop(pil, top, left, h, w, list(size), interpolation=tv_mode))
        ours = trex.ops.resized_crop(img, top, left, h, w, size, interpolation=mode)
        assert ours.shape == (*size, 3) and ours.dtype == torch.uint8
        mean, p99, worst = stats(ours, ref)
        case = f"{mode} crop {w}x{h} at ({left},{top}) -> {size}"
        assert mean <= 1.0 and p99 <= 4, f"{case}: mean {mean:.3f}, p99 {p99}"
        assert worst <= MAX_LEVELS, f"{case}: max difference {worst} levels"
        differing += int((ours.numpy() != ref).sum())
        total += ref.size
    assert differing <= MAX_DIFFERING * total, f"{differing} of {total} values differ from Pillow"


def test_int_size_is_square_and_interpolation_mode_is_accepted() -> None:
    pil, img = load("chelsea.png")
    ours = trex.ops.resized_crop(img, 20, 30, 200, 150, 64, interpolation=InterpolationMode.BILINEAR)
    ref = np.asarray(TF.resized_crop(pil, 20, 30, 200, 150, [64, 64], interpolation=InterpolationMode.BILINEAR))
    assert ours.shape == (64, 64, 3)
    assert stats(ours, ref)[2] <= MAX_LEVELS


def test_default_interpolation_is_bicubic() -> None:
    _, img = load("coffee.png")
    a = trex.ops.resized_crop(img, 5, 6, 300, 280, (96, 80))
    b = trex.ops.resized_crop(img, 5, 6, 300, 280, (96, 80), interpolation="bicubic")
    c = trex.ops.resized_crop(img, 5, 6, 300, 280, (96, 80), interpolation="bilinear")
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_non_contiguous_input_gives_the_same_result_and_input_is_untouched() -> None:
    _, img = load("astronaut.png")
    strided = img.transpose(0, 1)
    assert not strided.is_contiguous()
    before = strided.clone()
    ours = trex.ops.resized_crop(strided, 10, 20, 300, 200, 96)
    ref = trex.ops.resized_crop(strided.contiguous(), 10, 20, 300, 200, 96)
    assert torch.equal(ours, ref)
    assert torch.equal(strided, before)


@pytest.mark.parametrize("name", ["chelsea.png", "rocket.jpg"])
def test_hflip_matches_torchvision(name: str) -> None:
    pil, img = load(name)
    ref = np.asarray(TF.hflip(pil))
    ours = trex.ops.hflip(img)
    assert np.array_equal(ours.numpy(), ref)
    assert torch.equal(ours, TF.hflip(img.permute(2, 0, 1)).permute(1, 2, 0))
    # Odd width, and a new tensor: the input is not modified.
    odd = img[:, : (img.shape[1] // 2) * 2 - 1]
    before = odd.clone()
    assert torch.equal(trex.ops.hflip(odd), odd.flip(1))
    assert torch.equal(odd, before)


@pytest.mark.parametrize("mode", ["bicubic", "bilinear", "nearest"])
def test_fractional_region_matches_pillow_box(mode: str) -> None:
    """resample_region on a fractional box == Pillow's resize(box=...) on the covered pixels."""
    rng = np.random.default_rng(20230501)
    _, pil_mode = MODES[mode]
    for name in ["astronaut.png", "coffee.png"]:
        pil, img = load(name)
        differing = total = 0
        for _ in range(12):
            x0 = float(rng.uniform(0, pil.width - 30))
            y0 = float(rng.uniform(0, pil.height - 30))
            x1 = float(rng.uniform(x0 + 0.5, pil.width))
            y1 = float(rng.uniform(y0 + 0.5, pil.height))
            out_w, out_h = (int(v) for v in rng.integers(1, 260, size=2))
            fx, fy = math.floor(x0), math.floor(y0)
            covered = pil.crop((fx, fy, math.ceil(x1), math.ceil(y1)))
            ref = np.asarray(covered.resize((out_w, out_h), pil_mode, box=(x0 - fx, y0 - fy, x1 - fx, y1 - fy)))
            ours = _trex.resample_region(img, x0, y0, x1, y1, out_h, out_w, interpolation=mode)
            mean, p99, worst = stats(ours, ref)
            case = f"{name} {mode} x {x0:.3f}..{x1:.3f} y {y0:.3f}..{y1:.3f} -> {out_w}x{out_h}"
            assert mean <= 1.0 and p99 <= 4, case
            assert worst <= MAX_LEVELS, f"{case}: max difference {worst}"
            differing += int((ours.numpy() != ref).sum())
            total += ref.size
        assert differing <= MAX_DIFFERING * total, f"{name}: {differing} of {total} values differ from Pillow"


def test_fractional_region_differs_from_the_integer_box_around_it() -> None:
    # The fraction matters: a region shifted by half a pixel gives a different image.
    _, img = load("chelsea.png")
    a = _trex.resample_region(img, 10.0, 10.0, 210.0, 150.0, 50, 70, interpolation="bicubic")
    b = _trex.resample_region(img, 10.5, 10.0, 210.5, 150.0, 50, 70, interpolation="bicubic")
    assert not torch.equal(a, b)


# ---------------------------------------------------------------------------------------------
# RandomResizedCrop sampling: distribution against torchvision's get_params

RATIO = (3 / 4, 4 / 3)
DRAWS = 20_000


@functools.cache
def torchvision_draws(width: int, height: int, scale: tuple[float, float], n: int) -> np.ndarray:
    """n draws of torchvision's get_params (slow: one Python call each), cached per module run."""
    torch.manual_seed(1234)
    dummy = torch.empty(3, height, width)
    return np.array([RandomResizedCrop.get_params(dummy, list(scale), list(RATIO)) for _ in range(n)])


def trex_draws(width: int, height: int, scale: tuple[float, float], n: int, seed: int = 99) -> np.ndarray:
    return _trex.sample_resized_crops(width, height, scale, RATIO, seed, n).numpy()


def features(draws: np.ndarray, width: int, height: int) -> dict[str, np.ndarray]:
    top, left, h, w = draws.T.astype(np.float64)
    return {
        "area fraction": h * w / (width * height),
        "log aspect ratio": np.log(w / h),
        "horizontal centre": (left + w / 2) / width,
        "vertical centre": (top + h / 2) / height,
    }


@pytest.mark.parametrize(
    ("width", "height", "scale"),
    [(500, 375, (0.08, 1.0)), (300, 800, (0.08, 1.0)), (500, 375, (0.05, 0.25))],
)
def test_random_resized_crop_distribution_matches_torchvision(
    width: int, height: int, scale: tuple[float, float]
) -> None:
    ours = trex_draws(width, height, scale, DRAWS)
    ref = torchvision_draws(width, height, scale, DRAWS)
    assert ours.shape == (DRAWS, 4)
    top, left, h, w = ours.T
    assert (top >= 0).all() and (left >= 0).all() and (h > 0).all() and (w > 0).all()
    assert (top + h <= height).all() and (left + w <= width).all()
    fo, fr = features(ours, width, height), features(ref, width, height)
    for key in fo:
        p = ks_2samp(fo[key], fr[key]).pvalue
        assert p > 0.01, f"{width}x{height} scale {scale}: {key} KS p = {p:.2g}"


def test_distribution_test_detects_a_different_scale() -> None:
    # The KS test above has the power to see a small change: scale (0.10, 1) instead of (0.08, 1).
    ours = trex_draws(500, 375, (0.10, 1.0), DRAWS)
    ref = torchvision_draws(500, 375, (0.08, 1.0), DRAWS)
    key = "area fraction"
    assert ks_2samp(features(ours, 500, 375)[key], features(ref, 500, 375)[key]).pvalue < 0.01


@pytest.mark.parametrize(("width", "height"), [(1000, 10), (10, 1000), (40, 30)])
def test_fallback_is_torchvision_centre_crop(width: int, height: int) -> None:
    # No attempt can succeed (area >= 50% needs a crop taller or wider than the image, or for
    # 40x30 an area above the image's), so every draw is torchvision's centre-crop fallback.
    scale = (2.0, 3.0) if (width, height) == (40, 30) else (0.5, 1.0)
    ours = trex_draws(width, height, scale, 50)
    ref = torchvision_draws(width, height, scale, 50)
    assert (ours == ref[0]).all() and (ref == ref[0]).all(), (ours[:3], ref[:3])


def test_fallback_rate_matches_torchvision() -> None:
    # A 200x50 strip: each attempt succeeds with probability ~0.2, so about 10% of the draws
    # fall back to the centre crop after 10 failed attempts; both must do so equally often.
    width, height, scale, n = 200, 50, (0.08, 1.0), 10_000
    centre = trex_draws(width, height, (5.0, 6.0), 1)[0]  # always the fallback
    ours = (trex_draws(width, height, scale, n) == centre).all(axis=1).mean()
    ref = (torchvision_draws(width, height, scale, n) == centre).all(axis=1).mean()
    sigma = math.sqrt(2 * ref * (1 - ref) / n)
    assert 0.05 < ref < 0.25
    assert abs(ours - ref) < 4 * sigma, (ours, ref)


def test_sampler_is_deterministic_per_seed() -> None:
    a = trex_draws(640, 480, (0.08, 1.0), 100, seed=5)
    b = trex_draws(640, 480, (0.08, 1.0), 100, seed=5)
    c = trex_draws(640, 480, (0.08, 1.0), 100, seed=6)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    # Draw i depends only on (seed, i): a longer run starts with the same boxes.
    assert np.array_equal(trex_draws(640, 480, (0.08, 1.0), 10, seed=5), a[:10])


# ---------------------------------------------------------------------------------------------
# Bad input


@pytest.fixture(scope="module")
def small() -> torch.Tensor:
    return load("chelsea.png")[1][:48, :64].contiguous()  # 64x48


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ((10, 40, 30, 30), r"crop 30x30 at \(40,10\) exceeds 64x48 image"),
        ((20, 0, 29, 64), r"crop 64x29 at \(0,20\) exceeds 64x48 image"),
        ((0, 0, 48, 65), r"crop 65x48 at \(0,0\) exceeds 64x48 image"),
        ((0, 64, 1, 1), r"crop 1x1 at \(64,0\) exceeds 64x48 image"),
        ((-1, 0, 10, 10), r"top, left >= 0"),
        ((0, -5, 10, 10), r"top, left >= 0"),
        ((0, 0, 0, 10), r"height, width > 0"),
        ((0, 0, 10, 0), r"height, width > 0"),
        ((0, 0, 2**62, 2**62), r"exceeds 64x48 image"),
    ],
)
def test_out_of_range_crops_are_value_errors(small: torch.Tensor, box: tuple[int, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        trex.ops.resized_crop(small, *box, 32)


@pytest.mark.parametrize(
    ("size", "error", "message"),
    [
        (0, ValueError, r"size must be positive, got \(0, 0\)"),
        ((10, 0), ValueError, r"size must be positive"),
        ((-3, 5), ValueError, r"size must be positive"),
        ((1, 2, 3), ValueError, r"length 3"),
        (2.5, TypeError, r"size must be an int or a pair"),
        (True, TypeError, r"got bool"),
        ("96", TypeError, r"got str"),
    ],
)
def test_bad_sizes(small: torch.Tensor, size: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        trex.ops.resized_crop(small, 0, 0, 10, 10, size)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda t: t.float(), TypeError, r"dtype torch.uint8, got torch.float32"),
        (lambda t: t[..., 0], ValueError, r"shape \[H, W, 3\].*got \[48, 64\]"),
        (lambda t: t.permute(2, 0, 1), ValueError, r"got \[3, 48, 64\]"),
        (lambda t: torch.cat([t, t[..., :1]], dim=2), ValueError, r"got \[48, 64, 4\]"),
        (lambda t: t.numpy(), TypeError, r"torch.Tensor \(uint8 \[H, W, 3\]\), got ndarray"),
        (lambda t: t.to("meta"), ValueError, r"on the CPU, got device meta"),
    ],
)
def test_bad_images(small: torch.Tensor, make, error: type[Exception], message: str) -> None:  # type: ignore[no-untyped-def]
    bad = make(small)
    with pytest.raises(error, match=message):
        trex.ops.resized_crop(bad, 0, 0, 10, 10, 8)
    with pytest.raises(error, match=message):
        trex.ops.hflip(bad)


def test_empty_image_flips_to_empty_and_has_no_crop(small: torch.Tensor) -> None:
    empty = small[:0]
    assert trex.ops.hflip(empty).shape == (0, small.shape[1], 3)
    with pytest.raises(ValueError, match=r"exceeds"):
        trex.ops.resized_crop(empty, 0, 0, 10, 10, 8)


def test_bad_interpolation_lists_the_valid_ones(small: torch.Tensor) -> None:
    with pytest.raises(ValueError, match=r"one of 'nearest', 'bilinear', 'bicubic', got 'lanczos'"):
        trex.ops.resized_crop(small, 0, 0, 10, 10, 8, interpolation="lanczos")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"interpolation must be one of"):
        trex.ops.resized_crop(small, 0, 0, 10, 10, 8, interpolation=2)  # type: ignore[arg-type]


def test_the_rust_bindings_check_their_own_input(small: torch.Tensor) -> None:
    # Direct calls (no Python wrapper in front) are refused with the same clarity.
    with pytest.raises(TypeError, match=r"uint8"):
        _trex.resized_crop(small.float(), 0, 0, 4, 4, 2, 2, interpolation="bicubic")
    with pytest.raises(ValueError, match=r"contiguous"):
        _trex.resized_crop(small.transpose(0, 1), 0, 0, 4, 4, 2, 2, interpolation="bicubic")
    with pytest.raises(ValueError, match=r"output size"):
        _trex.resized_crop(small, 0, 0, 4, 4, 0, 2, interpolation="bicubic")
    with pytest.raises(ValueError, match=r"exceeds 64x48 image"):
        _trex.resample_region(small, 0.0, 0.0, 64.5, 10.0, 4, 4, interpolation="bilinear")
    with pytest.raises(ValueError, match=r"empty or exceeds"):
        _trex.resample_region(small, 5.0, 5.0, 5.0, 10.0, 4, 4, interpolation="bilinear")
    with pytest.raises(ValueError, match=r"empty or exceeds"):
        _trex.resample_region(small, 0.0, 0.0, float("nan"), 10.0, 4, 4, interpolation="bilinear")
    with pytest.raises(ValueError, match=r"scale must be a range"):
        _trex.sample_resized_crops(100, 100, (0.5, 0.1), RATIO, 0, 3)
    with pytest.raises(ValueError, match=r"ratio must be a range"):
        _trex.sample_resized_crops(100, 100, (0.1, 0.5), (0.0, 1.0), 0, 3)
    with pytest.raises(ValueError, match=r"image size 0x100 is empty"):
        _trex.sample_resized_crops(0, 100, (0.1, 0.5), RATIO, 0, 3)


# ---------------------------------------------------------------------------------------------
# In DataLoader workers


class _CropDataset(torch.utils.data.Dataset):
    def __init__(self, img: torch.Tensor) -> None:
        self.img = img

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> torch.Tensor:
        crop = trex.ops.resized_crop(self.img, i * 7, i * 11, 200, 180, 64)
        return trex.ops.hflip(crop) if i % 2 else crop


@pytest.mark.timeout(120)
def test_ops_run_in_dataloader_workers() -> None:
    _, img = load("coffee.png")
    ds = _CropDataset(img)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2, timeout=60)
    batches = torch.cat(list(loader))
    assert torch.equal(batches, torch.stack([ds[i] for i in range(len(ds))]))
