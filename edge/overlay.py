"""What a viewer sees on a frame: the digit's box, the reading and the FPS, drawn on a copy.

Shared by the window of ``camera`` and the picture ``serve`` streams, so both show the same.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from edge.pipeline import Reading

BOX_COLOUR = (0, 200, 0)  # BGR
TEXT_COLOUR = (0, 0, 255)
FPS_COLOUR = (255, 0, 0)


def draw(frame: np.ndarray, reading: Reading, fps: float) -> np.ndarray:
    """A BGR copy of ``frame`` (grey frames are converted) with the reading drawn on it."""
    view = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR) if frame.ndim == 2 else frame.copy()
    scale = max(0.5, view.shape[0] / 480)  # text readable on small and large frames alike
    # A box per digit of a number (--number: a NumberReading), else the digit's one.
    boxes = [d.box for d in reading.digits] if hasattr(reading, "digits") else [reading.box]
    for box in boxes:
        if box is not None:
            x, y, w, h = box
            cv2.rectangle(view, (x, y), (x + w, y + h), BOX_COLOUR, max(1, round(2 * scale)))
    label = None if reading.label is None else reading.label.replace("\n", " / ")  # lines
    if getattr(reading, "unsure", False):  # below --min-confidence: a digit not vouched for
        text = f"?  {whole_percent(reading.probability)}"
    elif label is not None:
        text = f"{label}  {whole_percent(reading.probability)}"
    else:
        text = "no digit"
    thick = max(1, round(2 * scale))
    cv2.putText(view, text, (10, round(32 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale,
                TEXT_COLOUR, thick)  # fmt: skip
    cv2.putText(view, f"{fps:.1f} FPS", (10, round(62 * scale)), cv2.FONT_HERSHEY_SIMPLEX,
                0.7 * scale, FPS_COLOUR, thick)  # fmt: skip
    return view


def whole_percent(probability: float) -> str:
    """Rounded down: 99.6% shows as 99%, so 100% means the model left no doubt at all."""
    return f"{math.floor(probability * 100)}%"
