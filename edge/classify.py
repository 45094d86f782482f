"""One image in, the ``classify --json`` object out: what ``classify`` and ``serve`` both print."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from edge.model import DigitClassifier
from edge.pipeline import Reading


def read_image(reader: Any, load: Callable[[], tuple[np.ndarray, float]]) -> Any:
    """Decode (``load`` returns the image and its decoded-to-original scale) and read it with
    a DigitReader (or a NumberReader: the result is then a NumberReading).

    Boxes are reported in the original's pixels, and the timings gain "read" (decoding) and
    "total", as ``classify`` prints them.
    """
    t0 = time.perf_counter()
    image, factor = load()
    read_ms = (time.perf_counter() - t0) * 1e3
    reading = reader.read(image)
    if factor != 1:  # report the file's own pixels
        scale_boxes(reading, factor)
    reading.timings_ms = {"read": read_ms, **reading.timings_ms}
    reading.timings_ms["total"] = sum(reading.timings_ms.values())
    return reading


def scale_boxes(reading: Any, factor: float) -> None:
    if hasattr(reading, "scale_boxes"):  # a NumberReading: every digit's box
        reading.scale_boxes(factor)
    elif reading.box is not None:
        reading.box = tuple(round(v * factor) for v in reading.box)


def image_record(name: str, reading: Reading | None, model: DigitClassifier) -> dict[str, Any]:
    """The ``classify --json`` object (a reading's fields, or only the error's when None)."""
    fields = reading.as_dict() if reading is not None else {"label": None}
    return {
        "path": name,
        **fields,
        "runtime": model.runtime.describe(),
        "model": str(model.path),
        "error": None,
    }
