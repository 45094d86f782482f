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
#: GIF too: read where OpenCV reads it (4.14's wheel), else each named as unreadable.
IMAGE_SUFFIXES = frozenset(
    (".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".dib", ".tif", ".tiff", ".webp", ".gif", ".pbm",
     ".pgm", ".ppm", ".pnm", ".sr", ".ras", ".jp2", ".exr")
)  # fmt: skip
#: Images above this many pixels are decoded reduced: ample for a digit, bounded for a Pi.
MAX_DECODE_PIXELS = 4_000_000
#: Above this even a 1/8 decode is too big to be a photo of a digit.
MAX_IMAGE_PIXELS = MAX_DECODE_PIXELS * 64
#: A transparent image is decoded whole, with its colour and alpha (4 bytes a pixel): a 4096 x
#: 4096 canvas (the largest many drawing apps make) is 64 MiB.
MAX_ALPHA_SIDE = 4096
MAX_ALPHA_PIXELS = MAX_ALPHA_SIDE * MAX_ALPHA_SIDE
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
        for i, marker in _jpeg_markers(data):
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and i + 9 <= len(data):
                h, w = struct.unpack(">HH", data[i + 5 : i + 9])  # start of frame: its size
                return int(w), int(h)
    return None


def _jpeg_markers(data: bytes) -> Iterator[tuple[int, int]]:
    """(offset, marker) of a JPEG's header segments, from after its start up to and including
    the first start-of-scan (0xDA), where the compressed pixels begin."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF or data[i + 1] == 0xFF:  # not a marker yet, or a fill byte
            i += 1
            continue
        marker = data[i + 1]
        yield i, marker
        if marker == 0xDA:
            return
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
        else:
            i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")


def jpeg_is_whole(data: bytes) -> bool:
    """Whether a JPEG's compressed pixels end with its end-of-image marker.

    Why after the first scan's header: an Exif thumbnail before it ends with its own marker,
    and a phone's motion photo or a camera's extra images follow the marker with megabytes of
    other data, so neither the first marker nor the file's last bytes tell. Inside the scans
    a 0xFF byte is always followed by 0x00 or a restart marker, never by 0xD9.
    """
    scan = next((i for i, marker in _jpeg_markers(data) if marker == 0xDA), 2)
    return data.find(b"\xff\xd9", scan) != -1


def alpha_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG or WebP whose header says it may hold transparent pixels."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 26:
        # colour types 4 and 6 carry alpha; a tRNS chunk (before the pixels) makes one transparent
        transparent = data[25] in (4, 6) or b"tRNS" in data[: data.find(b"IDAT")]
        return image_size(data) if transparent else None
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP" or len(data) < 30:
        return None
    if data[12:16] == b"VP8X" and data[20] & 0x10:  # the extended format's alpha flag
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    bits = int.from_bytes(data[21:25], "little")  # lossless: 14-bit sizes, then the alpha bit
    if data[12:16] == b"VP8L" and bits >> 28 & 1:
        return (bits & 0x3FFF) + 1, (bits >> 14 & 0x3FFF) + 1
    return None


def flatten(image: np.ndarray) -> np.ndarray:
    """A BGRA image (8 or 16 bits) -> uint8 gray, its transparent pixels filled with a background.

    Why: a drawing app or a web canvas saves the strokes on transparent pixels that are black
    underneath, so read without the alpha the ink and its background are one colour. A viewer
    shows them on white, and so do we; but strokes that are light themselves (a white brush)
    on a mostly transparent image would vanish there, so they get black.
    """
    return on_background(*gray_and_alpha(image))


def gray_and_alpha(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A BGRA image (8 or 16 bits) as two uint8 planes: its gray and its alpha."""
    if image.dtype != np.uint8:
        image = cv2.convertScaleAbs(image, alpha=1 / 257)
    return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY), cv2.extractChannel(image, 3)


