"""From a picture to a reading: preprocessing, the model, and what to tell the user.

:class:`DigitReader` is what the CLI, the camera loop and the benchmarks share. It turns any
image into the model's 28x28 input (see :data:`PREPROCESSING`), runs the model through the
single-image fast path of :class:`edge.model.DigitClassifier`, and returns a :class:`Reading`:
label, probability, top-k, or "no digit", with the time each stage took.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from edge.model import DigitClassifier
from edge.normalize import DEFAULT_OPTIONS, Normalized, NormalizeOptions, naive, normalize, to_gray

#: How a picture becomes the model's input; the first is the default.
PREPROCESSING: dict[str, str] = {
    "mnist": "find the digit and normalise it as MNIST was (photos, scans, any size)",
    "naive": "the tutorials' baseline: gray, invert, resize the whole frame to 28x28",
    "none": "the image is already a 28x28 MNIST-style digit (white on black)",
}
PREPROCESSING_NAMES: tuple[str, ...] = tuple(PREPROCESSING)


class Reading:
    """What the model read in one image.

    A plain slotted class rather than a dataclass so that the 28x28 fast path builds it in a
    fraction of a microsecond: ``timings_ms`` and ``model_input`` are made on first access
    from what the fast path kept (clock stamps, and the caller's uint8 28x28 array itself, not
    a copy: modify it in place only after reading ``model_input``). Both can be assigned.
    """

    __slots__ = (
        "_model_input",
        "_pixels",
        "_stamps",
        "_timings",
        "box",
        "label",
        "no_digit",
        "probability",
        "top_k",
    )  # fmt: skip

    def __init__(
        self,
        label: str | None,  # None: no digit in the image
        probability: float | None,
        top_k: list[tuple[str, float]],
        no_digit: str | None = None,  # why there is no reading
        box: tuple[int, int, int, int] | None = None,  # x, y, w, h of the digit in the image
        timings_ms: dict[str, float] | None = None,
        model_input: np.ndarray | None = None,  # the 28x28 float image the model saw
    ) -> None:
        self.label = label
        self.probability = probability
        self.top_k = top_k
        self.no_digit = no_digit
        self.box = box
        self._timings = {} if timings_ms is None else timings_ms
        self._stamps: tuple[float, ...] | None = None
        self._model_input = model_input
        self._pixels: np.ndarray | None = None

    @property
    def timings_ms(self) -> dict[str, float]:
        """Milliseconds per stage: invoke, postprocess, preprocess (and what callers add)."""
        if self._stamps is not None:  # (t0, t1, t2[, preprocess start, preprocess end])
            st, self._stamps = self._stamps, None
            t = {"invoke": (st[1] - st[0]) * 1e3, "postprocess": (st[2] - st[1]) * 1e3}
            if len(st) == 5:
                t["preprocess"] = (st[4] - st[3]) * 1e3
            self._timings = t
        return self._timings

    @timings_ms.setter
    def timings_ms(self, value: dict[str, float]) -> None:
        self._stamps, self._timings = None, value

    @property
    def model_input(self) -> np.ndarray | None:
        """The 28x28 float image in [0, 1] the model saw (None: no digit)."""
        if self._model_input is None and self._pixels is not None:
            self._model_input = self._pixels.astype(np.float32) / np.float32(255.0)
        return self._model_input

    @model_input.setter
    def model_input(self, value: np.ndarray | None) -> None:
        self._model_input, self._pixels = value, None

    def __repr__(self) -> str:
        return (
            f"Reading(label={self.label!r}, probability={self.probability!r}, "
            f"top_k={self.top_k!r}, no_digit={self.no_digit!r}, box={self.box!r}, "
            f"timings_ms={self.timings_ms!r})"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "probability": None if self.probability is None else round(self.probability, 6),
            "top_k": [{"label": lb, "probability": round(p, 6)} for lb, p in self.top_k],
            "no_digit": self.no_digit,
            "box": list(self.box) if self.box else None,
            "timings_ms": {k: round(v, 4) for k, v in self.timings_ms.items()},
        }


class DigitReader:
    """A model plus its preprocessing: ``read(image) -> Reading``."""

    def __init__(
        self,
        model: DigitClassifier,
        *,
        preprocess: str = "mnist",
        top_k: int = 1,
        options: NormalizeOptions = DEFAULT_OPTIONS,
    ) -> None:
        if preprocess not in PREPROCESSING:
            raise ValueError(f"unknown preprocessing {preprocess!r}")
        self.model = model
        self.preprocess = preprocess
        self.top_k = max(1, min(top_k, len(model.labels)))
        self.options = options
        self._out = model.output_params
        self._quantized_out = self._out.is_quantized
        self._labels = model.labels
        self._invoke_pixels = model.invoke_pixels
        # The 28x28 hot path (see _hot_path): read_pixels, and read itself with --preprocess
        # none, where the closure is bound as the instance's `read` (one call, no method layer).
        # Chosen here from preprocess and top_k: make a new reader to change them.
        self._hot_pixels = self._hot_read = None
        if self.top_k == 1:
            self._hot_pixels = _hot_path(model, self._labels, self._classify, False)
            if preprocess == "none":
                self._hot_read = _hot_path(model, self._labels, self._read_general, True)
        if self._hot_read is not None:
            self.read = self._hot_read  # type: ignore[method-assign]

    def prepare(self, image: np.ndarray) -> Normalized:
        """The model's input for ``image`` as float (28, 28) in [0, 1], or why there is none."""
        if self.preprocess == "mnist":
            return normalize(image, self.options)
        if self.preprocess == "naive":
            return Normalized(naive(image))
        gray = to_gray(image)
        if gray.shape != (28, 28):
            return Normalized(None, f"no digit: --preprocess none needs 28x28, got {gray.shape}")
        return Normalized(gray.astype(np.float32) / np.float32(255.0))

    def read(self, image: np.ndarray) -> Reading:
        """Preprocess, classify and report one image of any size (replaced on the instance by
        the 28x28 hot path where that applies: see __init__)."""
        return self._read_general(image)

    def _read_general(self, image: np.ndarray) -> Reading:
        t0 = _clock()
        prepared = self.prepare(image)
        t1 = _clock()
        if prepared.image is None:
            return Reading(None, None, [], prepared.reason, None, {"preprocess": (t1 - t0) * 1e3})
        pixels = np.rint(prepared.image * np.float32(255.0)).astype(np.uint8)
        reading = self._classify(pixels)
        reading._stamps += (t0, t1)
        reading.box = prepared.box
        reading.model_input = prepared.image
        return reading

    def read_pixels(self, pixels: np.ndarray) -> Reading:
        """Classify one uint8 (28, 28) MNIST-style image (no preprocessing at all)."""
        if self._hot_pixels is not None:
            return self._hot_pixels(pixels)
        return self._classify(pixels)

    def _classify(self, pixels: np.ndarray) -> Reading:
        """The general path: any fixed batch, any input table, top-k."""
        t0 = _clock()
        raw = self._invoke_pixels(pixels)
        t1 = _clock()
        reading = self._reading(raw)
        reading._stamps = (t0, t1, _clock())
        return reading

    def _reading(self, raw: np.ndarray) -> Reading:
        # Dequantization is monotonic (scale > 0), so the ranking is read off the raw integers
        # and only the top-k values are converted.
        labels = self._labels
        if self.top_k == 1:
            best = int(raw.argmax())
            label, p = labels[best], self._prob(raw[best])
            return Reading(label, p, [(label, p)])
        order = np.argsort(raw)[::-1][: self.top_k]
        top = [(labels[int(i)], self._prob(raw[int(i)])) for i in order]
        return Reading(top[0][0], top[0][1], top)

    def _prob(self, q: Any) -> float:
        if self._quantized_out:
            return (int(q) - self._out.zero_point) * self._out.scale
        return float(q)


