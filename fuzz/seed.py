"""Writes the fuzzer's seed inputs: small JPEG and PNG files cut from real photos.

.venv/bin/python fuzz/seed.py    (writes fuzz/corpus/decode/)
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from trex.data.photos import photo_sources

OUT = Path(__file__).parent / "corpus" / "decode"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    sources = photo_sources()[:4]
    for k, path in enumerate(sources):
        with Image.open(path) as im:
            small = im.convert("RGB").resize((48, 32))
        variants = {
            "base.jpg": ("JPEG", small, dict(quality=80)),
            "prog.jpg": ("JPEG", small, dict(quality=80, progressive=True)),
            "444.jpg": ("JPEG", small, dict(quality=90, subsampling=0)),
            "gray.jpg": ("JPEG", small.convert("L"), dict(quality=80)),
            "cmyk.jpg": ("JPEG", small.convert("CMYK"), dict(quality=80)),
            "rgb.png": ("PNG", small, {}),
            "rgba.png": ("PNG", small.convert("RGBA"), {}),
            "pal.png": ("PNG", small.convert("P", palette=Image.Palette.ADAPTIVE, colors=16), dict(transparency=2)),
        }
        exif = Image.Exif()
        exif[0x0112] = 6
        variants["exif.jpg"] = ("JPEG", small, dict(quality=80, exif=exif.tobytes()))
        for name, (fmt, image, options) in variants.items():
            buf = io.BytesIO()
            image.save(buf, format=fmt, **options)
            (OUT / f"{k}-{name}").write_bytes(buf.getvalue())
    print(f"{len(list(OUT.iterdir()))} seeds in {OUT}")


if __name__ == "__main__":
    main()
