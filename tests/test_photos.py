"""trex.data.photos: the ImageNet-like JPEG corpus cut from installed real photographs."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from trex.data import photos


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return photos.make_corpus(tmp_path_factory.mktemp("corpus"), n=60, seed=0)


def test_sources_are_real_photo_files() -> None:
    sources = photos.photo_sources()
    assert len(sources) >= len(photos.SKIMAGE_PHOTOS)  # scikit-image is a test dependency
    for path in sources:
        with Image.open(path) as im:
            assert im.format in ("JPEG", "PNG") and min(im.size) >= 300, path
    assert len(set(sources)) == len(sources)


def test_files_look_like_imagenet(corpus: list[Path]) -> None:
    assert len(corpus) == 60 and all(p.suffix == ".jpg" for p in corpus)
    progressive, sampling, modes = 0, set(), set()
    for path in corpus:
        with Image.open(path) as im:
            assert im.format == "JPEG"
            assert photos.SHORT_SIDE[0] <= min(im.size) <= photos.SHORT_SIDE[1], (path, im.size)
            assert max(im.size) <= photos.SHORT_SIDE[1] * 4 / 3 * 1.35
            progressive += bool(im.info.get("progressive"))
            modes.add(im.mode)
            if im.mode == "RGB":
                sampling.add(JpegImagePlugin.get_sampling(im))
            pixels = np.asarray(im.convert("L"), dtype=np.float32)
        # A photograph, not a flat field: real spatial detail.
        assert pixels.std() > 8, path
    assert 0.1 <= progressive / len(corpus) <= 0.45
    assert 2 in sampling and len(sampling) >= 2  # mostly 4:2:0, some 4:4:4 / 4:2:2
    assert "RGB" in modes


def test_same_seed_same_files_other_seed_other_files(tmp_path: Path, corpus: list[Path]) -> None:
    again = photos.make_corpus(tmp_path / "again", n=8, seed=0)
    assert [p.name for p in again] == [p.name for p in corpus[:8]]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(again, corpus[:8], strict=True))
    other = photos.make_corpus(tmp_path / "other", n=8, seed=1)
    assert all(a.read_bytes() != b.read_bytes() for a, b in zip(other, corpus[:8], strict=True))


def test_existing_files_are_reused(tmp_path: Path) -> None:
    first = photos.make_corpus(tmp_path, n=3, seed=5)
    marker = first[1].read_bytes()[:-2] + b"\x00\x00\xff\xd9"
    first[1].write_bytes(marker)
    second = photos.make_corpus(tmp_path, n=4, seed=5)
    assert second[:3] == first
    assert second[1].read_bytes() == marker  # not rewritten
    assert len(list(tmp_path.iterdir())) == 4  # no temporary files left


def test_photo_jpegs_uses_the_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TREX_PHOTO_CACHE", str(tmp_path))
    blobs = photos.photo_jpegs(n=2, seed=9)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in photos.make_corpus(tmp_path, n=2, seed=9)
    )
    for blob in blobs:
        assert Image.open(io.BytesIO(blob)).format == "JPEG"


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="n must be >= 0"):
        photos.make_corpus("/nonexistent-never-created", n=-1)
