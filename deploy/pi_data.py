"""Make the inputs of ``make pi-test`` at run time, from the MNIST copy beside the checkout.

    python deploy/pi_data.py --mnist ../shared/data/mnist --out build/pi-test/data

Writes ``digits/`` (test digits as a user would photograph them: 28x28 PNGs as MNIST has them,
and larger dark-on-white JPEG "photos"), ``digits.avi`` (a short MJPG video of digits on paper
for the headless camera), ``digits.mjpeg`` (its JPEG frames as one MJPEG stream, for
``camera --source -``) and ``expected.json`` (the labels, in order). Nothing here is
committed: the images are cut from MNIST, so they live in the ignored ``build/`` only.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import cv2
import numpy as np

from edge import mnist
from edge.fileio import atomic_path, atomic_write_text
from edge.sources import MjpegReader

FRAME = (480, 640)  # a VGA webcam frame, height x width
FPS = 10


def as_photo(digit: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A 28x28 MNIST digit (white on black) as a grey photo of ink on paper, ``size`` pixels."""
    ink = cv2.resize(digit, (size // 2, size // 2), interpolation=cv2.INTER_CUBIC)
    page = np.full((size, size), 235, np.float32)
    y0, x0 = size // 4 + int(rng.integers(-4, 5)), size // 4 + int(rng.integers(-4, 5))
    page[y0 : y0 + ink.shape[0], x0 : x0 + ink.shape[1]] -= ink.astype(np.float32) * 0.85
    page += rng.normal(0.0, 4.0, page.shape)
    return np.clip(page, 0, 255).astype(np.uint8)


def video_frame(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A BGR webcam frame of a sheet of paper filling the view, the digit written near the middle.

    The sheet fills the frame on purpose: this video checks that host and Pi agree, and a
    paper edge in view makes the digit search borderline (docs/edge.md, "background")."""
    h, w = FRAME
    photo = as_photo(digit, 320, rng)
    frame = np.full((h, w), 235, np.float32) + rng.normal(0.0, 4.0, (h, w))
    frame = np.clip(frame, 0, 255).astype(np.uint8)
    frame[(h - 320) // 2 : (h + 320) // 2, (w - 320) // 2 : (w + 320) // 2] = photo
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)


@click.command()
@click.option("--mnist", "mnist_path", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--images", default=10, show_default=True, help="Test digits to cut (x2 files).")
@click.option("--video-digits", default=6, show_default=True, help="Digits shown in the video.")
@click.option("--frames-per-digit", default=4, show_default=True)
def main(
    mnist_path: Path, out: Path, images: int, video_digits: int, frames_per_digit: int
) -> None:
    """Write the digit images, the video and the expected labels for pi-test."""
    data = mnist.load(mnist_path)
    x, y = data.x_test, data.y_test
    rng = np.random.default_rng(0)
    (out / "digits").mkdir(parents=True, exist_ok=True)

    files = []
    for i in range(images):
        raw = out / "digits" / f"mnist_{i:04d}.png"
        photo = out / "digits" / f"photo_{i:04d}.jpg"
        with atomic_path(raw) as tmp:
            if not cv2.imwrite(str(tmp), x[i]):
                raise click.ClickException(f"cannot write {raw}")
        with atomic_path(photo) as tmp:
            if not cv2.imwrite(str(tmp), as_photo(x[i], 224, rng), [cv2.IMWRITE_JPEG_QUALITY, 90]):
                raise click.ClickException(f"cannot write {photo}")
        files += [(raw.name, int(y[i])), (photo.name, int(y[i]))]

    video = out / "digits.avi"
    start = images  # digits the classify set did not use
    shown = [int(y[start + k]) for k in range(video_digits)]
    with atomic_path(video) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), FPS, FRAME[::-1])
        if not writer.isOpened():
            raise click.ClickException("cv2.VideoWriter cannot write MJPG .avi here")
        for k in range(video_digits):
            for _ in range(frames_per_digit):
                writer.write(video_frame(x[start + k], rng))
        writer.release()

    # The video's own JPEG frames, one after the other: what `rpicam-vid --codec mjpeg -o -`
    # pipes into `camera --source -`, frame for frame the same pictures as digits.avi.
    stream = out / "digits.mjpeg"
    with open(video, "rb") as f:
        reader = MjpegReader(f)
        jpegs = list(iter(reader.next_jpeg, None))
    frames = video_digits * frames_per_digit
    if len(jpegs) != frames:
        raise click.ClickException(f"{video}: {len(jpegs)} JPEG frames, expected {frames}")
    with atomic_path(stream) as tmp:
        tmp.write_bytes(b"".join(jpegs))

    expected = {
        "images": dict(files),
        "video": {
            "file": video.name,
            "frames": video_digits * frames_per_digit,
            "labels": [lab for lab in shown for _ in range(frames_per_digit)],
        },
    }
    atomic_write_text(out / "expected.json", json.dumps(expected, indent=2) + "\n")
    click.echo(
        f"{out}: {len(files)} images, {video.name} ({video_digits * frames_per_digit} frames)"
    )


if __name__ == "__main__":
    main()
