"""From a picture to a reading: preprocessing, the model, and what to tell the user.

:class:`DigitReader` is what the CLI, the camera loop and the benchmarks share. It turns any
image into the model's 28x28 input (see :data:`PREPROCESSING`), runs the model on it with
:meth:`edge.model.DigitClassifier.predict_pixels` (an unsure digit again, shifted:
:mod:`edge.reread`), and returns a :class:`Reading`: label, probability, top-k, or "no
digit", with the time each stage took.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge import confidence
from edge.model import DigitClassifier
from edge.normalize import (
    Normalized,
    NormalizeOptions,
    naive,
    normalize,
    options_for,
    to_gray,
)
from edge.reread import REREAD_BELOW, reread_unsure

#: How a picture becomes the model's input; the first is the default.
PREPROCESSING: dict[str, str] = {
    "mnist": "find the digit and normalise it as MNIST was (photos, scans, any size)",
    "naive": "the tutorials' baseline: gray, invert, resize the whole frame to 28x28",
    "none": "the image is already a 28x28 MNIST-style digit (white on black)",
}
PREPROCESSING_NAMES: tuple[str, ...] = tuple(PREPROCESSING)


@dataclass
class Reading:
    """What the model read in one image."""

    label: str | None  # None: no digit in the image
    probability: float | None
    top_k: list[tuple[str, float]]
    no_digit: str | None = None  # why there is no reading
    box: tuple[int, int, int, int] | None = None  # x, y, w, h of the digit in the image
    #: Milliseconds per stage: invoke, postprocess, preprocess (and what callers add).
    timings_ms: dict[str, float] = field(default_factory=dict)
    #: The 28x28 float image in [0, 1] the model saw (None: no digit, or read_pixels).
    model_input: np.ndarray | None = field(default=None, repr=False)
    #: Below the reader's minimum confidence: label None, the candidates in top_k.
    unsure: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "probability": None if self.probability is None else round(self.probability, 6),
            "top_k": [{"label": lb, "probability": round(p, 6)} for lb, p in self.top_k],
            "no_digit": self.no_digit,
            "unsure": self.unsure,
            "box": list(self.box) if self.box else None,
            "timings_ms": {k: round(v, 4) for k, v in self.timings_ms.items()},
        }


def normalize_options(model: DigitClassifier) -> NormalizeOptions:
    """The normalisation ``model`` was trained for (its manifest's preprocessing)."""
    return options_for(model.manifest.preprocessing if model.manifest else None)


class DigitReader:
    """A model plus its preprocessing: ``read(image) -> Reading``."""

    def __init__(
        self,
        model: DigitClassifier,
        *,
        preprocess: str = "mnist",
        top_k: int = 1,
        options: NormalizeOptions | None = None,  # None: what the model's manifest asks for
        min_confidence: float = 0.0,
        reread_below: float = REREAD_BELOW,
    ) -> None:
        if preprocess not in PREPROCESSING:
            raise ValueError(f"unknown preprocessing {preprocess!r}")
        self.model = model
        self.preprocess = preprocess
        self.top_k = max(1, min(top_k, len(model.labels)))
        self.options = options or normalize_options(model)
        #: Below this top probability a reading is unsure (edge/confidence.py); 0: never.
        self.min_confidence = min_confidence
        #: Below this one the digit is read again, shifted a pixel each way (edge/reread.py).
        self.reread_below = reread_below

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
        """Preprocess, classify and report one image of any size."""
        t0 = time.perf_counter()
        prepared = self.prepare(image)
        preprocess_ms = (time.perf_counter() - t0) * 1e3
        if prepared.image is None:
            return Reading(
                None, None, [], prepared.reason, timings_ms={"preprocess": preprocess_ms}
            )
        reading = self.read_pixels(np.rint(prepared.image * np.float32(255.0)).astype(np.uint8))
        reading.box = prepared.box
        reading.model_input = prepared.image
        reading.timings_ms["preprocess"] = preprocess_ms
        return reading

    def read_pixels(self, pixels: np.ndarray) -> Reading:
        """Classify one uint8 (28, 28) MNIST-style image (no preprocessing at all)."""
        t0 = time.perf_counter()
        probs = self.model.predict_pixels(pixels)
        if probs.max() < self.reread_below:
            many = self.model.predict_pixels_many  # N calls of predict_pixels, exactly
            probs = reread_unsure(probs[None], pixels[None], many, self.reread_below)[0]
        t1 = time.perf_counter()
        best = int(probs.argmax())
        unsure = float(probs[best]) < self.min_confidence
        k = max(self.top_k, confidence.CANDIDATES) if unsure else self.top_k
        # a stable sort puts the lower class first among ties, as argmax does
        order = [best] if k == 1 else np.argsort(-probs, kind="stable")[:k]
        top = [(self.model.labels[int(i)], float(probs[i])) for i in order]
        reading = Reading(None if unsure else top[0][0], top[0][1], top, unsure=unsure)
        reading.timings_ms = {
            "invoke": (t1 - t0) * 1e3,
            "postprocess": (time.perf_counter() - t1) * 1e3,
        }
        return reading
