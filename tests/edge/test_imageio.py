"""Finding and reading input images: every bad input fails alone, with a one-line reason."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge import imageio
from edge.errors import InputError
from tests.edge.helpers import digit_on_paper, huge_jpeg


@pytest.fixture
def images(tmp_path):
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "a.png"), digit_on_paper(1))
    cv2.imwrite(str(tmp_path / "sub" / "b.jpg"), digit_on_paper(2))
    cv2.imwrite(str(tmp_path / "sub" / "deeper" / "c.bmp"), digit_on_paper(3))
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_expand_folders_recursively_and_sorted(images):
    found = list(imageio.expand([str(images)]))
    assert [s.path.name for s in found] == ["a.png", "b.jpg", "c.bmp"]
    assert all(s.error is None for s in found)


def test_expand_globs_files_and_missing(images):
    found = list(imageio.expand([str(images / "sub" / "**" / "*.*"), str(images / "a.png"),
                                 str(images / "nope.png"), str(images / "*.gif")]))  # fmt: skip
    names = [s.path.name if s.path else None for s in found]
    assert names == ["b.jpg", "c.bmp", "a.png", None, None]
    assert "no such file or directory" in found[3].error
    assert "matches no files" in found[4].error


def test_a_folder_of_gifs_is_read_or_each_named_unreadable(tmp_path):
    """A folder's GIFs are its inputs: read where this OpenCV reads GIF (the 4.14 wheel), each
    named unreadable where not (4.11, Debian's 4.6), never "folder holds no images"."""
    (tmp_path / "a.gif").write_bytes(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")
    (source,) = imageio.expand([str(tmp_path)])
    assert source.path == tmp_path / "a.gif" and source.error is None


def test_empty_folder(tmp_path):
    (source,) = imageio.expand([str(tmp_path)])
    assert source.path is None and "no images" in source.error


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        imageio.read(tmp_path / "missing.png")


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InputError, match=r"empty file \(0 bytes\)"):
        imageio.read(tmp_path / "empty.png")


def test_truncated_jpeg(tmp_path):
    _, data = cv2.imencode(".jpg", digit_on_paper(5, (640, 480)))
    (tmp_path / "cut.jpg").write_bytes(data.tobytes()[: len(data) // 2])
    with pytest.raises(InputError, match="truncated JPEG"):
        imageio.read(tmp_path / "cut.jpg")


def with_thumbnail(jpeg: bytes) -> bytes:
    """The JPEG with an APP1 segment holding a small JPEG (a thumbnail) before its pixels, as
    a phone's Exif block does: a second end-of-image marker near the start of the file."""
    _, thumb = cv2.imencode(".jpg", digit_on_paper(5, (160, 120)))
    payload = b"Exif\x00\x00" + thumb.tobytes()
    return jpeg[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


def test_a_truncated_jpeg_with_a_thumbnail_is_still_truncated(tmp_path):
    _, data = cv2.imencode(".jpg", digit_on_paper(5, (640, 480)))
    whole = with_thumbnail(data.tobytes())
    (tmp_path / "cut.jpg").write_bytes(whole[: len(whole) - len(data) // 2])
    with pytest.raises(InputError, match="truncated JPEG"):
        imageio.read(tmp_path / "cut.jpg")


def test_a_motion_photo_reads_as_its_still_image():
    """Pixel and Samsung phones append the video of a motion photo after the JPEG's end: the
    file ends in megabytes of MP4, not in the end-of-image marker, and is not truncated."""
    still = cv2.cvtColor(digit_on_paper(3, (640, 480)), cv2.COLOR_BGR2GRAY)
    _, data = cv2.imencode(".jpg", still, [cv2.IMWRITE_JPEG_QUALITY, 95])
    video = b"\x00\x00\x00\x18ftypmp42" + bytes(
        np.random.default_rng(0).integers(0, 256, 1 << 20, np.uint8)
    )
    image = imageio.decode(with_thumbnail(data.tobytes()) + video, "PXL_MP.jpg")
    assert image.shape == still.shape
    assert np.mean(np.abs(image.astype(int) - still)) < 3


def test_text_file_named_png(tmp_path):
    (tmp_path / "fake.png").write_text("hello, I am not a picture\n")
    with pytest.raises(InputError, match="not an image OpenCV can read"):
        imageio.read(tmp_path / "fake.png")


def test_header_sizes():
    img = np.zeros((37, 53, 3), np.uint8)
    for ext in (".png", ".jpg", ".bmp"):
        _, data = cv2.imencode(ext, img)
        assert imageio.image_size(data.tobytes()) == (53, 37), ext
    assert imageio.image_size(b"GIF89a....") is None


def test_huge_image_is_decoded_reduced(tmp_path):
    """10000x10000: the header says so, libjpeg decodes at 1/8: ~1.6 MB instead of 300 MB."""
    path = huge_jpeg(tmp_path / "huge.jpg", "7")
    image = imageio.read(path)
    assert image.shape == (1250, 1250) and image.dtype == np.uint8


def test_absurd_dimensions_are_refused_before_decoding():
    header = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (100000).to_bytes(4, "big") * 2
    with pytest.raises(InputError, match="too large"):
        imageio.decode(header + b"\x00" * 32, "bomb.png")


def with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """The JPEG with an APP1 Exif segment holding only the Orientation tag (0x0112), as a phone
    writes when it stores the sensor's pixels and says how to turn them."""
    tiff = b"MM\x00\x2a" + (8).to_bytes(4, "big") + (1).to_bytes(2, "big")
    tiff += b"\x01\x12" + (3).to_bytes(2, "big") + (1).to_bytes(4, "big")
    tiff += orientation.to_bytes(2, "big") + b"\x00\x00" + (0).to_bytes(4, "big")
    payload = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


@pytest.mark.parametrize("side", [480, 6000])
def test_phone_photo_is_turned_as_its_exif_orientation_says(side):
    """A phone held upright stores its sensor's pixels sideways with Orientation 6 (turn 90°
    clockwise to view); the decoder turns them, at full and at reduced size, or every portrait
    photo would reach the model on its side."""
    upright = cv2.cvtColor(digit_on_paper(7, (side * 3 // 4, side)), cv2.COLOR_BGR2GRAY)
    stored = np.ascontiguousarray(np.rot90(upright))  # 90° counterclockwise, as the sensor saw it
    _, data = cv2.imencode(".jpg", stored, [cv2.IMWRITE_JPEG_QUALITY, 95])
    image, factor = imageio.decode_scaled(with_exif_orientation(data.tobytes(), 6), "phone.jpg")
    assert image.shape[0] > image.shape[1]  # portrait, as the user saw it
    expected = cv2.resize(upright, image.shape[::-1], interpolation=cv2.INTER_AREA)
    assert np.mean(np.abs(image.astype(int) - expected)) < 3
    assert factor == (1.0 if side == 480 else 4.0)  # 6000x4500 decoded at 1/4


def canvas_drawing(ink: int, size: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """A digit as a drawing app or a web canvas saves it: strokes of gray ``ink`` on transparent
    pixels that are black underneath (BGRA), and how a viewer shows it (gray, 0-1 coverage)."""
    coverage = np.zeros((size, size), np.uint8)
    cv2.putText(coverage, "3", (size // 4, size * 4 // 5), cv2.FONT_HERSHEY_SIMPLEX, size / 40,
                255, size // 14, cv2.LINE_AA)  # fmt: skip
    bgra = np.zeros((size, size, 4), np.uint8)
    bgra[..., :3] = np.where(coverage[..., None] > 0, ink, 0)
    bgra[..., 3] = coverage
    return bgra, coverage.astype(np.float32) / 255


@pytest.mark.parametrize("ext", [".png", ".webp"])
@pytest.mark.parametrize(("ink", "background"), [(20, 255), (240, 0)])
def test_transparent_drawing_is_seen_on_a_background(ext, ink, background):
    """Without its alpha such an image is one colour, ink and background alike ("no ink" for
    every drawing); dark strokes go on white as a viewer shows them, light ones on black."""
    bgra, coverage = canvas_drawing(ink)
    params = [cv2.IMWRITE_WEBP_QUALITY, 101] if ext == ".webp" else []  # 101: lossless
    _, data = cv2.imencode(ext, bgra, params)
    assert imageio.alpha_size(data.tobytes()) == (200, 200)
    image = imageio.decode(data.tobytes(), "drawing" + ext)
    expected = ink * coverage + background * (1 - coverage)
    assert np.abs(image.astype(np.float32) - expected).max() <= 1.5
    assert np.ptp(image) > 200  # the digit stands out


def test_a_4096_canvas_is_read_with_its_alpha_and_a_larger_one_is_refused():
    """4096x4096 is the largest canvas many drawing apps make: its strokes are seen on white
    (read without alpha, as above 16 MP before, it was "blank image"). A larger transparent
    image is an error naming its size, not a wrong "no digit"."""
    small, _ = canvas_drawing(20, 512)
    bgra = cv2.resize(small, (4096, 4096), interpolation=cv2.INTER_NEAREST)
    _, data = cv2.imencode(".png", bgra, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    image, factor = imageio.decode_scaled(data.tobytes(), "canvas.png")
    assert image.shape == (2000, 2000) and factor == 4096 / 2000
    assert image[0, 0] == 255 and image.min() <= 21  # white paper, the stroke's own gray
    ihdr = (
        b"\x00\x00\x00\rIHDR" + (4097).to_bytes(4, "big") + (4096).to_bytes(4, "big") + b"\x08\x06"
    )
    with pytest.raises(InputError, match=r"canvas\.png: 4097x4096 with transparency is too large"):
        imageio.decode(b"\x89PNG\r\n\x1a\n" + ihdr + b"\x00" * 32, "canvas.png")


def test_opaque_and_mostly_opaque_alpha_keep_their_own_paper():
    """A screenshot saved with alpha (all opaque) reads as its colours; a page with a few
    transparent pixels around it has its own light paper, so they become white, not black."""
    page = np.full((100, 120, 4), 255, np.uint8)
    page[40:60, 50:70, :3] = 10
    assert np.array_equal(imageio.flatten(page), cv2.cvtColor(page[..., :3], cv2.COLOR_BGR2GRAY))
    page[:, :8, 3] = 0  # a transparent strip, black underneath
    page[:, :8, :3] = 0
    flat = imageio.flatten(page)
    assert flat[:, :8].min() == 255 and flat[45, 55] == 10


def test_headers_without_alpha_are_decoded_as_before():
    gray = cv2.cvtColor(digit_on_paper(4), cv2.COLOR_BGR2GRAY)
    for ext in (".png", ".jpg", ".webp"):
        _, data = cv2.imencode(ext, gray)
        assert imageio.alpha_size(data.tobytes()) is None, ext


@pytest.mark.parametrize(
    ("header", "name"),
    [(b"GIF89a\x01\x00\x01\x00", "GIF"), (b"GIF87a\x01\x00\x01\x00", "GIF"),
     (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "HEIC"),
     (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00", "HEIF"),
     (b"\x00\x00\x00\x20ftypavif\x00\x00\x00\x00", "AVIF"),
     (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00", None), (b"\x89PNG\r\n\x1a\n", None)],
)  # fmt: skip
def test_phone_formats_are_named_from_their_header(header, name):
    assert imageio.unreadable_format(header) == name


def test_an_undecodable_iphone_photo_names_its_format(tmp_path):
    """A HEIC header with no picture behind it: no OpenCV build decodes this one."""
    photo = tmp_path / "IMG_0001.HEIC"
    photo.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 200)
    with pytest.raises(InputError) as err:
        imageio.read(photo)
    assert str(err.value) == (
        f"{photo}: HEIC, which this OpenCV cannot read; save it as JPEG or PNG"
    )
