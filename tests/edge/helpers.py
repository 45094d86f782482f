"""Small helpers the edge tests share (no TensorFlow, so they run in .venv-edge too)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
#: The device-like environment is the one with tflite-runtime (and, by design, no TensorFlow).
DEVICE_ENV = importlib.util.find_spec("tflite_runtime") is not None


def edge_cli(*args: str, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    """Run ``python -m edge ARGS`` in a fresh process (what a user or systemd runs); ``env``
    adds to the environment."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **kwargs.pop("env", {})}
    return subprocess.run(
        [sys.executable, "-m", "edge", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=kwargs.pop("cwd", ROOT),
        **kwargs,
    )


def digit_on_paper(label: int = 3, size: tuple[int, int] = (320, 240)) -> np.ndarray:
    """A clean BGR photo-like image: a dark digit on light paper."""
    w, h = size
    img = np.full((h, w, 3), 215, np.uint8)
    scale = h / 60
    cv2.putText(
        img, str(label), (w // 2 - int(12 * scale), h // 2 + int(14 * scale)),
        cv2.FONT_HERSHEY_SIMPLEX, scale, (30, 30, 30), max(2, int(3 * scale)), cv2.LINE_AA,
    )  # fmt: skip
    return img


def marker_digit(digit: int, stroke: int = 12) -> np.ndarray:
    """A bold digit half a 320x240 frame tall, as a thick marker writes it (strokes of
    ``stroke`` px: wider than the number reader's polarity vote sees at half scale)."""
    img = np.full((240, 320), 235, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), _ = cv2.getTextSize(str(digit), font, 5.0, stroke)
    cv2.putText(img, str(digit), ((320 - tw) // 2, (240 + th) // 2), font, 5.0, 20, stroke,
                cv2.LINE_AA)  # fmt: skip
    return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)


def huge_jpeg(path: Path, digit: str, side: int = 10000) -> Path:
    """A ``side`` x ``side`` JPEG of one big dark digit on light paper (a huge photo)."""
    big = np.full((side, side), 228, np.uint8)
    cv2.putText(big, digit, (side * 3 // 10, side * 7 // 10), cv2.FONT_HERSHEY_SIMPLEX,
                side / 100, 22, side // 20)  # fmt: skip
    ok, data = cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    path.write_bytes(data.tobytes())
    return path


def write_video(
    path: Path, frames: int, size: tuple[int, int] = (320, 240), fps: float = 30.0
) -> Path:
    """An MJPG video of digits (label = frame // 10 % 10) written with cv2.VideoWriter."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened(), "OpenCV cannot write MJPG here"
    tiles = [digit_on_paper(d, size) for d in range(10)]
    for i in range(frames):
        writer.write(tiles[(i // 10) % 10])
    writer.release()
    return path


def strip_on_a_desk(strip: np.ndarray, desk: int, angle: float) -> np.ndarray:
    """A strip of paper (BGR) lying on a darker desk of grey ``desk`` in the middle of a
    640x480 frame, turned ``angle`` degrees; shrunk first if wider than 600 px."""
    frame = np.full((480, 640, 3), desk, np.uint8)
    scale = min(1.0, 600 / strip.shape[1], 400 / strip.shape[0])
    strip = cv2.resize(strip, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    h, w = strip.shape[:2]
    top, left = (480 - h) // 2, (640 - w) // 2
    frame[top : top + h, left : left + w] = strip
    turn = cv2.getRotationMatrix2D((320, 240), angle, 1.0)
    return cv2.warpAffine(frame, turn, (640, 480), borderMode=cv2.BORDER_REPLICATE)
