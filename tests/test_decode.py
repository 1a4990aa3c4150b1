"""trex.ops.decode / decode_file against Pillow, on real photos, and every bad-input case.

The reference for pixels is Pillow: ``ImageOps.exif_transpose(Image.open(f)).convert("RGB")``.
Test images are real photographs (scikit-image's bundled ones, and ImageNet-like JPEG files cut
from them and from the Debian wallpapers by ``trex.data.photos``), re-encoded here with Pillow in
each format under test.
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import textwrap
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

import trex
from trex.data.photos import make_corpus, photo_sources

SKIMAGE_DIR = Path(__import__("skimage").data.__file__).parent


# --------------------------------------------------------------------------------------------
# helpers


def pillow_rgb(data: bytes) -> np.ndarray:
    """The reference decode: Pillow, EXIF orientation applied, converted to RGB."""
    with warnings.catch_warnings():
        # Pillow warns about palette transparency given as bytes; the pixels are what matter.
        warnings.simplefilter("ignore", UserWarning)
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def trex_rgb(data: bytes, **kw) -> np.ndarray:
    t = trex.ops.decode(data, **kw)
    assert t.dtype == torch.uint8 and t.dim() == 3 and t.shape[2] == 3 and t.is_contiguous()
    return t.numpy()


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, start, end) of each marker segment before the first scan."""
    out, pos = [], 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        out.append((marker, pos, pos + 2 + length))
        if marker == 0xDA:
            break
        pos += 2 + length
    return out


def strip_jpeg_segment(data: bytes, marker: int) -> bytes:
    for m, start, end in jpeg_segments(data):
        if m == marker:
            return data[:start] + data[end:]
    raise AssertionError(f"no marker 0x{marker:02x}")


def png_set_size(data: bytes, width: int, height: int) -> bytes:
    """A PNG whose IHDR claims another size (with a valid CRC), pixel data unchanged."""
    assert data[12:16] == b"IHDR"
    ihdr = bytearray(data[16:29])
    ihdr[0:8] = struct.pack(">II", width, height)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)))
    return data[:16] + bytes(ihdr) + crc + data[33:]


def jpeg_set_size(data: bytes, width: int, height: int) -> bytes:
    for m, start, _ in jpeg_segments(data):
        if m in (0xC0, 0xC1, 0xC2):
            b = bytearray(data)
            b[start + 5 : start + 9] = struct.pack(">HH", height, width)
            return bytes(b)
    raise AssertionError("no SOF")


# --------------------------------------------------------------------------------------------
# fixtures: real photos


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    """chelsea.png, 451 x 300 (an odd width, so chroma MCUs are partial at the edge)."""
    with Image.open(SKIMAGE_DIR / "chelsea.png") as im:
        return im.convert("RGB")


@pytest.fixture(scope="module")
def photos() -> list[Image.Image]:
    out = []
    for name in ("coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png"):
        with Image.open(SKIMAGE_DIR / name) as im:
            out.append(im.convert("RGB"))
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_corpus(tmp_path_factory.mktemp("corpus"), n=24, seed=3)


@pytest.fixture(scope="module")
def jpeg_bytes(photo: Image.Image) -> bytes:
    return encode(photo, "JPEG", quality=90)


@pytest.fixture(scope="module")
def png_bytes(photo: Image.Image) -> bytes:
    return encode(photo, "PNG")


# --------------------------------------------------------------------------------------------
# JPEG fidelity


JPEG_VARIANTS = {
    "baseline-q90": dict(quality=90),
    "baseline-q75": dict(quality=75),
    "progressive": dict(quality=90, progressive=True),
    "4:2:0": dict(quality=85, subsampling=2),
    "4:2:2": dict(quality=85, subsampling=1),
    "4:4:4": dict(quality=95, subsampling=0),
    "optimized-huffman": dict(quality=85, optimize=True),
    "restart-intervals": dict(quality=85, restart_marker_blocks=4),
}


