"""CJK ideographs rendered from real fonts: a built-in many-class data set, as ImageFolder trees.

Each class is one ideograph (U+4E00-U+9FFF); its images are that character drawn in the faces of
the Debian CJK font packages (Ming/Song serif, Kai, FangSong, Hei/Gothic sans, rounded,
handwritten, brush), with a random face, scale, rotation, shift, stroke and background colour
and mild pixel noise. Built once into a cache folder::

    <cache>/glyphs-64/
        seen/train/<class>/*.jpg     500 seen classes, training faces, 32 images per class
        seen/val/<class>/*.jpg       500 seen classes, held-out faces, 6 per class
        unseen/train/<class>/*.jpg   500 unseen classes, held-out faces, 10 per class (probe training)
        unseen/test/<class>/*.jpg    500 unseen classes, held-out faces, 6 per class (probe test)
        glyphs.json                  seed, size, the faces and their split, the classes, counts

Class folders are named ``<label>-U+<code point>`` (``0000-U+4E0A``), so their sorted order is
the label order (the classes of each group sorted by code point). An image's file is named
``<index>-f<face>.jpg``, ``<face>`` being the face's ``id`` in ``glyphs.json``.

About a third of the faces are held out (every third face in (style, name) order, so that each
style with three faces or more has faces on both sides); they never draw ``seen/train``. ``seen/val``
thus measures how the backbone's classes carry to new faces, and ``unseen`` holds new classes in
new faces, for transfer evaluation.

The classes are ideographs that every face maps in its character map and draws with ink (not
blank, not the ``.notdef`` box); 1,000 are drawn with a seeded generator, the first half seen,
the second unseen. Every image's randomness comes from (seed, part, class, index) alone, so the
same seed gives byte-identical files whatever the thread count.

Measured on the default tree (seed 0, 64 px; 26 faces, 17 training and 9 held out; 6,252
ideographs common to all their character maps): 27,000 images, 27.9 MB of files in all
(27,942,932 bytes, about 1,035 bytes an image; 21.9 MB as a .tar.gz), built in 44-70 s on 2
shared cores. The cache root is ``$TREX_CACHE`` when set, else ``~/.cache/trex``.
"""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from trex.data.cache_tree import build_tree, is_complete
from trex.data.fashion_mnist_folder import cache_root

# Where Debian installs font files.
FONT_DIR = Path("/usr/share/fonts")


class FaceSpec(NamedTuple):
    """One font face of a Debian package: file (under :data:`FONT_DIR`), index inside a
    collection (``.ttc``), and its style (the sort key of the face split)."""

    package: str
    path: str
    index: int
    style: str


