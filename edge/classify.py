"""One image in, the ``classify --json`` object out: what ``classify`` and ``serve`` both print."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from edge.errors import InputError
from edge.model import DigitClassifier
from edge.pipeline import Reading


def read_image(reader: Any, load: Callable[[], tuple[np.ndarray, float]], name: str) -> Any:
    """Decode (``load`` returns the image and its decoded-to-original scale) and read it with
    a DigitReader (or a NumberReader: the result is then a NumberReading).

    Boxes are reported in the original's pixels, and the timings gain "read" (decoding) and
    "total", as ``classify`` prints them. InputError naming ``name`` for an image that
    ``--preprocess none`` cannot feed to the model.
    """
    t0 = time.perf_counter()
    image, factor = load()
    read_ms = (time.perf_counter() - t0) * 1e3
    if getattr(reader, "preprocess", None) == "none":
        check_model_sized(image, factor, name)
    reading = reader.read(image)
    if factor != 1:  # report the file's own pixels
        scale_boxes(reading, factor)
    reading.timings_ms = {"read": read_ms, **reading.timings_ms}
    reading.timings_ms["total"] = sum(reading.timings_ms.values())
    return reading


def check_model_sized(image: np.ndarray, factor: float, name: str) -> None:
    """``--preprocess none`` gives the model the file's pixels as they are, so any other size
    than 28x28 is a mistake in the command (a photo needs ``--preprocess mnist``), not a
    picture without a digit; the size named is the file's own, not the reduced decode's."""
    height, width = image.shape[:2]
    if (height, width) != (28, 28):
        size = f"{round(width * factor)}x{round(height * factor)}"
        raise InputError(
            f"{name}: --preprocess none reads 28x28 MNIST-style digits, this image is {size} "
            f"(--preprocess mnist finds and normalises the digit in a photo)"
        )


def scale_boxes(reading: Any, factor: float) -> None:
    if hasattr(reading, "scale_boxes"):  # a NumberReading: every digit's box
        reading.scale_boxes(factor)
    elif reading.box is not None:
        reading.box = tuple(round(v * factor) for v in reading.box)


def image_record(name: str, reading: Any, model: DigitClassifier) -> dict[str, Any]:
    """The ``classify --json`` object: a Reading's or NumberReading's fields (only the
    label's when None)."""
    fields = reading.as_dict() if reading is not None else {"label": None}
    return {
        "path": name,
        **fields,
        "runtime": model.runtime.describe(),
        "model": str(model.path),
        "error": None,
    }


def failed_record(
    name: str, message: str, model: DigitClassifier, number: bool, min_confidence: float
) -> dict[str, Any]:
    """A failed input's ``classify --json`` object: every key a reading has (nothing read:
    nulls and empty lists; the threshold the others were read with), so a consumer reads one
    shape and checks ``error``."""
    from edge.number import NumberReading

    if not number:
        return {**image_record(name, Reading(None, None, []), model), "error": message}
    record = image_record(name, NumberReading("", [], min_confidence=min_confidence), model)
    record["number"] = None  # "" means an image read and no digit found in it
    return {**record, "error": message}
