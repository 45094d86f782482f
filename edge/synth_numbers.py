"""Synthetic photos of handwritten numbers, made at run time from MNIST test digits.

A number is 2-10 MNIST *test* digits in a row, each cropped to its ink and placed after the
previous one with a gap drawn from "touching" (overlapping by up to half a stroke) to "wide"
(four strokes), sizes varying by ±12% and baselines by ±5% of the height, the whole line sloped
up to ±5°, and photographed like the single digits of :mod:`edge.synth` (paper, pen, uneven
light and shadow, blur, noise, JPEG) in a 640x480 frame. The **page** flavour adds what real
pages hold: ruled or grid lines, specks of dirt, a pen skip breaking a stroke, a darker table
beyond the page's edge.

The gap is measured in stroke widths (the digit's mean stroke width, as
:func:`edge.normalize.stroke_width` measures it), so "at least half a stroke" is a property of
each sample: :attr:`NumberSample.min_gap`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from edge.normalize import stroke_width
from edge.number import number_string
from edge.synth import expose, mnist_ink, page_marks, rotate

FRAME = (640, 480)
DIGITS = (2, 10)  # digits per number
GAP_STROKES = (-0.5, 4.0)  # gap between digits' ink, in stroke widths (negative: overlapping)
SIZE_JITTER = 0.12
BASELINE_JITTER = 0.05
MAX_SLOPE = 5.0  # degrees


@dataclass(frozen=True)
class NumberSample:
    """One synthetic photo of a number: the BGR frame, its digits, and the narrowest gap."""

    image: np.ndarray
    number: str
    min_gap: float  # narrowest gap between neighbours' ink, in stroke widths
    indices: tuple[int, ...] = ()  # which of the given digits were written, in order


def tight(ink: np.ndarray, level: float = 0.2) -> np.ndarray:
    """The ink cropped to the rows and columns where it exceeds ``level``."""
    rows = np.flatnonzero((ink > level).any(axis=1))
    cols = np.flatnonzero((ink > level).any(axis=0))
    if rows.size == 0:
        return ink
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def compose(
    digits: list[np.ndarray],
    height: float,
    gaps: list[float],
    rng: np.random.Generator,
    point: tuple[int, float] | None = None,
) -> tuple[np.ndarray, float]:
    """MNIST digits side by side as one ink image, ``gaps`` (in strokes) between them; with
    ``point`` (index, diameter in strokes), a round dot on the baseline after that digit, in
    the middle of its gap (which the caller made wide enough).

    Returns the ink and the narrowest gap actually made, in stroke widths. A gap is measured
    between the columns where the two digits' ink exceeds 20% (the same level both crop at).
    """
    inks = []
    for d in digits:
        size = height * (1.0 + rng.uniform(-SIZE_JITTER, SIZE_JITTER))
        inks.append(tight(mnist_ink(d, size)))
    strokes = [max(1.0, stroke_width(np.rint(i * 255).astype(np.uint8))) for i in inks]
    stroke = float(np.median(strokes))
    pad = int(0.6 * height)
    tallest = max(i.shape[0] for i in inks)
    widths = [i.shape[1] for i in inks]
    offsets = [pad]
    for w, gap in zip(widths[:-1], gaps, strict=True):
        offsets.append(offsets[-1] + w + round(gap * stroke))
    canvas = np.zeros((tallest + 2 * pad, offsets[-1] + widths[-1] + pad), np.float32)
    base = pad + tallest
    for ink, x in zip(inks, offsets, strict=True):
        h, w = ink.shape
        bottom = base - round(rng.uniform(-BASELINE_JITTER, BASELINE_JITTER) * height)
        region = canvas[bottom - h : bottom, x : x + w]
        np.maximum(region, ink, out=region)  # overlapping ink does not add up past the pen
    if point is not None:
        k, diameter = point
        r = diameter * stroke / 2.0
        cx = offsets[k] + widths[k] + (offsets[k + 1] - offsets[k] - widths[k]) / 2.0
        cy = base - r - rng.uniform(-BASELINE_JITTER, BASELINE_JITTER) * height
        centre = (round(cx * 4), round(cy * 4))  # 2 fractional bits (shift=2)
        cv2.circle(canvas, centre, round(r * 4), 1.0, -1, cv2.LINE_AA, shift=2)
    made = [(offsets[i + 1] - offsets[i] - widths[i]) / stroke for i in range(len(inks) - 1)]
    return canvas, min(made) if made else float("inf")


def break_stroke(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A pen skip: a short band (1-2 px) across the ink at a random inked point is lifted."""
    ys, xs = np.nonzero(ink > 0.5)
    if ys.size == 0:
        return ink
    out = ink.copy()
    i = int(rng.integers(ys.size))
    angle = rng.uniform(0, np.pi)
    reach = 0.15 * ink.shape[0]
    dx, dy = np.cos(angle) * reach, np.sin(angle) * reach
    p0 = (int(xs[i] - dx), int(ys[i] - dy))
    p1 = (int(xs[i] + dx), int(ys[i] + dy))
    cv2.line(out, p0, p1, 0.0, int(rng.integers(1, 3)))
    return out