@pytest.mark.parametrize("variant", list(JPEG_VARIANTS))
def test_jpeg_matches_pillow(photo: Image.Image, photos: list[Image.Image], variant: str) -> None:
    for image in [photo, *photos]:
        data = encode(image, "JPEG", **JPEG_VARIANTS[variant])
        ours = trex_rgb(data)
        assert ours.shape == (image.height, image.width, 3)
        assert mean_abs_diff(ours, pillow_rgb(data)) <= 1.0
        # And the photo is really there (JPEG loses a few levels, not the picture).
        assert mean_abs_diff(ours, np.asarray(image)) < 8.0


def test_grayscale_jpeg_is_expanded_to_rgb(photo: Image.Image) -> None:
    gray = photo.convert("L")
    for options in (dict(quality=90), dict(quality=90, progressive=True)):
        data = encode(gray, "JPEG", **options)
        assert Image.open(io.BytesIO(data)).mode == "L"
        ours = trex_rgb(data)
        assert mean_abs_diff(ours, pillow_rgb(data)) <= 1.0
        assert (ours[..., 0] == ours[..., 1]).all() and (ours[..., 1] == ours[..., 2]).all()


def test_cmyk_jpeg_written_by_pillow_matches_pillow(photo: Image.Image) -> None:
    data = encode(photo.convert("CMYK"), "JPEG", quality=92)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    assert any(m == 0xEE for m, _, _ in jpeg_segments(data)), "expected an Adobe marker"
    ours = trex_rgb(data)
    assert mean_abs_diff(ours, pillow_rgb(data)) <= 1.0
    assert mean_abs_diff(ours, np.asarray(photo)) < 12.0  # not inverted, not garbled


def test_cmyk_jpeg_without_adobe_marker_matches_pillow(photo: Image.Image) -> None:
    # Pillow reads every CMYK JPEG with Adobe's inverted polarity, marker or not; so does trex.
    data = strip_jpeg_segment(encode(photo.convert("CMYK"), "JPEG", quality=92), 0xEE)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    assert mean_abs_diff(trex_rgb(data), pillow_rgb(data)) <= 1.0


def test_ycck_jpeg_matches_pillow(photo: Image.Image) -> None:
    # libjpeg-turbo (via simplejpeg) stores CMYK input as YCCK: Adobe marker, transform 2. The
    # input is given inverted, as Photoshop stores CMYK (and as Pillow and trex read it).
    import simplejpeg  # a test dependency; imported here so that `pytest -m cuda` collects without it

    cmyk = np.ascontiguousarray(255 - np.asarray(photo.convert("CMYK")))
    data = simplejpeg.encode_jpeg(cmyk, quality=92, colorspace="CMYK", colorsubsampling="420")
    adobe = [data[s:e] for m, s, e in jpeg_segments(data) if m == 0xEE]
    assert adobe and adobe[0][4:9] == b"Adobe" and adobe[0][-1] == 2, "expected YCCK (transform 2)"
    ours = trex_rgb(data)
    assert mean_abs_diff(ours, pillow_rgb(data)) <= 1.0
    assert mean_abs_diff(ours, np.asarray(photo)) < 12.0


def test_imagenet_like_corpus_matches_pillow(corpus: list[Path]) -> None:
    diffs = []
    for path in corpus:
        data = path.read_bytes()
        ours = trex.ops.decode_file(path).numpy()
        assert np.array_equal(ours, trex_rgb(data))
        assert 300 <= min(ours.shape[:2]) <= 500
        diffs.append(mean_abs_diff(ours, pillow_rgb(data)))
    assert max(diffs) <= 1.0, diffs


def test_junk_before_the_end_marker_is_accepted_like_pillow(jpeg_bytes: bytes) -> None:
    data = jpeg_bytes[:-2] + bytes(7) + jpeg_bytes[-2:]
    assert np.array_equal(trex_rgb(data), pillow_rgb(data))
    assert np.array_equal(trex_rgb(data), trex_rgb(jpeg_bytes))


def test_trailing_bytes_after_the_end_marker_are_ignored(jpeg_bytes: bytes) -> None:
    assert np.array_equal(trex_rgb(jpeg_bytes + b"\x00" * 100), trex_rgb(jpeg_bytes))


# --------------------------------------------------------------------------------------------
# PNG fidelity (exact)