_clock = time.perf_counter


def _hot_path(
    model: DigitClassifier,
    labels: list[str],
    fallback: Callable[[np.ndarray], Reading],
    preprocessing: bool,
) -> Callable[[np.ndarray], Reading] | None:
    """Top-1 reading of a uint8 (28, 28) image, ``fallback(image)`` for any other image.

    None where the model has no zero-copy single-image memory (a fixed batch, a 16-bit input
    table). What ``model.invoke_pixels`` + ``_reading`` do, with every constant in a closure cell
    instead of an attribute: the table lookup written straight into the interpreter's input
    memory (bytes.translate for 8-bit input: 0.55 µs, cv2.LUT for float32: 0.75 µs), invoke,
    argmax on the output memory (its flat index is the class) and only the winning value
    dequantized; nothing is copied in or out. ``preprocessing``: this is ``read`` with
    ``--preprocess none``, so the image check is timed as "preprocess" and the image is kept
    for ``model_input``. The same values as the general path: tests/edge/test_pipeline.py.
    """
    memory, view = model.memory, model._pixel_view
    if memory is None or view is None:
        return None
    table = model.pixel_table
    byte_table = table.view(np.uint8).tobytes() if table.itemsize == 1 else None
    as_bytes = memoryview(memory.input).cast("B") if byte_table is not None else None
    lut, invoke, output = cv2.LUT, memory.invoke, memory.output
    params = model.output_params
    quantized, zero_point, scale = params.is_quantized, params.zero_point, params.scale
    clock, ndarray, uint8, shape = _clock, np.ndarray, _UINT8, _MNIST_SHAPE
    new = object.__new__

    def hot(pixels: np.ndarray) -> Reading:
        t0 = clock()
        # dtype by identity: NumPy's builtin dtypes are singletons; anything else falls back
        if type(pixels) is not ndarray or pixels.dtype is not uint8 or pixels.shape != shape:
            return fallback(pixels)
        ti = clock() if preprocessing else t0
        if as_bytes is not None:
            as_bytes[:] = pixels.tobytes().translate(byte_table)
        else:
            lut(pixels, table, view)  # in place: uint8 (28, 28) in, the input's dtype out
        invoke()
        t1 = clock()
        best = output.argmax()
        p = output.item(best)
        if quantized:
            p = (p - zero_point) * scale
        label = labels[best]
        # Reading(label, p, [(label, p)]) with its slots set directly: 80 ns less
        reading = new(Reading)
        reading.label, reading.probability, reading.top_k = label, p, [(label, p)]
        reading.no_digit = reading.box = reading._timings = reading._model_input = None
        if preprocessing:
            # uint8 -> /255 (prepare) -> x255, rint (read) is the identity on all 256 values,
            # so the pixels went in as they are; model_input is made from them when asked for
            reading._stamps = (ti, t1, clock(), t0, ti)
            reading._pixels = pixels
        else:
            reading._stamps = (t0, t1, clock())
            reading._pixels = None
        return reading

    return hot


_UINT8 = np.dtype(np.uint8)
_MNIST_SHAPE = (28, 28)