def number_set(
    digits: np.ndarray,
    labels: np.ndarray,
    count: int,
    seed: int = 0,
    length: int | tuple[int, int] = DIGITS,
    page: bool = False,
    gap: tuple[float, float] = GAP_STROKES,
    point: bool = False,
) -> Iterator[NumberSample]:
    """``count`` photos of numbers (``length`` digits, or a range), reproducibly from ``seed``.

    ``page``: on ruled/grid paper with specks, a broken stroke and maybe the page's edge.
    ``point``: a decimal point (a dot 1-2 strokes across) after a random digit but the
    last, its gap widened to hold it with 0.5-1.5 strokes each side; the number has a ".".
    """
    rng = np.random.default_rng(seed + 1000)
    lo, hi = (length, length) if isinstance(length, int) else length
    fw, fh = FRAME
    for _ in range(count):
        n = int(rng.integers(lo, hi + 1))
        picks = rng.choice(len(digits), size=n)
        # Tall enough to read, short enough that n digits and their gaps fit in the frame.
        height = min(rng.uniform(40, 110), 0.8 * fw / (n * 0.95 + 0.6))
        gaps = list(rng.uniform(*gap, size=n - 1))
        inks = [digits[i] for i in picks]
        dot = None
        if point:  # drawn only here, so the other sets' numbers stay as they were
            k, diameter = int(rng.integers(n - 1)), float(rng.uniform(1.0, 2.0))
            gaps[k] = diameter + float(rng.uniform(1.0, 3.0))
            dot = (k, diameter)
        line, narrowest = compose(inks, height, gaps, rng, dot)
        if page:
            line = break_stroke(line, rng)
        line = rotate(line, rng.uniform(-MAX_SLOPE, MAX_SLOPE))
        lh, lw = line.shape
        if lw > fw or lh > fh:
            f = min(fw / lw, fh / lh)
            line = cv2.resize(line, (int(lw * f), int(lh * f)), interpolation=cv2.INTER_AREA)
            lh, lw = line.shape
        top, left = int(rng.integers(0, fh - lh + 1)), int(rng.integers(0, fw - lw + 1))
        alpha = np.zeros((fh, fw), np.float32)
        alpha[top : top + lh, left : left + lw] = line * rng.uniform(0.8, 1.0)
        if page:
            alpha = np.maximum(alpha, page_marks((fh, fw), height, rng))
        number = "".join(str(int(labels[i])) for i in picks)
        if dot is not None:
            number = number[: dot[0] + 1] + "." + number[dot[0] + 1 :]
        yield NumberSample(expose(alpha, rng), number, narrowest, tuple(int(i) for i in picks))


# -- measuring a reader on them --------------------------------------------------------------------