# The faces, one per design (weights where a design has several). Left out as near-copies of a
# face kept (their rendered glyphs differ by a few percent): the Arphic GB/Big5 fonts (the
# sources of UMing and UKai), cwTeX Kai (UKai), IPA Mincho/Gothic (IPAex); left out as not
# legible as the same character: Kouzan Sousyo (cursive grass script). Collections: the SC face.
FACES: tuple[FaceSpec, ...] = (
    FaceSpec("fonts-arphic-uming", "truetype/arphic/uming.ttc", 0, "ming"),
    FaceSpec("fonts-ipaexfont-mincho", "opentype/ipaexfont-mincho/ipaexm.ttf", 0, "ming"),
    FaceSpec("fonts-hanazono", "truetype/hanazono/HanaMinA.ttf", 0, "ming"),
    FaceSpec("fonts-cwtex-ming", "truetype/cwtex/cwming.ttf", 0, "ming"),
    FaceSpec("fonts-cns11643-sung", "truetype/cns11643/TW-Sung-98_1.ttf", 0, "ming"),
    FaceSpec("fonts-noto-cjk", "opentype/noto/NotoSerifCJK-Regular.ttc", 2, "ming"),
    FaceSpec("fonts-noto-cjk", "opentype/noto/NotoSerifCJK-Bold.ttc", 2, "ming"),
    FaceSpec("fonts-cwtex-fs", "truetype/cwtex/cwfs.ttf", 0, "fangsong"),
    FaceSpec("fonts-arphic-ukai", "truetype/arphic/ukai.ttc", 0, "kai"),
    FaceSpec("fonts-cns11643-kai", "truetype/cns11643/TW-Kai-98_1.ttf", 0, "kai"),
    FaceSpec("fonts-lxgw-wenkai", "truetype/lxgw-wenkai/LXGWWenKai-Light.ttf", 0, "kai"),
    FaceSpec("fonts-lxgw-wenkai", "truetype/lxgw-wenkai/LXGWWenKai-Regular.ttf", 0, "kai"),
    FaceSpec("fonts-lxgw-wenkai", "truetype/lxgw-wenkai/LXGWWenKai-Bold.ttf", 0, "kai"),
    FaceSpec("fonts-ipaexfont-gothic", "opentype/ipaexfont-gothic/ipaexg.ttf", 0, "hei"),
    FaceSpec("fonts-noto-cjk", "opentype/noto/NotoSansCJK-Regular.ttc", 2, "hei"),
    FaceSpec("fonts-noto-cjk", "opentype/noto/NotoSansCJK-Bold.ttc", 2, "hei"),
    FaceSpec("fonts-wqy-microhei", "truetype/wqy/wqy-microhei.ttc", 0, "hei"),
    FaceSpec("fonts-wqy-zenhei", "truetype/wqy/wqy-zenhei.ttc", 0, "hei"),
    FaceSpec("fonts-cwtex-heib", "truetype/cwtex/cwheib.ttf", 0, "hei"),
    FaceSpec("fonts-cwtex-yen", "truetype/cwtex/cwyen.ttf", 0, "rounded"),
    FaceSpec("fonts-klee", "truetype/klee/KleeOne-Regular.ttf", 0, "handwritten"),
    FaceSpec("fonts-klee", "truetype/klee/KleeOne-SemiBold.ttf", 0, "handwritten"),
    FaceSpec("fonts-aoyagi-soseki", "truetype/aoyagi-soseki/aoyagi-soseki.ttf", 0, "handwritten"),
    FaceSpec("fonts-kouzan-mouhitsu", "truetype/kouzan-mouhitsu/kouzan-mouhitsu.ttf", 0, "brush"),
    FaceSpec("fonts-kouzan-mouhitsu", "truetype/kouzan-mouhitsu/kouzan-mouhitsu-gyosho.ttf", 0, "brush"),
    FaceSpec("fonts-aoyagi-kouzan-t", "truetype/aoyagi-kouzan-t/AoyagiKouzanT.ttf", 0, "brush"),
)
MIN_FACES = 16
# A face is used only if its character map holds more ideographs than this.
MIN_IDEOGRAPHS = 2000
IDEOGRAPHS = (0x4E00, 0x9FFF)

CLASSES_PER_SPLIT = 500


class GlyphPart(NamedTuple):
    """One folder of the tree: its classes (``"seen"`` / ``"unseen"``) and faces (``"train"`` /
    ``"held-out"``)."""

    folder: str
    classes: str
    faces: str


GLYPH_PARTS: tuple[GlyphPart, ...] = (
    GlyphPart("seen/train", "seen", "train"),
    GlyphPart("seen/val", "seen", "held-out"),
    GlyphPart("unseen/train", "unseen", "held-out"),
    GlyphPart("unseen/test", "unseen", "held-out"),
)
PER_CLASS: dict[str, int] = {"seen/train": 32, "seen/val": 6, "unseen/train": 10, "unseen/test": 6}