def _png_variants(photo: Image.Image) -> dict[str, bytes]:
    palette = photo.convert("P", palette=Image.Palette.ADAPTIVE, colors=200)
    rgba = photo.convert("RGBA")
    rgba.putalpha(photo.convert("L"))  # a real, varying alpha channel
    la = photo.convert("LA")
    la.putalpha(photo.convert("L").point(lambda v: 255 - v))
    return {
        "gray": encode(photo.convert("L"), "PNG"),
        "gray+alpha": encode(la, "PNG"),
        "rgb": encode(photo, "PNG"),
        "rgba": encode(rgba, "PNG"),
        "palette": encode(palette, "PNG"),
        "palette+transparent-index": encode(palette, "PNG", transparency=3),
        "palette+alpha-table": encode(palette, "PNG", transparency=bytes(range(0, 200))),
        "palette-2bit": encode(photo.convert("P", palette=Image.Palette.ADAPTIVE, colors=4), "PNG", bits=2),
        "bilevel": encode(photo.convert("1"), "PNG"),
        "gray+tRNS": encode(photo.convert("L"), "PNG", transparency=17),
        "rgb+tRNS": encode(photo, "PNG", transparency=(10, 20, 30)),
        "rgb-max-compression": encode(photo, "PNG", compress_level=9),
    }


def test_png_matches_pillow_exactly(photo: Image.Image) -> None:
    for name, data in _png_variants(photo).items():
        ours = trex_rgb(data)
        ref = pillow_rgb(data)
        assert ours.shape == ref.shape, name
        assert np.array_equal(ours, ref), f"{name}: mean |diff| {mean_abs_diff(ours, ref)}"


def test_png_from_several_photos_matches_pillow_exactly(photos: list[Image.Image]) -> None:
    for image in photos:
        for data in (encode(image, "PNG"), encode(image.convert("RGBA"), "PNG")):
            assert np.array_equal(trex_rgb(data), pillow_rgb(data))


