"""Find and read the images to classify, failing one file at a time with a one-line reason.

Images are decoded straight to grayscale (all the normalisation needs, a third of the memory),
and a huge image is decoded at 1/2, 1/4 or 1/8 size (libjpeg scales while decoding), so a
10000x10000 photo costs megabytes, not the 300 MB of its full BGR decode.
"""

from __future__ import annotations

import glob
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.errors import InputError
from edge.fileio import read_file

#: What a folder is searched for (a file named on the command line is tried whatever its suffix).
IMAGE_SUFFIXES = frozenset(
    ".png .jpg .jpeg .jpe .bmp .dib .tif .tiff .webp .pbm .pgm .ppm .pnm .sr .ras .jp2 .exr".split()  # noqa: SIM905
)
#: Images above this many pixels are decoded reduced: ample for a digit, bounded for a Pi.
MAX_DECODE_PIXELS = 4_000_000
#: Above this even a 1/8 decode is too big to be a photo of a digit.
MAX_IMAGE_PIXELS = MAX_DECODE_PIXELS * 64
_REDUCED = ((1, cv2.IMREAD_GRAYSCALE), (2, cv2.IMREAD_REDUCED_GRAYSCALE_2),
            (4, cv2.IMREAD_REDUCED_GRAYSCALE_4), (8, cv2.IMREAD_REDUCED_GRAYSCALE_8))  # fmt: skip


@dataclass(frozen=True)
class Source:
    """One input named or found on the command line: a path, or the reason there is none."""

    name: str  # as the user will recognise it
    path: Path | None
    error: str | None = None


def expand(args: list[str] | tuple[str, ...]) -> Iterator[Source]:
    """Files as given, folders searched recursively for images (sorted), globs expanded."""
    for arg in args:
        path = Path(arg).expanduser()
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
            )
            if not found:
                yield Source(arg, None, f"{arg}: folder holds no images")
            for p in found:
                yield Source(str(p), p)
        elif path.exists() or path.is_symlink():
            yield Source(arg, path)
        elif glob.has_magic(arg):
            matches = sorted(glob.glob(os.path.expanduser(arg), recursive=True))
            files = [m for m in matches if Path(m).is_file()]
            if not files:
                yield Source(arg, None, f"{arg}: pattern matches no files")
            for m in files:
                yield Source(m, Path(m))
        else:
            yield Source(arg, None, f"{arg}: no such file or directory")


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, JPEG or BMP header, or None when the format is not known."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        return int(w), int(h)
    if data[:2] == b"BM" and len(data) >= 26:
        w, h = struct.unpack("<ii", data[18:26])
        return abs(int(w)), abs(int(h))
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(w), int(h)
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
                i += 1 if marker == 0xFF else 2
                continue
            (length,) = struct.unpack(">H", data[i + 2 : i + 4])
            i += 2 + length
    return None


def decode(data: bytes, name: str) -> np.ndarray:
    """Encoded image bytes -> uint8 grayscale, reduced when huge; InputError on anything wrong."""
    return decode_scaled(data, name)[0]


def decode_scaled(data: bytes, name: str) -> tuple[np.ndarray, float]:
    """:func:`decode`, and the factor from decoded to original pixels (1, 2, 4 or 8 or more)."""
    if not data:
        raise InputError(f"{name}: empty file (0 bytes)")
    if data[:2] == b"\xff\xd8" and b"\xff\xd9" not in data[-4096:]:
        raise InputError(f"{name}: truncated JPEG (no end-of-image marker)")
    flag, factor = cv2.IMREAD_GRAYSCALE, 1
    size = image_size(data)
    if size is not None:
        pixels = size[0] * size[1]
        if pixels > MAX_IMAGE_PIXELS:
            raise InputError(f"{name}: {size[0]}x{size[1]} is too large to be a photo of a digit")
        factor, flag = next((f, fl) for f, fl in _REDUCED if pixels / (f * f) <= MAX_DECODE_PIXELS)
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    except cv2.error as exc:
        raise InputError(f"{name}: OpenCV cannot decode it ({_first_line(exc)})") from None
    if image is None or image.size == 0:
        raise InputError(f"{name}: not an image OpenCV can read")
    if factor == 1 and image.size > MAX_DECODE_PIXELS:  # a format whose header we do not parse
        scale = (MAX_DECODE_PIXELS / image.size) ** 0.5
        dsize = (max(1, int(image.shape[1] * scale)), max(1, int(image.shape[0] * scale)))
        width = image.shape[1]
        image = cv2.resize(image, dsize, interpolation=cv2.INTER_AREA)
        return image, width / dsize[0]
    return image, float(factor)


def read(path: Path, name: str | None = None) -> np.ndarray:
    """Read and decode one image file (see :func:`decode`)."""
    return read_scaled(path, name)[0]


def read_scaled(path: Path, name: str | None = None) -> tuple[np.ndarray, float]:
    """Read and decode one image file, and the decoded-to-original scale (``decode_scaled``)."""
    name = name or str(path)
    return decode_scaled(read_file(path, InputError, name=name), name)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__