# Rendering: glyph's larger side as a fraction of the image, rotation, shift, colours, noise.
SCALE_RANGE = (0.55, 0.85)
MAX_ROTATION = 15.0
MAX_SHIFT = 3.0  # pixels of the output image, further limited so the glyph stays inside
MIN_CONTRAST = 0.35  # luma difference (0-1) between stroke and background colours
NOISE_SIGMA = 2.0  # Gaussian pixel noise, 0-255 scale
# JPEG quality (IJG scale) of the luma and of the chroma quantisation tables: the glyph's shape
# lives in the luma; the chroma holds two flat colours (and is subsampled 4:2:0 anyway).
QUALITY = (75, 30)
SUPERSAMPLE = 4  # drawn at this multiple of the output size, then box-averaged down
# The render check of a class: ink pixels (> half) at CHECK_SIZE px, as a fraction of the em
# square, and the ink box's larger side as a fraction of the em.
CHECK_SIZE = 64
MIN_INK = 0.004
MIN_EXTENT = 0.3

# Written into the stamp: a tree with another format is rebuilt.
_FORMAT = "1"
_INFO = "glyphs.json"
_CLASS_STREAM = 0x61F0  # seed stream of the class draw (image streams use the part number)
_LUMA = np.array([0.2126, 0.7152, 0.0722])
# The JPEG standard's example tables (Annex K), row-major, as libjpeg scales them by quality.
_STD_LUMA = (
    16,
    11,
    10,
    16,
    24,
    40,
    51,
    61,
    12,
    12,
    14,
    19,
    26,
    58,
    60,
    55,
    14,
    13,
    16,
    24,
    40,
    57,
    69,
    56,
    14,
    17,
    22,
    29,
    51,
    87,
    80,
    62,
    18,
    22,
    37,
    56,
    68,
    109,
    103,
    77,
    24,
    35,
    55,
    64,
    81,
    104,
    113,
    92,
    49,
    64,
    78,
    87,
    103,
    121,
    120,
    101,
    72,
    92,
    95,
    98,
    112,
    100,
    103,
    99,
)
_STD_CHROMA = (
    17,
    18,
    24,
    47,
    99,
    99,
    99,
    99,
    18,
    21,
    26,
    66,
    99,
    99,
    99,
    99,
    24,
    26,
    56,
    99,
    99,
    99,
    99,
    99,
    47,
    66,
    99,
    99,
    99,
    99,
    99,
    99,
) + (99,) * 32


