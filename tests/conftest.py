"""Shared fixtures: small ImageFolders of real photos (scikit-image's bundled pictures)."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest
from PIL import Image

PHOTOS = [
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "hubble_deep_field.jpg",
    "retina.jpg",
    "ihc.png",
]


def skimage_photo_dir() -> Path:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("scikit-image is needed for the test photos (make venv installs it)")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def real_photos() -> list[Image.Image]:
    d = skimage_photo_dir()
    return [Image.open(d / name).convert("RGB") for name in PHOTOS]


def run_record(variant: str, seed: int, seen: float | None, accs: dict[str, float]) -> dict:
    """A finished run as trex compare records it: seen-task accuracy, transfer accuracy per
    dataset, and their mean and mean log-odds."""
    from trex.transfer import mean_log_odds

    lo, acc = mean_log_odds([a / 100 for a in accs.values()])
    return {
        "variant": variant,
        "seed": seed,
        "seen_top1": seen,
        "epochs": 2,
        "transfer": {
            "datasets": [{"name": n, "linear_top1": a} for n, a in accs.items()],
            "mean": {"linear_top1": 100 * acc, "linear_log_odds": lo},
        },
    }


def write_odd_images(root: Path) -> list[str]:
    """A real photo as CMYK, gray, a PNG under a .jpg name, 16 x 16 and 6000 x 4500 JPEGs, in
    that order."""
    photo = real_photos()[1]
    photo.convert("CMYK").save(root / "cmyk.jpg")
    photo.convert("L").save(root / "gray.jpg")
    photo.save(root / "png_named.jpg", format="PNG")
    photo.resize((16, 16)).save(root / "tiny.jpg")
    photo.resize((6000, 4500)).save(root / "huge.jpg", quality=80)
    return [str(root / n) for n in ("cmyk.jpg", "gray.jpg", "png_named.jpg", "tiny.jpg", "huge.jpg")]


def write_pixel_bomb(small_jpeg: Path, path: Path) -> Path:
    """``small_jpeg`` with a header that claims 60000 x 60000 pixels, written to ``path``."""
    data = bytearray(small_jpeg.read_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = (60000).to_bytes(2, "big") * 2
    path.write_bytes(bytes(data))
    return path


def write_folder(root: Path, classes: int, per_class: int, short_side: tuple[int, int], seed: int = 0) -> Path:
    """ImageFolder of JPEG crops of real photos (a quarter progressive), resized so the short side
    is in ``short_side``."""
    rng = random.Random(seed)
    photos = real_photos()
    for c in range(classes):
        (root / f"class{c}").mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = photos[(c * per_class + i) % len(photos)]
            w, h = img.size
            cw, ch = rng.randint(w // 2, w), rng.randint(h // 2, h)
            left, top = rng.randint(0, w - cw), rng.randint(0, h - ch)
            crop = img.crop((left, top, left + cw, top + ch))
            s = rng.randint(*short_side) / min(crop.size)
            crop = crop.resize((max(1, round(crop.width * s)), max(1, round(crop.height * s))), Image.BICUBIC)
            crop.save(root / f"class{c}" / f"img{i:03d}.jpg", quality=rng.randint(75, 95), progressive=(i % 4 == 0))
    return root


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 classes x 8 JPEGs, short side 80-160 px."""
    return write_folder(tmp_path_factory.mktemp("photos"), classes=3, per_class=8, short_side=(80, 160))