def test_16bit_gray_png_keeps_the_high_byte(photo: Image.Image) -> None:
    # Pillow clips 16-bit gray to 255 when converting to RGB; trex scales (keeps the high byte),
    # so the reference here is the 16-bit array itself.
    gray16 = np.asarray(photo.convert("L")).astype(np.uint16) * 257 + 100
    data = encode(Image.fromarray(gray16), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    ours = trex_rgb(data)
    expected = (gray16 >> 8).astype(np.uint8)
    for c in range(3):
        assert np.array_equal(ours[..., c], expected)


# --------------------------------------------------------------------------------------------
# EXIF orientation


def _with_orientation(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_jpeg_exif_orientation_matches_pillow(photo: Image.Image, orientation: int) -> None:
    data = encode(photo, "JPEG", quality=90, exif=_with_orientation(orientation))
    ours = trex_rgb(data)
    expected_shape = (451, 300, 3) if orientation >= 5 else (300, 451, 3)
    assert ours.shape == expected_shape
    assert mean_abs_diff(ours, pillow_rgb(data)) <= 1.0
    if orientation != 1:
        # Really transformed: differs from the stored (unoriented) pixels where shapes agree.
        stored = trex_rgb(encode(photo, "JPEG", quality=90))
        assert ours.shape != stored.shape or mean_abs_diff(ours, stored) > 5


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_png_exif_orientation_matches_pillow(photo: Image.Image, orientation: int) -> None:
    data = encode(photo, "PNG", exif=_with_orientation(orientation))
    assert b"eXIf" in data
    assert np.array_equal(trex_rgb(data), pillow_rgb(data))


def test_orientation_6_is_a_clockwise_quarter_turn(photo: Image.Image) -> None:
    stored = trex_rgb(encode(photo, "PNG"))
    rotated = trex_rgb(encode(photo, "PNG", exif=_with_orientation(6)))
    assert np.array_equal(rotated, np.rot90(stored, k=-1))


# --------------------------------------------------------------------------------------------
# bad input: DecodeError (a ValueError) naming the file and the reason


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _expect_decode_error(path: Path, reason: str) -> trex.DecodeError:
    with pytest.raises(trex.DecodeError, match=reason) as info:
        trex.ops.decode_file(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, trex.TrexError)
    return info.value


def test_decode_error_is_a_value_error() -> None:
    assert issubclass(trex.DecodeError, ValueError)
    assert issubclass(trex.DecodeError, trex.TrexError)


def test_truncated_files(tmp_path: Path, jpeg_bytes: bytes, png_bytes: bytes) -> None:
    for keep in (0.5, 0.9):
        _expect_decode_error(
            _write(tmp_path, f"cut{keep}.jpg", jpeg_bytes[: int(len(jpeg_bytes) * keep)]),
            "truncated JPEG.*Premature end of JPEG file",
        )
        _expect_decode_error(
            _write(tmp_path, f"cut{keep}.png", png_bytes[: int(len(png_bytes) * keep)]), "truncated PNG"
        )
    _expect_decode_error(_write(tmp_path, "no-eoi.jpg", jpeg_bytes[:-2]), "Premature end of JPEG file")
    _expect_decode_error(_write(tmp_path, "headers-only.jpg", jpeg_bytes[:400]), "truncated JPEG")
    _expect_decode_error(_write(tmp_path, "signature-only.png", png_bytes[:8]), "truncated PNG")


def test_empty_file(tmp_path: Path) -> None:
    _expect_decode_error(_write(tmp_path, "empty.jpg", b""), "empty input")
    with pytest.raises(trex.DecodeError, match="empty input"):
        trex.ops.decode(b"")


def test_text_file(tmp_path: Path) -> None:
    text = b"name,label\nimage_0001.jpg,3\n" * 20
    err = _expect_decode_error(_write(tmp_path, "labels.jpg", text), "not a JPEG or PNG image")
    assert "6e 61 6d 65" in str(err)  # shows the bytes that arrived ("name")


def test_garbage_bytes(tmp_path: Path) -> None:
    garbage = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    _expect_decode_error(_write(tmp_path, "garbage.jpg", garbage), "not a JPEG or PNG image")
    # Garbage behind a JPEG or PNG signature reaches the decoders, which refuse it.
    _expect_decode_error(_write(tmp_path, "garbage2.jpg", b"\xff\xd8\xff" + garbage), "corrupt or truncated JPEG")
    _expect_decode_error(_write(tmp_path, "garbage3.png", b"\x89PNG\r\n\x1a\n" + garbage), "corrupt or truncated PNG")


def test_corrupted_middle_bytes(tmp_path: Path, jpeg_bytes: bytes, png_bytes: bytes) -> None:
    mid = len(jpeg_bytes) // 2
    broken = jpeg_bytes[:mid] + bytes(256) + jpeg_bytes[mid + 256 :]
    _expect_decode_error(_write(tmp_path, "zeroed.jpg", broken), "Corrupt JPEG data")
    mid = len(png_bytes) // 2
    flipped = png_bytes[:mid] + bytes([png_bytes[mid] ^ 0x01]) + png_bytes[mid + 1 :]
    _expect_decode_error(_write(tmp_path, "flipped.png", flipped), "CRC error")


def test_format_is_sniffed_from_content_not_name(tmp_path: Path, jpeg_bytes: bytes, png_bytes: bytes) -> None:
    png_as_jpg = trex.ops.decode_file(_write(tmp_path, "really-a-png.jpg", png_bytes)).numpy()
    assert np.array_equal(png_as_jpg, pillow_rgb(png_bytes))
    jpg_as_png = trex.ops.decode_file(_write(tmp_path, "really-a-jpeg.png", jpeg_bytes)).numpy()
    assert mean_abs_diff(jpg_as_png, pillow_rgb(jpeg_bytes)) <= 1.0
    no_suffix = trex.ops.decode_file(_write(tmp_path, "noext", jpeg_bytes)).numpy()
    assert np.array_equal(no_suffix, jpg_as_png)


def test_missing_file_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "n01440764_10026.JPEG"
    with pytest.raises(FileNotFoundError, match="n01440764_10026.JPEG"):
        trex.ops.decode_file(missing)


def test_directory_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError, match=str(tmp_path)):
        trex.ops.decode_file(tmp_path)


def test_pixel_bomb_headers_are_refused(tmp_path: Path, jpeg_bytes: bytes, png_bytes: bytes) -> None:
    jpeg_bomb = jpeg_set_size(jpeg_bytes, 65000, 65000)
    err = _expect_decode_error(_write(tmp_path, "bomb.jpg", jpeg_bomb), "exceeds the limit of 178956970 pixels")
    assert "65000x65000 = 4225000000 pixels" in str(err)
    png_bomb = png_set_size(png_bytes, 100_000, 100_000)
    err = _expect_decode_error(_write(tmp_path, "bomb.png", png_bomb), "exceeds the limit of 178956970 pixels")
    assert "100000x100000" in str(err)
    # Pillow refuses the same files for the same reason (it raises above twice its limit).
    for bomb in (jpeg_bomb, png_bomb):
        with pytest.raises(Image.DecompressionBombError):
            Image.open(io.BytesIO(bomb))


def test_max_pixels_lowers_and_raises_the_limit(jpeg_bytes: bytes, png_bytes: bytes) -> None:
    pixels = 451 * 300
    for data in (jpeg_bytes, png_bytes):
        with pytest.raises(trex.DecodeError, match=f"{pixels} pixels exceeds the limit of {pixels - 1}"):
            trex.ops.decode(data, max_pixels=pixels - 1)
        assert trex.ops.decode(data, max_pixels=pixels).shape == (300, 451, 3)
        assert trex.ops.decode(data, max_pixels=None).shape == (300, 451, 3)
    # Just over the default limit: refused by default; a higher limit lets the decoder try, and it
    # then fails on the (too short) pixel data instead.
    over = png_set_size(png_bytes, 15_000, 12_000)
    with pytest.raises(trex.DecodeError, match="exceeds the limit"):
        trex.ops.decode(over)
    with pytest.raises(trex.DecodeError, match="corrupt or truncated PNG") as info:
        trex.ops.decode(over, max_pixels=200_000_000)
    assert "limit" not in str(info.value)


def test_bytes_errors_use_the_given_name(jpeg_bytes: bytes) -> None:
    with pytest.raises(trex.DecodeError, match=r"^train/cat\.jpg: corrupt or truncated JPEG"):
        trex.ops.decode(jpeg_bytes[:1000], name="train/cat.jpg")


def test_decode_accepts_bytes_like_and_refuses_other_types(jpeg_bytes: bytes) -> None:
    ref = trex_rgb(jpeg_bytes)
    assert np.array_equal(trex.ops.decode(bytearray(jpeg_bytes)).numpy(), ref)
    assert np.array_equal(trex.ops.decode(memoryview(jpeg_bytes)).numpy(), ref)
    with pytest.raises(TypeError):
        trex.ops.decode("not bytes")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# concurrency: threads (the GIL is released) and DataLoader workers


def test_threads_decode_the_same_pixels(corpus: list[Path]) -> None:
    expected = [trex.ops.decode_file(p).numpy() for p in corpus]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(2):
            got = list(pool.map(lambda p: trex.ops.decode_file(p).numpy(), corpus))
            assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))


