"""Real photographs for tests, benchmarks and the demo, cut into ImageNet-like JPEG files.

The sources are photographs that installed packages ship: scikit-image's bundled colour photos
(when scikit-image is installed) and the photographic Debian/KDE wallpapers under
``/usr/share/wallpapers`` (package ``plasma-workspace-wallpapers``; the drawn and abstract ones are
left out). :func:`make_corpus` cuts them into files shaped like ImageNet's: random crops rescaled
so that the short side is 300-500 px, JPEG quality 75-95, about a quarter progressive, mostly
4:2:0 chroma subsampling with some 4:4:4 and 4:2:2, and a few grayscale files.
"""

from __future__ import annotations

import io
import math
import os
import random
from collections.abc import Iterator
from pathlib import Path

WALLPAPER_ROOT = Path("/usr/share/wallpapers")

# The wallpapers that are photographs (the others in plasma-workspace-wallpapers are drawings).
PHOTO_WALLPAPERS = (
    "BytheWater",
    "ColdRipple",
    "ColorfulCups",
    "DarkestHour",
    "EveningGlow",
    "FallenLeaf",
    "Grey",
    "Kite",
    "OneStandsOut",
    "Path",
    "Volna",
    "summer_1am",
)

# scikit-image's bundled colour photographs (file names inside skimage/data).
SKIMAGE_PHOTOS = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "hubble_deep_field.jpg",
    "ihc.png",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "retina.jpg",
    "rocket.jpg",
)

SHORT_SIDE = (300, 500)
QUALITY = (75, 95)
PROGRESSIVE_FRACTION = 0.25
GRAYSCALE_FRACTION = 0.03
# Pillow's subsampling codes: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0 (most cameras and ImageNet).
SUBSAMPLING_WEIGHTS = {2: 0.85, 0: 0.10, 1: 0.05}
# Crops whose 32x32 grayscale thumbnail varies less than this (levels) are drawn again.
MIN_CROP_STDDEV = 12.0
MAX_CROP_ATTEMPTS = 8

_ENV_CACHE = "TREX_PHOTO_CACHE"
# Part of every file name: bump it when the cutting or encoding changes, so that files made by
# an older version are not reused as if they were this version's.
CORPUS_VERSION = 1


def _skimage_sources() -> list[Path]:
    try:
        import skimage.data
    except ImportError:
        return []
    root = Path(skimage.data.__file__).parent
    return [root / name for name in SKIMAGE_PHOTOS if (root / name).is_file()]


def _wallpaper_sources() -> list[Path]:
    found = []
    for theme in PHOTO_WALLPAPERS:
        # Renderings named WxH, some of them symbolic links to others: keep the largest file.
        files = {
            f.resolve()
            for d in sorted((WALLPAPER_ROOT / theme / "contents").glob("images*"))
            for f in d.iterdir()
            if f.suffix.lower() in (".jpg", ".jpeg", ".png")
        }
        if files:
            found.append(max(files, key=lambda f: (f.stat().st_size, f.name)))
    return found


def photo_sources() -> list[Path]:
    """The photographs installed on this machine that the corpus is cut from.

    Returns:
        Paths of JPEG/PNG photographs: scikit-image's bundled colour photos (if scikit-image is
        installed), then the largest rendering of each photographic wallpaper under
        ``/usr/share/wallpapers`` (if present). Sorted, so the order is stable.

    Raises:
        FileNotFoundError: neither source is installed.
    """
    sources = _skimage_sources() + _wallpaper_sources()
    if not sources:
        raise FileNotFoundError(
            "no real photos found: install scikit-image (pip) or plasma-workspace-wallpapers "
            f"(apt, files under {WALLPAPER_ROOT})"
        )
    return sources


def _source_name(path: Path) -> str:
    if WALLPAPER_ROOT in path.parents:
        return path.relative_to(WALLPAPER_ROOT).parts[0]
    return path.stem


def _plan(n: int, seed: int, sources: list[Path]) -> Iterator[tuple[int, Path, random.Random]]:
    """(index, source, per-file rng) for each file; a file's parameters depend only on its rng."""
    order = list(sources)
    random.Random(f"trex-corpus-order-{seed}").shuffle(order)
    for i in range(n):
        yield i, order[i % len(order)], random.Random(f"trex-corpus-{seed}-{i}")