def _qtable(base: tuple[int, ...], quality: int) -> list[int]:
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return [min(255, max(1, (v * scale + 50) // 100)) for v in base]


_QTABLES = [_qtable(_STD_LUMA, QUALITY[0]), _qtable(_STD_CHROMA, QUALITY[1])]


def _packages_hint() -> str:
    packages = " ".join(sorted({f.package for f in FACES}))
    return f"run scripts/install-system-deps, or: sudo apt-get install {packages}"


def _read_face(path: Path, index: int) -> tuple[set[int], str, str]:
    """The face's ideographs (character map), family and style names."""
    from fontTools.ttLib import TTCollection, TTFont

    collection = path.suffix.lower() in (".ttc", ".otc")
    with TTCollection(str(path), lazy=True) if collection else TTFont(str(path), lazy=True) as opened:
        font = opened.fonts[index] if collection else opened
        cmap = font.getBestCmap() or {}
        names = font["name"]
        ideographs = {c for c in cmap if IDEOGRAPHS[0] <= c <= IDEOGRAPHS[1]}
        return ideographs, names.getDebugName(1) or path.stem, names.getDebugName(2) or ""


def discover_faces(font_dir: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """The faces of :data:`FACES` that are installed and cover enough ideographs, with the split.

    Args:
        font_dir: where the font packages are installed; default :data:`FONT_DIR`.

    Returns:
        One dict per face, in :data:`FACES` order: ``id`` (position in this list), ``package``,
        ``file``, ``index``, ``family``, ``style_name``, ``style``, ``ideographs`` (U+4E00-U+9FFF
        in its character map), ``split`` (``"train"`` or ``"held-out"``) and ``codepoints`` (a set
        of those ideographs; not written to ``glyphs.json``).

    Raises:
        FileNotFoundError: fewer than :data:`MIN_FACES` faces; the message names the packages.
    """
    font_dir = Path(font_dir) if font_dir is not None else FONT_DIR
    faces: list[dict[str, Any]] = []
    for spec in FACES:
        path = font_dir / spec.path
        if not path.is_file():
            continue
        ideographs, family, style_name = _read_face(path, spec.index)
        if len(ideographs) <= MIN_IDEOGRAPHS:
            continue
        faces.append(
            {
                "id": len(faces),
                "package": spec.package,
                "file": str(path),
                "index": spec.index,
                "family": family,
                "style_name": style_name,
                "style": spec.style,
                "ideographs": len(ideographs),
                "codepoints": ideographs,
            }
        )
    if len(faces) < MIN_FACES:
        raise FileNotFoundError(
            f"the glyph data set needs at least {MIN_FACES} CJK font faces, found {len(faces)} in "
            f"{font_dir}: {_packages_hint()}"
        )
    order = sorted(faces, key=lambda f: (f["style"], f["family"], f["style_name"]))
    for rank, face in enumerate(order):
        face["split"] = "held-out" if rank % 3 == 1 else "train"
    return faces


class _Fonts(threading.local):
    """Each thread's FreeType fonts, by (file, index, pixel size)."""

    def __init__(self) -> None:
        self.fonts: dict[tuple[str, int, int], Any] = {}

    def get(self, face: dict[str, Any], px: int) -> Any:
        from PIL import ImageFont

        key = (face["file"], face["index"], px)
        font = self.fonts.get(key)
        if font is None:
            font = self.fonts[key] = ImageFont.truetype(face["file"], px, index=face["index"])
        return font


_FONTS = _Fonts()


def _glyph_mask(font: Any, char: str, px: int) -> np.ndarray:
    """The glyph's coverage (uint8), cropped to its ink; empty when it draws nothing."""
    from PIL import Image, ImageDraw

    canvas = Image.new("L", (2 * px, 2 * px))
    ImageDraw.Draw(canvas).text((px, px), char, font=font, fill=255, anchor="mm")
    box = canvas.getbbox()
    return np.asarray(canvas.crop(box)) if box else np.zeros((0, 0), np.uint8)


def _renders(face: dict[str, Any], codepoint: int) -> bool:
    """Whether the face draws the ideograph with ink, and not as its ``.notdef`` box."""
    font = _FONTS.get(face, CHECK_SIZE)
    mask = _glyph_mask(font, chr(codepoint), CHECK_SIZE)
    if (mask > 127).sum() < MIN_INK * CHECK_SIZE**2 or max(mask.shape) < MIN_EXTENT * CHECK_SIZE:
        return False
    notdef = _glyph_mask(font, "\U0010fffd", CHECK_SIZE)  # a private-use point no face maps
    return not (mask.shape == notdef.shape and np.array_equal(mask, notdef))


def _choose_classes(
    faces: list[dict[str, Any]], count: int, seed: int, pool: ThreadPoolExecutor
) -> tuple[list[int], int]:
    """``count`` ideographs every face draws, in a seeded random order; and how many are common
    to all the character maps (the candidates)."""
    common = sorted(set.intersection(*(f["codepoints"] for f in faces)))
    order = np.random.default_rng(np.random.SeedSequence([seed, _CLASS_STREAM])).permutation(len(common))
    chosen: list[int] = []
    start = 0
    while len(chosen) < count:
        if start >= len(common):
            raise ValueError(f"only {len(chosen)} ideographs render in all {len(faces)} faces, {count} asked")
        batch = [common[i] for i in order[start : start + count - len(chosen) + 16]]
        start += len(batch)
        ok = pool.map(lambda c: all(_renders(f, c) for f in faces), batch)
        chosen.extend(c for c, good in zip(batch, ok) if good)
    return chosen[:count], len(common)


def _colours(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    while True:
        fg, bg = rng.integers(0, 256, size=(2, 3))
        if abs(float((fg - bg) @ _LUMA)) / 255 >= MIN_CONTRAST:
            return fg.astype(np.float32), bg.astype(np.float32)


def _render(mask: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """One image [size, size, 3] uint8 of a cropped glyph mask, with random geometry, colours and
    noise drawn from ``rng``."""
    from PIL import Image

    big = size * SUPERSAMPLE
    h, w = mask.shape
    scale = rng.uniform(*SCALE_RANGE) * big / max(h, w)
    angle = np.deg2rad(rng.uniform(-MAX_ROTATION, MAX_ROTATION))
    cos, sin = np.cos(angle), np.sin(angle)
    # Half extents of the rotated, scaled glyph box; the shift keeps it inside the image.
    half_w = scale * (abs(cos) * w + abs(sin) * h) / 2
    half_h = scale * (abs(sin) * w + abs(cos) * h) / 2
    room_x = max(0.0, min(MAX_SHIFT * SUPERSAMPLE, big / 2 - half_w))
    room_y = max(0.0, min(MAX_SHIFT * SUPERSAMPLE, big / 2 - half_h))
    cx = big / 2 + rng.uniform(-room_x, room_x)
    cy = big / 2 + rng.uniform(-room_y, room_y)
    fg, bg = _colours(rng)
    noise = rng.normal(0.0, NOISE_SIGMA, size=(size, size, 3)).astype(np.float32)
    # Output pixel (x, y) -> mask pixel: undo the shift, rotation and scale about the centres.
    a, b = cos / scale, sin / scale
    d, e = -sin / scale, cos / scale
    c = w / 2 - a * cx - b * cy
    f = h / 2 - d * cx - e * cy
    glyph = Image.fromarray(mask).transform(
        (big, big), Image.Transform.AFFINE, (a, b, c, d, e, f), resample=Image.Resampling.BILINEAR
    )
    alpha = np.asarray(glyph.reduce(SUPERSAMPLE), dtype=np.float32)[..., None] / 255
    pixels = bg + (fg - bg) * alpha + noise
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def _write_class(
    folder: Path, part: int, codepoint: int, count: int, faces: list[dict[str, Any]], seed: int, size: int
) -> None:
    from PIL import Image

    render_px = size * SUPERSAMPLE
    masks: dict[int, np.ndarray] = {}
    for index in range(count):
        rng = np.random.default_rng(np.random.SeedSequence([seed, part, codepoint, index]))
        face = faces[int(rng.integers(len(faces)))]
        mask = masks.get(face["id"])
        if mask is None:
            mask = masks[face["id"]] = _glyph_mask(_FONTS.get(face, render_px), chr(codepoint), render_px)
        pixels = _render(mask, rng, size)
        Image.fromarray(pixels).save(
            folder / f"{index:04d}-f{face['id']:02d}.jpg",
            format="JPEG",
            qtables=_QTABLES,
            subsampling="4:2:0",
            optimize=True,
        )


def class_folder_name(label: int, codepoint: int) -> str:
    """``(3, 0x4E0A)`` -> ``"0003-U+4E0A"``: the label first, so sorted names follow label order."""
    return f"{label:04d}-U+{codepoint:04X}"


def prepare_glyph_folder(
    root: str | os.PathLike[str] | None = None,
    *,
    seed: int = 0,
    size: int = 64,
    threads: int | None = None,
    classes: int | None = None,
    per_class: dict[str, int] | None = None,
) -> Path:
    """Renders the glyph data set into the ImageFolder trees above, once; later calls return at once.

    The tree is written to a temporary sibling folder and renamed into place when complete, so an
    interrupted build leaves nothing half-written and concurrent callers cannot collide. A
    finished tree is recognised by its stamp (every setting below) and needs no fonts.

    Args:
        root: the tree's folder; default ``cache_root() / f"glyphs-{size}"``.
        seed: draws the classes and every image; the same seed gives byte-identical files.
        size: output side in pixels (square RGB images).
        threads: render threads; default all cores.
        classes: classes in each of ``seen`` and ``unseen``; default :data:`CLASSES_PER_SPLIT`.
        per_class: images per class, by part folder (``{"seen/train": 2, ...}``); parts not
            named keep :data:`PER_CLASS`.

    Returns:
        The tree's folder; ``root / "seen"`` is an ImageFolder root with ``train/`` and ``val/``,
        ``root / "unseen"`` one with ``train/`` and ``test/``.

    Raises:
        FileNotFoundError: fewer than :data:`MIN_FACES` font faces are installed (the message
            names the Debian packages).
        ValueError: a setting is out of range, or too few ideographs render in every face.
    """
    n_classes = CLASSES_PER_SPLIT if classes is None else classes
    counts = dict(PER_CLASS)
    for name, count in (per_class or {}).items():
        if name not in counts:
            raise ValueError(f"per_class: unknown part {name!r} (parts: {', '.join(PER_CLASS)})")
        counts[name] = count
    if n_classes < 1 or size < 8 or any(c < 1 for c in counts.values()):
        raise ValueError(f"classes ({n_classes}), size ({size}) and per_class ({counts}) must be positive, size >= 8")
    root = Path(root) if root is not None else cache_root() / f"glyphs-{size}"
    parts = " ".join(f"{name}={counts[name]}" for name in PER_CLASS)
    stamp = (
        f"glyphs {_FORMAT} seed={seed} size={size} classes={n_classes} {parts}"
        f" quality={QUALITY[0]}/{QUALITY[1]} noise={NOISE_SIGMA}"
    )
    if is_complete(root, stamp):
        return root
    faces = discover_faces()
    workers = threads or len(os.sched_getaffinity(0))
    # Two pools: each thread's fonts (one size per pool) go with it when the pool ends.
    with ThreadPoolExecutor(max_workers=workers) as pool:
        chosen, candidates = _choose_classes(faces, 2 * n_classes, seed, pool)
    with build_tree(root, stamp) as tmp, ThreadPoolExecutor(max_workers=workers) as pool:
        groups = {"seen": sorted(chosen[:n_classes]), "unseen": sorted(chosen[n_classes:])}
        jobs = []
        for part_no, part in enumerate(GLYPH_PARTS, start=1):
            split_faces = [f for f in faces if f["split"] == part.faces]
            for label, codepoint in enumerate(groups[part.classes]):
                folder = tmp / part.folder / class_folder_name(label, codepoint)
                folder.mkdir(parents=True)
                jobs.append((folder, part_no, codepoint, counts[part.folder], split_faces))
        futures = [pool.submit(_write_class, *job, seed, size) for job in jobs]
        for future in futures:
            future.result()
        info = {
            "format": int(_FORMAT),
            "seed": seed,
            "size": size,
            "quality": list(QUALITY),
            "noise": NOISE_SIGMA,
            "faces": [{k: v for k, v in f.items() if k != "codepoints"} for f in faces],
            "candidates": candidates,
            "classes": {
                name: [{"codepoint": c, "char": chr(c), "folder": class_folder_name(i, c)} for i, c in enumerate(cps)]
                for name, cps in groups.items()
            },
            "per_class": counts,
            "counts": {p.folder: counts[p.folder] * n_classes for p in GLYPH_PARTS},
            "parts": [p._asdict() for p in GLYPH_PARTS],
        }
        (tmp / _INFO).write_text(json.dumps(info, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return root


def load_glyph_info(root: str | os.PathLike[str]) -> dict[str, Any]:
    """Reads a built tree's ``glyphs.json``: seed, size, faces (with ``split``), classes, counts.

    Raises:
        FileNotFoundError: ``root`` holds no ``glyphs.json``.
    """
    path = Path(root) / _INFO
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no glyph metadata (build the tree with prepare_glyph_folder)")
    return json.loads(path.read_text(encoding="utf-8"))


__all__ = [
    "CLASSES_PER_SPLIT",
    "FACES",
    "GLYPH_PARTS",
    "PER_CLASS",
    "FaceSpec",
    "GlyphPart",
    "class_folder_name",
    "discover_faces",
    "load_glyph_info",
    "prepare_glyph_folder",
]
