"""The desk beyond a page's edge, found and painted over with the paper next to it.

A phone photo of a digit on a page often shows the desk along one side: a darker band
behind a straight edge. The normalisation's paper estimate lags behind that step, and the
lag along the whole edge outvotes a small digit in the polarity vote (the paper was taken
for light ink); a digit written near the edge joins the band into one blob, which is the
picture's edge and not a digit. Painted with the paper beside it, the band is neither.
docs/edge.md ("The desk beyond the page") has the figures and the limits.
"""

from __future__ import annotations

import cv2
import numpy as np

#: The band is at most this deep (fraction of the picture across the side).
MAX_DEPTH = 0.25
#: The desk is darker than this fraction of the paper beside it, at the edge and at the border.
DESK_DARKER = 0.8
#: A column holds the edge where it brightens inward by this fraction of the picture's mean
#: grey, or more ...
MIN_STEP = 0.1
#: ... and the edge is straight: this share of the columns within ``TOLERANCE`` px of one line.
STRAIGHT = 0.8
TOLERANCE = 2.5
#: Each row is first averaged over this fraction of the side's length: a desk's grain and the
#: paper's noise make steps of their own, the edge's step runs on (15 px at work scale).
ALONG = 1 / 16
_REACH = 3  # px: the step is measured over this many rows (a blurred edge)


def paint_desk(work: np.ndarray) -> np.ndarray | None:
    """``work`` (uint8 gray) with the desk beyond a page's edge on any side painted with the
    paper beside it; None where no side has one (:func:`desk_band`)."""
    img = work.astype(np.float32)
    painted = False
    for _ in range(4):  # each side in turn at the top: a quarter turn at a time
        band = desk_band(img)
        if band is not None:
            img, painted = band, True
        img = np.ascontiguousarray(np.rot90(img))  # rows in memory order: 4x faster
    return np.clip(img, 0, 255).astype(np.uint8) if painted else None


def desk_band(img: np.ndarray) -> np.ndarray | None:
    """``img`` (float32) with the desk along its top side painted over, or None.

    The desk along the top: in each column the step where the picture (averaged over
    ``ALONG`` of its width) brightens most going down, within ``MAX_DEPTH``, lies on one straight
    line in ``STRAIGHT`` of the columns, and what is above it is a desk (:func:`is_desk`).
    """
    h, w = img.shape
    depth = int(MAX_DEPTH * h)
    if w < 16 or depth < 4:
        return None
    along = cv2.blur(img[: depth + _REACH], (max(1, round(ALONG * w)), 1))
    steps = along[_REACH : depth + _REACH] - along[:depth]
    rows = np.argmax(steps, axis=0)
    strong = steps[rows, np.arange(w)] > MIN_STEP * cv2.mean(img)[0]
    line = straight_line(rows, strong, w)
    if line is None:
        return None
    start = np.clip(np.rint(line).astype(int), 0, h - 1)  # per column, where the step begins
    paper = paper_beside(img, start)
    if not is_desk(img, start, float(np.median(paper))):
        return None
    out = img.copy()
    band = np.arange(h)[:, None] <= (start + _REACH)[None, :]  # the step (a blurred edge) too
    out[band] = np.broadcast_to(paper, out.shape)[band]
    return out


def is_desk(img: np.ndarray, start: np.ndarray, paper: float) -> bool:
    """Whether what lies above the step beginning at ``start`` (a row per column) is a desk
    beside ``paper``: darker than ``DESK_DARKER`` of it just above the step and at the border
    (a ruled line near the border has paper beyond it)."""
    h, w = img.shape
    outside = float(np.median(img[np.clip(start - 1, 0, h - 1), np.arange(w)]))
    level = DESK_DARKER * paper
    return outside <= level and float(np.median(img[0])) <= level


def straight_line(rows: np.ndarray, strong: np.ndarray, w: int) -> np.ndarray | None:
    """The row of a straight line through ``rows`` at each of ``w`` columns, or None unless
    ``STRAIGHT`` of all columns lie within ``TOLERANCE`` px of it.

    First through the medians of the ``strong`` columns' rows in the left and right halves
    (a digit's or a ruled line's columns do not pull it), then fitted by least squares to the
    columns near that.
    """
    cols = np.arange(w)
    if np.count_nonzero(strong) < STRAIGHT * w:
        return None
    left, right = strong & (cols < w // 2), strong & (cols >= w // 2)
    if not left.any() or not right.any():
        return None
    x0, x1 = np.median(cols[left]), np.median(cols[right])
    y0, y1 = np.median(rows[left]), np.median(rows[right])
    line = y0 + (y1 - y0) / (x1 - x0) * (cols - x0)
    near = strong & (np.abs(rows - line) <= TOLERANCE)
    if np.count_nonzero(near) < STRAIGHT * w:
        return None
    x, y = cols[near], rows[near]
    slope = float(np.cov(x, y, bias=True)[0, 1] / max(float(np.var(x)), 1e-9))
    line = y.mean() + slope * (cols - x.mean())
    near = strong & (np.abs(rows - line) <= TOLERANCE)
    return line if np.count_nonzero(near) >= STRAIGHT * w else None


def paper_beside(img: np.ndarray, start: np.ndarray) -> np.ndarray:
    """The paper just inside the step beginning at ``start``, per column: the median over a
    strip a tenth of the picture deep, then over a quarter of its width along the edge (a
    digit at the edge is neither)."""
    h, w = img.shape
    strip = max(4, h // 10)
    rows = np.clip(start[None, :] + 2 * _REACH + np.arange(strip)[:, None], 0, h - 1)
    paper = np.partition(img[rows, np.arange(w)[None, :]], strip // 2, axis=0)[strip // 2]
    # a row image's square median is the median along the row (its rows repeat at the border)
    row = np.clip(paper, 0, 255).astype(np.uint8)[None, :]
    return cv2.medianBlur(row, 2 * max(1, w // 8) + 1)[0].astype(np.float32)
