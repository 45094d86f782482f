"""A second look at a digit the model is unsure of: the mean over it and its four one-pixel
shifts.

Why: centring by mass is exact only to a pixel (MNIST's own digits were centred the same way,
in whole pixels), and an unsure reading is often a misplaced one. A digit read at least
``REREAD_BELOW`` surely is read once, so a confident digit costs what it did; an unsure one
costs four more invokes. Single digits (:class:`edge.pipeline.DigitReader`, ``eval``) and the
digits of a number (:class:`edge.number.NumberReader`) are read this way alike; what it gains
on every set, and why four shifts rather than eight, is measured in docs/edge.md.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edge.model import DigitClassifier

#: A digit whose top probability is under this is read again, shifted (0: never).
REREAD_BELOW = 0.9
SHIFTS = ((-1, 0), (1, 0), (0, -1), (0, 1))  # up, down, left, right (rows, columns)

Predict = Callable[[np.ndarray], np.ndarray]  # images (N, 28, 28) -> probabilities (N, 10)


def reread_unsure(
    probs: np.ndarray, images: np.ndarray, predict: Predict, below: float = REREAD_BELOW
) -> np.ndarray:
    """``probs`` (N, 10) of ``images`` (N, 28, 28), each row whose top probability is under
    ``below`` replaced by the mean of it and ``predict``'s rows for the image rolled a pixel
    up, down, left and right (in place; returned for convenience)."""
    for i in np.flatnonzero(probs.max(axis=1) < below):
        shifted = predict(np.stack([np.roll(images[i], s, axis=(0, 1)) for s in SHIFTS]))
        total = probs[i]
        for row in shifted:  # in turn: the sum is rounded the same way whatever the batch
            total = total + row
        probs[i] = total / (len(SHIFTS) + 1)
    return probs


def read_probabilities(
    model: DigitClassifier, images: np.ndarray, below: float = REREAD_BELOW
) -> np.ndarray:
    """The model's probabilities (N, 10) for float images (N, 28, 28) in [0, 1], the unsure
    ones read again: what ``eval`` measures, as ``classify`` reads."""
    images = np.asarray(images, dtype=np.float32)
    return reread_unsure(model.predict(images), images, model.predict, below)