class _FileDataset(torch.utils.data.Dataset):
    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        return trex.ops.decode_file(self.paths[i])


def test_dataloader_workers_decode(corpus: list[Path]) -> None:
    loader = torch.utils.data.DataLoader(_FileDataset(corpus[:8]), batch_size=None, num_workers=2, timeout=60)
    got = list(loader)
    for path, tensor in zip(corpus[:8], got, strict=True):
        assert mean_abs_diff(tensor.numpy(), pillow_rgb(path.read_bytes())) <= 1.0


# --------------------------------------------------------------------------------------------
# mutations: never a crash, a panic or a hang


MUTATION_SCRIPT = textwrap.dedent(
    """
    import random, struct, sys, zlib
    import torch
    import trex

    def fix_png_crcs(data):
        out, pos = bytearray(data[:8]), 8
        while pos + 8 <= len(data):
            length = struct.unpack(">I", data[pos:pos + 4])[0]
            end = pos + 8 + length
            if end + 4 > len(data):
                out += data[pos:]
                break
            out += data[pos:end] + struct.pack(">I", zlib.crc32(data[pos + 4:end]))
            pos = end + 4
        return bytes(out)

    def mutate(rng, data, png):
        b = bytearray(data)
        kind = rng.randrange(6)
        if kind == 0:  # truncate
            b = b[: rng.randrange(len(b))]
        elif kind == 1:  # flip bits, mostly in the headers
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(min(len(b), 700)) if rng.random() < 0.7 else rng.randrange(len(b))
                b[i] ^= 1 << rng.randrange(8)
        elif kind == 2:  # overwrite a run with one byte value
            i, n = rng.randrange(len(b)), rng.randint(1, 64)
            b[i:i + n] = bytes([rng.choice([0, 0xFF, rng.randrange(256)])]) * n
        elif kind == 3:  # set header bytes to extreme values
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(min(len(b), 400))] = rng.choice([0, 1, 0x7F, 0x80, 0xFF])
        elif kind == 4:  # duplicate or drop a block
            i, n = rng.randrange(len(b)), rng.randint(1, 512)
            b = b[:i] + b[i:i + n] * rng.randint(0, 3) + b[i + n:]
        else:  # insert random bytes
            i = rng.randrange(len(b))
            b = b[:i] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 32))) + b[i:]
        if png and rng.random() < 0.6:
            b = fix_png_crcs(bytes(b))  # get past the CRC checks into the decoder proper
        return bytes(b)

    seed, count = int(sys.argv[1]), int(sys.argv[2])
    outcomes = {"tensor": 0, "error": 0}
    for path in sys.argv[3:]:
        data = open(path, "rb").read()
        rng = random.Random(f"{seed}-{path}")
        for i in range(count):
            m = mutate(rng, data, path.endswith(".png"))
            try:
                t = trex.ops.decode(m, name=f"mutant {i} of {path}")
            except trex.TrexError as e:
                if "internal error" in str(e):
                    print("PANIC", i, path, e)
                    sys.exit(3)
                outcomes["error"] += 1
                continue
            if t.dtype != torch.uint8 or t.dim() != 3 or t.shape[2] != 3:
                print("BAD TENSOR", i, path, t.shape, t.dtype)
                sys.exit(4)
            outcomes["tensor"] += 1
    print("OUTCOMES", outcomes["tensor"], outcomes["error"])
    """
)