def on_background(gray: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """:func:`flatten` of the two planes (both are reused for the result). In uint8, a byte a
    pixel: a canvas is as large as a photo, and float copies of it were 4x its decode."""
    if cv2.minMaxLoc(alpha)[0] == 255:
        return gray
    on_black = cv2.multiply(gray, alpha, dst=gray, scale=1 / 255)  # blended on black
    covered = cv2.sumElems(alpha)[0] / 255  # pixels' worth of opaque strokes
    ink = cv2.sumElems(on_black)[0] / max(covered, 1e-6)  # their mean gray
    if covered < 0.5 * alpha.size and ink >= 128:
        return on_black
    return cv2.add(on_black, cv2.bitwise_not(alpha, dst=alpha), dst=on_black)  # on white


def decode(data: bytes, name: str) -> np.ndarray:
    """Encoded image bytes -> uint8 grayscale, reduced when huge; InputError on anything wrong."""
    return decode_scaled(data, name)[0]


def decode_scaled(data: bytes, name: str) -> tuple[np.ndarray, float]:
    """:func:`decode`, and the factor from decoded to original pixels (1, 2, 4 or 8 or more)."""
    if not data:
        raise InputError(f"{name}: empty file (0 bytes)")
    if data[:2] == b"\xff\xd8" and not jpeg_is_whole(data):
        raise InputError(f"{name}: truncated JPEG (no end-of-image marker)")
    flag, factor = cv2.IMREAD_GRAYSCALE, 1
    size = image_size(data)
    if size is not None:
        pixels = size[0] * size[1]
        if pixels > MAX_IMAGE_PIXELS:
            raise InputError(f"{name}: {size[0]}x{size[1]} is too large to be a photo of a digit")
        factor, flag = next((f, fl) for f, fl in _REDUCED if pixels / (f * f) <= MAX_DECODE_PIXELS)
    transparent = alpha_size(data)
    if transparent is not None:
        return _shrink(_decode_transparent(data, name, transparent))
    image = _imdecode(data, name, flag)
    if factor == 1:  # a format whose header we do not parse may still be huge
        return _shrink(image)
    return image, float(factor)


def _decode_transparent(data: bytes, name: str, size: tuple[int, int]) -> np.ndarray:
    """A PNG or WebP that may hold transparent pixels, decoded with its alpha and flattened.

    Why refuse a larger one: read without its alpha, a drawing on transparent black is one
    colour, and "blank image" would be a wrong answer rather than an error.
    """
    w, h = size
    if w * h > MAX_ALPHA_PIXELS:
        raise InputError(
            f"{name}: {w}x{h} with transparency is too large to read here "
            f"(at most {MAX_ALPHA_SIDE}x{MAX_ALPHA_SIDE}); save it smaller, or without "
            "transparency"
        )
    image = _imdecode(data, name, cv2.IMREAD_UNCHANGED)
    if image.ndim != 3 or image.shape[2] != 4:
        return image  # the header allowed transparency, the pixels have none
    gray, alpha = gray_and_alpha(image)
    del image  # 4 bytes a pixel, freed before the background is laid
    return on_background(gray, alpha)


def _imdecode(data: bytes, name: str, flag: int) -> np.ndarray:
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    except cv2.error as exc:
        raise InputError(f"{name}: OpenCV cannot decode it ({_first_line(exc)})") from None
    if image is None or image.size == 0:
        known = unreadable_format(data)
        if known is not None:
            raise InputError(
                f"{name}: {known}, which this OpenCV cannot read; save it as JPEG or PNG"
            )
        raise InputError(f"{name}: not an image OpenCV can read")
    return image


#: ISO base media brands (the ``ftyp`` box) of the still-image formats phones save.
_HEIF_BRANDS = {b"heic": "HEIC", b"heix": "HEIC", b"heim": "HEIC", b"heis": "HEIC",
                b"hevc": "HEIC", b"hevx": "HEIC", b"mif1": "HEIF", b"msf1": "HEIF",
                b"avif": "AVIF", b"avis": "AVIF"}  # fmt: skip


def unreadable_format(data: bytes) -> str | None:
    """The name of a common image format some OpenCV builds cannot decode, from its header.

    Why: an iPhone saves HEIC by default, some Android phones AVIF, and the Pi's OpenCV reads
    neither (nor GIF): naming the format tells the user what to change.
    """
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[4:8] == b"ftyp":
        return _HEIF_BRANDS.get(data[8:12])
    return None


def _shrink(image: np.ndarray) -> tuple[np.ndarray, float]:
    """A gray image reduced to at most MAX_DECODE_PIXELS, and the factor it was reduced by."""
    if image.ndim == 3:  # a transparent image's own format without alpha (gray or colour)
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.shape[2] == 3 else image[..., 0]
    if image.dtype != np.uint8:
        image = (image // 257).astype(np.uint8)
    if image.size <= MAX_DECODE_PIXELS:
        return image, 1.0
    scale = (MAX_DECODE_PIXELS / image.size) ** 0.5
    dsize = (max(1, int(image.shape[1] * scale)), max(1, int(image.shape[0] * scale)))
    width = image.shape[1]
    return cv2.resize(image, dsize, interpolation=cv2.INTER_AREA), width / dsize[0]


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