#: The sets ``digit-edge eval --numbers N`` reads: name -> (seed, number_set arguments, what).
NUMBER_SETS: dict[str, tuple[int, dict[str, Any], str]] = {
    "numbers": (0, {}, "2-10 digits, gaps from touching to wide"),
    "4-digit": (1, {"length": 4, "gap": (0.5, 4.0)}, "4 digits, gaps of half a stroke or more"),
    "page": (2, {"page": True, "gap": (0.5, 4.0)},
             "2-10 digits on ruled/grid paper, specks, a broken stroke, maybe a table edge"),
    "decimal": (3, {"point": True, "gap": (0.5, 4.0)},
                "2-10 digits with a decimal point, read with --decimal-point"),
}  # fmt: skip

#: The set ``eval --numbers N --usps FILE`` adds: strips of ten USPS digits (real writers).
USPS_SET: tuple[str, int, dict[str, Any], str] = (
    "usps-10", 4, {"length": 10, "gap": (0.5, 4.0)},
    "10 USPS digits (real writers), gaps of half a stroke or more",
)  # fmt: skip


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: the digits to insert, delete or change to turn ``a`` into ``b``."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        diagonal, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (ca != cb))
    return row[-1]


@dataclass
class NumberAccuracy:
    """How one reader read one set of numbers."""

    name: str
    count: int = 0
    exact: int = 0  # numbers read exactly (all lines joined)
    digits: int = 0  # digits written
    edits: int = 0  # edit distance summed over the numbers
    seconds: float = 0.0  # in the reader's read() alone
    # At a minimum confidence (0: none applies): the numbers read as a user sees them, a "?"
    # for each digit under it, as `classify --number` shows them.
    min_confidence: float = 0.0
    exact_at_p: int = 0  # read exactly, no "?"
    unsure_at_p: int = 0  # with a "?": the reader says it is not sure
    wrong_at_p: int = 0  # wrong without a "?": a wrong number given as sure

    def add(self, truth: str, read: str, seconds: float, at_p: str | None = None) -> None:
        """One number: ``read`` as read (no threshold), ``at_p`` with its "?" at
        ``min_confidence`` (None: as ``read``)."""
        read = read.replace("\n", "")
        self.count += 1
        self.exact += read == truth
        self.digits += len(truth)
        self.edits += edit_distance(read, truth)
        self.seconds += seconds
        shown = read if at_p is None else at_p.replace("\n", "")
        self.exact_at_p += shown == truth
        self.unsure_at_p += "?" in shown
        self.wrong_at_p += "?" not in shown and shown != truth

    def as_dict(self) -> dict[str, Any]:
        out = {
            "set": self.name,
            "count": self.count,
            "exact": self.exact / max(self.count, 1),
            "per_digit": 1.0 - self.edits / max(self.digits, 1),
            "numbers_per_second": self.count / self.seconds if self.seconds > 0 else None,
        }
        if self.min_confidence > 0:
            out["with_min_confidence"] = {
                "min_confidence": self.min_confidence,
                "exact": self.exact_at_p,
                "unsure": self.unsure_at_p,
                "wrong": self.wrong_at_p,
                "wrong_without": self.count - self.exact,
            }
        return out


def measure_numbers(
    readers: list[Any],
    samples: Iterator[NumberSample],
    name: str,
    on_sample: Callable[[], None] | None = None,
    min_confidences: list[float] | None = None,
) -> list[NumberAccuracy]:
    """Exact-number and per-digit accuracy (1 - edit distance / digits) of each reader
    (an :class:`edge.number.NumberReader`), and its numbers per second on these 640x480
    frames; each sample is made once for all readers.

    The figures are of the numbers as read (each digit's best class, whatever its
    probability); with ``min_confidences`` (one per reader, 0: none) also as shown at that
    threshold, a "?" for each digit under it: read exactly, unsure, or wrong without a "?".
    """
    thresholds = min_confidences or [0.0] * len(readers)
    results = [NumberAccuracy(name, min_confidence=p) for p in thresholds]
    clock = time.perf_counter
    for sample in samples:
        for reader, result in zip(readers, results, strict=True):
            t0 = clock()
            reading = reader.read(sample.image)
            seconds = clock() - t0
            at_p = number_string(reading.digits, result.min_confidence)
            result.add(sample.number, reading.number, seconds, at_p)
        if on_sample is not None:
            on_sample()
    return results