def _crop_box(w: int, h: int, short: int, rng: random.Random) -> tuple[int, int, int, int]:
    """A random crop (area 10-100%, aspect 3:4 to 4:3) that is upscaled by at most 1.25."""
    cw, ch = w, h
    for _ in range(20):
        area = w * h * rng.uniform(0.1, 1.0)
        aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        cw, ch = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
        if cw <= w and ch <= h:
            break
    else:
        cw, ch = w, h
    grow = short / min(cw, ch) / 1.25
    if grow > 1:
        cw, ch = min(w, math.ceil(cw * grow)), min(h, math.ceil(ch * grow))
    x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
    return x, y, x + cw, y + ch


def _cut(image, rng: random.Random):  # noqa: ANN001, ANN202 (PIL types stay lazy)
    """A random crop of `image` with some detail in it, rescaled so its short side is in SHORT_SIDE."""
    from PIL import Image, ImageStat

    w, h = image.size
    short = rng.randint(*SHORT_SIDE)
    for _ in range(MAX_CROP_ATTEMPTS):
        box = _crop_box(w, h, short, rng)
        # Like ImageNet's, keep pictures of something: skip crops of empty sky or fog.
        thumb = image.resize((32, 32), Image.Resampling.BOX, box=box).convert("L")
        if ImageStat.Stat(thumb).stddev[0] >= MIN_CROP_STDDEV:
            break
    else:
        box = (0, 0, w, h)
    cw, ch = box[2] - box[0], box[3] - box[1]
    scale = short / min(cw, ch)
    size = (max(1, round(cw * scale)), max(1, round(ch * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)


def _encode(image, rng: random.Random) -> bytes:  # noqa: ANN001
    quality = rng.randint(*QUALITY)
    progressive = rng.random() < PROGRESSIVE_FRACTION
    subsampling = rng.choices(list(SUBSAMPLING_WEIGHTS), weights=list(SUBSAMPLING_WEIGHTS.values()))[0]
    if rng.random() < GRAYSCALE_FRACTION:
        image = image.convert("L")
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality, progressive=progressive, subsampling=subsampling)
    return out.getvalue()


def _load(path: Path):  # noqa: ANN202
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        return ImageOps.exif_transpose(im).convert("RGB")


def make_corpus(out_dir: str | os.PathLike[str], n: int = 200, seed: int = 0) -> list[Path]:
    """Cuts the installed photographs into `n` ImageNet-like JPEG files in `out_dir`.

    The same `seed` (and the same installed sources) always gives the same files. Files already
    in `out_dir` under their planned names are reused, so a second call costs nothing.

    Args:
        out_dir: directory for the files (created if missing).
        n: number of files.
        seed: chooses the sources' order and every crop, size, quality and encoding option.

    Returns:
        The `n` file paths, in index order (``v{version}-s{seed}-{index:04d}-{source}.jpg``).

    Raises:
        FileNotFoundError: no source photographs are installed (see :func:`photo_sources`).
        ValueError: `n` is negative.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sources = photo_sources()
    plan = list(_plan(n, seed, sources))
    paths = [out / f"v{CORPUS_VERSION}-s{seed}-{i:04d}-{_source_name(src)}.jpg" for i, src, _ in plan]
    todo: dict[Path, list[int]] = {}
    for i, src, _ in plan:
        if not paths[i].is_file():
            todo.setdefault(src, []).append(i)
    for src, indices in todo.items():  # one source in memory at a time
        image = _load(src)
        for i in indices:
            data = _encode(_cut(image, plan[i][2]), plan[i][2])
            tmp = paths[i].with_name(f".{paths[i].name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, paths[i])
    return paths


def default_cache_dir() -> Path:
    """Where :func:`photo_jpegs` keeps its corpus: ``$TREX_PHOTO_CACHE``, else ``~/.cache/trex/photos``."""
    env = os.environ.get(_ENV_CACHE)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "trex" / "photos"


def photo_jpegs(n: int = 32, seed: int = 0) -> list[bytes]:
    """The bytes of `n` ImageNet-like JPEG files made by :func:`make_corpus` (cached on disk).

    Args:
        n: number of files.
        seed: as in :func:`make_corpus`.

    Returns:
        The files' contents, in index order.
    """
    return [p.read_bytes() for p in make_corpus(default_cache_dir(), n=n, seed=seed)]


__all__ = ["photo_sources", "make_corpus", "photo_jpegs", "default_cache_dir"]
