"""The glyph data set: tiny trees rendered from the installed CJK fonts (scripts/install-system-deps
installs them; without them these tests fail with the error naming the packages)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from fontTools.ttLib import TTCollection, TTFont
from PIL import Image, ImageDraw, ImageFont

import trex.data.glyphs as glyphs
from trex.data.cache_tree import MARKER
from trex.data.glyphs import GLYPH_PARTS, load_glyph_info, prepare_glyph_folder
from trex.ops import decode_file

CLASSES = 8
PER_CLASS = {"seen/train": 3, "seen/val": 2, "unseen/train": 2, "unseen/test": 2}
IMAGE_NAME = re.compile(r"(\d{4})-f(\d{2})\.jpg")


def build(root: Path, seed: int = 0, threads: int | None = None) -> Path:
    return prepare_glyph_folder(root, seed=seed, size=64, threads=threads, classes=CLASSES, per_class=PER_CLASS)


def tree_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("glyphs") / "tree", threads=2)


def test_layout_and_counts(tree: Path) -> None:
    info = load_glyph_info(tree)
    assert info["seed"] == 0 and info["size"] == 64
    assert (tree / MARKER).is_file()
    for part in GLYPH_PARTS:
        folders = sorted(p.name for p in (tree / part.folder).iterdir())
        expected = [c["folder"] for c in info["classes"][part.classes]]
        assert folders == expected and len(folders) == CLASSES
        codepoints = [int(name.split("U+")[1], 16) for name in folders]
        assert codepoints == sorted(codepoints) == [c["codepoint"] for c in info["classes"][part.classes]]
        assert [int(name[:4]) for name in folders] == list(range(CLASSES))
        for name in folders:
            names = sorted(p.name for p in (tree / part.folder / name).iterdir())
            assert len(names) == PER_CLASS[part.folder]
            assert [int(IMAGE_NAME.fullmatch(n)[1]) for n in names] == list(range(PER_CLASS[part.folder]))
        assert info["counts"][part.folder] == CLASSES * PER_CLASS[part.folder]
    assert sorted(p.name for p in tree.iterdir()) == [MARKER, "glyphs.json", "seen", "unseen"]
    assert info["candidates"] >= 2 * glyphs.CLASSES_PER_SPLIT


def test_same_seed_same_bytes_any_thread_count(tree: Path, tmp_path: Path) -> None:
    again = tree_files(build(tmp_path / "again", threads=1))
    first = tree_files(tree)
    assert sorted(again) == sorted(first)
    assert all(again[name] == first[name] for name in first)


def test_other_seed_other_images(tree: Path, tmp_path: Path) -> None:
    other = build(tmp_path / "other", seed=1)
    first, second = load_glyph_info(tree), load_glyph_info(other)
    assert first["classes"] != second["classes"]
    images = lambda root: {p.read_bytes() for p in root.rglob("*.jpg")}  # noqa: E731
    assert not images(tree) & images(other)


def test_seen_and_unseen_classes_disjoint(tree: Path) -> None:
    info = load_glyph_info(tree)
    seen = {c["codepoint"] for c in info["classes"]["seen"]}
    unseen = {c["codepoint"] for c in info["classes"]["unseen"]}
    assert len(seen) == len(unseen) == CLASSES and not seen & unseen
    assert all(0x4E00 <= c <= 0x9FFF for c in seen | unseen)
    folders = lambda group: {p.name.split("-", 1)[1] for p in (tree / group).glob("*/*")}  # noqa: E731
    assert not folders("seen") & folders("unseen")


def test_face_split(tree: Path) -> None:
    faces = load_glyph_info(tree)["faces"]
    assert len(faces) >= glyphs.MIN_FACES
    train = {(f["file"], f["index"]) for f in faces if f["split"] == "train"}
    held_out = {(f["file"], f["index"]) for f in faces if f["split"] == "held-out"}
    assert train and held_out and not train & held_out and len(train) + len(held_out) == len(faces)
    assert len(faces) // 4 <= len(held_out) <= len(faces) // 2
    assert all(f["ideographs"] > glyphs.MIN_IDEOGRAPHS for f in faces)
    # Every style with three faces or more is on both sides.
    styles: dict[str, set[str]] = {}
    for f in faces:
        styles.setdefault(f["style"], set()).add(f["split"])
    counts = {s: sum(f["style"] == s for f in faces) for s in styles}
    assert all(styles[s] == {"train", "held-out"} for s in styles if counts[s] >= 3)
    # The face each image was drawn in (its file name) is of its part's side.
    used: dict[str, set[int]] = {}
    for part in GLYPH_PARTS:
        for path in (tree / part.folder).rglob("*.jpg"):
            face = faces[int(IMAGE_NAME.fullmatch(path.name)[2])]
            assert face["split"] == part.faces, (path, face)
            used.setdefault(part.faces, set()).add(face["id"])
    assert len(used["train"]) > 3 and len(used["held-out"]) > 3


def _ink(font: ImageFont.FreeTypeFont, char: str) -> np.ndarray:
    canvas = Image.new("L", (96, 96))
    ImageDraw.Draw(canvas).text((8, 8), char, font=font, fill=255)
    return np.asarray(canvas) > 127


def test_every_class_drawn_in_every_face(tree: Path) -> None:
    info = load_glyph_info(tree)
    codepoints = [c["codepoint"] for group in ("seen", "unseen") for c in info["classes"][group]]
    for face in info["faces"]:
        if face["file"].lower().endswith(".ttc"):
            with TTCollection(face["file"], lazy=True) as collection:
                cmap = collection.fonts[face["index"]].getBestCmap()
        else:
            with TTFont(face["file"], lazy=True) as ttfont:
                cmap = ttfont.getBestCmap()
        font = ImageFont.truetype(face["file"], 64, index=face["index"])
        notdef = _ink(font, "\U000f0000")
        for cp in codepoints:
            assert cmap.get(cp, ".notdef") != ".notdef", (face["family"], hex(cp))
            ink = _ink(font, chr(cp))
            assert ink.sum() >= 20, (face["family"], hex(cp))
            assert not np.array_equal(ink, notdef), (face["family"], hex(cp))


def test_images_decode_with_two_colours(tree: Path) -> None:
    paths = sorted(tree.rglob("*.jpg"))
    assert len(paths) == CLASSES * sum(PER_CLASS.values())
    for path in paths:
        pixels = decode_file(path)
        assert tuple(pixels.shape) == (64, 64, 3) and str(pixels.dtype) == "torch.uint8"
        luma = pixels.numpy().astype(np.float32) @ np.array([0.2126, 0.7152, 0.0722], np.float32)
        border = np.concatenate([luma[0], luma[-1], luma[:, 0], luma[:, -1]])
        background = np.median(border)
        # Some stroke pixel stands well apart from the background (colours 0.35 apart in luma).
        assert np.abs(luma - background).max() > 0.25 * 255, path


def test_complete_tree_is_not_rebuilt(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = {p: p.stat().st_mtime_ns for p in tree.rglob("*")}

    def no_fonts(*args: object) -> None:
        raise AssertionError("the complete tree was rebuilt")

    monkeypatch.setattr(glyphs, "discover_faces", no_fonts)
    assert build(tree) == tree
    assert {p: p.stat().st_mtime_ns for p in tree.rglob("*")} == before


def test_missing_fonts_name_the_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(glyphs, "FONT_DIR", tmp_path / "no-fonts")
    with pytest.raises(FileNotFoundError, match="install-system-deps.*apt-get install.*fonts-noto-cjk"):
        build(tmp_path / "tree")
    assert not (tmp_path / "tree").exists()


def test_bad_settings(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown part"):
        prepare_glyph_folder(tmp_path / "t", per_class={"seen/test": 2})
    with pytest.raises(ValueError):
        prepare_glyph_folder(tmp_path / "t", classes=0)