def test_random_mutations_never_crash(tmp_path: Path, corpus: list[Path], photo: Image.Image) -> None:
    png = _write(tmp_path, "chelsea.png", encode(photo, "PNG"))
    progressive = _write(tmp_path, "progressive.jpg", encode(photo, "JPEG", quality=85, progressive=True))
    files = [corpus[0], progressive, png]
    count = 300
    proc = subprocess.run(
        [sys.executable, "-c", MUTATION_SCRIPT, "7", str(count), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("OUTCOMES")]
    assert line, proc.stdout
    tensors, errors = map(int, line[0].split()[1:])
    assert tensors + errors == count * len(files)
    # Both outcomes happen: the mutations are neither all harmless nor all fatal.
    assert tensors > 0 and errors > 0


# --------------------------------------------------------------------------------------------
# the pinned torch version


def test_torch_version_mismatch_names_both_versions() -> None:
    # `import trex` is lazy (it imports no torch); the first use of anything built on torch or
    # the extension checks the version, by every route.
    script = textwrap.dedent(
        """
        import torch
        torch.__version__ = "2.10.1+cpu"
        import trex
        for use in ("trex.MultiCropLoader", "trex.ops", "trex.__version__", "import trex._trex"):
            try:
                exec(use)
            except ImportError as e:
                print("IMPORT ERROR:", e)
            else:
                print("used", use)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 4 and all(line.startswith("IMPORT ERROR:") for line in lines), proc.stdout
    assert all("2.10.1+cpu" in line and "2.11.0" in line for line in lines)


def test_corpus_sources_are_installed() -> None:
    # The fixtures above need at least scikit-image's photos; fail loudly rather than skip.
    assert len(photo_sources()) >= 5
