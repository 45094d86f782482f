"""Digits drawn on a screen (a drawing app, a web canvas, a tablet), made at test/bench time.

People who try a digit reader often draw rather than photograph: a stroke of one pen width
on a clean canvas of any size, from a 1-px line on an 800-px canvas to a thick brush, dark
on light or light on dark, with or without anti-aliasing, and no camera at all. A photo set
never shows the thinnest of these: a 1-px line that the device's shrinking to its work size
can break into pieces (docs/real-handwriting.md, "Screen drawings").

Each drawing follows an MNIST *test* digit's pen path: the digit enlarged, its strokes thinned
to a one-pixel skeleton (Zhang and Suen's thinning, 1984), and the skeleton's pixel-to-pixel
links drawn again at the canvas's scale with the chosen pen, so a line stays connected
however thin the pen.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from edge.synth import Sample

CANVAS = (200, 1200)  # px, the canvas's side: a web canvas to a phone's screen
DIGIT_FILL = (0.5, 0.85)  # the digit's height as a fraction of the canvas's
THIN_PEN = (1, 4)  # px, a drawing app's pen, inclusive
BRUSH = (0.06, 0.15)  # a brush's width as a fraction of the digit's height
SKELETON_SCALE = 4  # the MNIST digit is thinned at 4x (112 px): smooth paths, few iterations


def skeleton(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of a binary image: its strokes as connected 1-px lines (0/1 uint8)."""
    img = (mask > 0).astype(np.uint8)
    while True:
        removed = False
        for step in (0, 1):
            p = np.pad(img, 1)
            # the 8 neighbours, clockwise from north: P2 .. P9 in the paper's notation
            n = [p[:-2, 1:-1], p[:-2, 2:], p[1:-1, 2:], p[2:, 2:],
                 p[2:, 1:-1], p[2:, :-2], p[1:-1, :-2], p[:-2, :-2]]  # fmt: skip
            count = sum(x.astype(np.int32) for x in n)
            transitions = sum(
                ((n[i] == 0) & (n[(i + 1) % 8] == 1)).astype(np.int32) for i in range(8)
            )
            if step == 0:
                side = (n[0] * n[2] * n[4] == 0) & (n[2] * n[4] * n[6] == 0)
            else:
                side = (n[0] * n[2] * n[6] == 0) & (n[0] * n[4] * n[6] == 0)
            drop = (img == 1) & (count >= 2) & (count <= 6) & (transitions == 1) & side
            if drop.any():
                img[drop] = 0
                removed = True
        if not removed:
            return img


def pen_path(digit: np.ndarray) -> np.ndarray:
    """The segments (N, 2, 2) of x, y points in [0, 1] that trace an MNIST digit's strokes."""
    size = 28 * SKELETON_SCALE
    big = cv2.resize(digit, (size, size), interpolation=cv2.INTER_CUBIC)
    skel = skeleton(big > 110)
    ys, xs = np.nonzero(skel)
    on = set(zip(ys.tolist(), xs.tolist(), strict=True))
    # links to the right and down; a diagonal one only where no pixel beside it already joins
    # the two, so a staircase is drawn as one line, not as a line with a triangle per step
    segments = [((x, y), (x + 1, y)) for y, x in on if (y, x + 1) in on]
    segments += [((x, y), (x, y + 1)) for y, x in on if (y + 1, x) in on]
    segments += [
        ((x, y), (x + dx, y + 1))
        for y, x in on
        for dx in (-1, 1)
        if (y + 1, x + dx) in on and (y, x + dx) not in on and (y + 1, x) not in on
    ]
    return np.asarray(segments, np.float32).reshape(-1, 2, 2) / size


def draw(path: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A canvas (BGR uint8) with ``path`` drawn by a random pen: thin or brush, either polarity."""
    side = int(rng.integers(CANVAS[0], CANVAS[1] + 1))
    height = side * rng.uniform(*DIGIT_FILL)
    low, high = path.reshape(-1, 2).min(axis=0), path.reshape(-1, 2).max(axis=0)
    extent = np.maximum(high - low, 1e-3)
    scale = min(height / float(extent[1]), 0.85 * side / float(extent[0]))  # a wide 0 fits too
    if rng.random() < 0.5:
        width = int(rng.integers(THIN_PEN[0], THIN_PEN[1] + 1))
    else:
        width = max(2, round(height * rng.uniform(*BRUSH)))
    line = cv2.LINE_AA if rng.random() < 0.5 else cv2.LINE_8
    ink, paper = (0, 255) if rng.random() < 0.7 else (255, 0)
    canvas = np.full((side, side), paper, np.uint8)
    room = np.maximum(side - extent * scale - width, 0)  # where the digit fits whole
    offset = rng.uniform(0.2, 0.8, 2) * room + width / 2 - low * scale
    points = np.rint((path * scale + offset) * 4).astype(np.int32)  # 2 fractional bits
    for a, b in points:
        cv2.line(canvas, tuple(a), tuple(b), ink, width, line, shift=2)
    return cv2.cvtColor(canvas, cv2.COLOR_GRAY2BGR)


def screen_set(
    digits: np.ndarray, labels: np.ndarray, count: int, seed: int = 0
) -> Iterator[Sample]:
    """``count`` screen drawings of MNIST test digits (spread over them), reproducibly."""
    rng = np.random.default_rng(seed + 2)
    picks = rng.choice(len(digits), size=count, replace=count > len(digits))
    for i in picks:
        yield Sample(draw(pen_path(digits[i]), rng), int(labels[i]))
