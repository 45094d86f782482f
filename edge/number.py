"""Read a whole number: every digit in the image, in lines, each read as a single digit would be.

A page holds more than digits: specks and paper texture, ruled or grid lines, the page's edge,
shadows; and digits come broken (the bar of a 5, the two strokes of a 4), touching, or of
different sizes. The steps, all pure functions on arrays:

    gray -> ink image at a scale where digits are about 40 px tall (edge.normalize's paper,
         polarity and lighting) -> long straight lines erased -> connected parts
         -> specks, lines and edges dropped -> pieces joined to their digit
         -> lines (slope allowed) -> too-wide blobs split -> each digit through
         edge.normalize's crop / fit / centre -> the model, as one digit

The ink is found by :mod:`edge.number_ink`, the parts sorted, joined, lined up and split by
:mod:`edge.number_parts`, both set by :class:`edge.number_options.NumberOptions`; this module
runs the steps in order and reads the digits. The rules and their limits are in docs/edge.md
("Reading a number"). :class:`NumberReader` runs them and returns a :class:`NumberReading`,
which the CLI and the camera loop print like a single-digit :class:`edge.pipeline.Reading`.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from edge.normalize import BLANK, DigitRegion, digit_patches, to_gray
from edge.number_ink import (
    Ink,
    closer_look,
    closer_scale,
    decimal_point,
    digits_region,
    first_look,
    first_sizes,
    on_paper,
    strong_lines,
    without_faint,
    without_lines,
)
from edge.number_options import DEFAULT_NUMBER_OPTIONS, NumberOptions
from edge.number_parts import (
    Outlines,
    Part,
    find_dots,
    group_lines,
    join_broken,
    part_mask,
    sort_parts,
    split_touching,
    typical_height,
)
from edge.pipeline import DigitReader
from edge.reread import reread_unsure


@dataclass(frozen=True)
class FoundDigit:
    """One digit of the number: the 28x28 image the model will see, and where it was."""

    image: np.ndarray  # float32 (28, 28) in [0, 1], as edge.normalize makes it
    box: tuple[int, int, int, int]  # x, y, w, h in the input image's pixels
    line: int  # 0 for the first (top) line
    point_after: bool = False  # a decimal point follows it (NumberOptions.decimal_point)


@dataclass(frozen=True)
class Segmentation:
    """The digits in reading order (lines top to bottom, each left to right), or why none."""

    digits: list[FoundDigit]
    reason: str = ""


def segment(image: np.ndarray, options: NumberOptions = DEFAULT_NUMBER_OPTIONS) -> Segmentation:
    """Any image -> its digits as MNIST-style 28x28 images in reading order (no model needed):
    :func:`locate` them, then :func:`normalise_digits`."""
    return normalise_digits(locate(image, options), options)


@dataclass(frozen=True)
class Located:
    """Where the digits of an image are: each part in reading order with its line, on the ink
    it was found in; or, with no parts, why there are none."""

    placed: list[tuple[Part, int]]
    ink: Ink | None = None
    outlines: Outlines = ()
    reason: str = ""
    points: frozenset[int] = frozenset()  # indices into placed followed by a decimal point


def locate(image: np.ndarray, options: NumberOptions = DEFAULT_NUMBER_OPTIONS) -> Located:
    """The digits' places in ``image``, not yet normalised.

    A first look at the whole image finds the digits' height and region (:func:`look_first`);
    when they are small there, a closer look at that region alone finds them again, larger,
    and the rules of joining, lines and splitting place them (:func:`place_digits`).
    """
    return place_digits(look_first(image, options), options)


@dataclass(frozen=True)
class FirstLook:
    """What the first look at an image found: the digit-sized parts and the pieces on its ink,
    their typical height, and what a closer look needs (the grey image, the paper under the
    ink and the polarity). ``ink.mask`` None: the image is blank."""

    gray: np.ndarray
    ink: Ink
    paper: np.ndarray
    inverted: bool
    outlines: Outlines = ()
    height: float = 0.0
    digits: list[Part] = field(default_factory=list)
    pieces: list[Part] = field(default_factory=list)
    dots: list[Part] = field(default_factory=list)  # with decimal_point: dot-shaped parts


def look_first(image: np.ndarray, options: NumberOptions = DEFAULT_NUMBER_OPTIONS) -> FirstLook:
    """The first half of :func:`locate`: the whole image at 320 px, then larger while no
    digit is found (rules 1-4 at that scale)."""
    gray = to_gray(image)
    for size in first_sizes(gray.shape, options):
        ink, paper, inverted = first_look(gray, size, options)
        if ink.mask is None:
            continue
        floor = max(4.0, options.min_size * min(ink.mask.shape))
        length = options.line_length * max(ink.mask.shape)
        over_digits = (options.line_over_digits, floor)
        ink, parts, outlines = without_lines(ink, length, gray.shape, over_digits=over_digits)
        # every part votes: what spans the picture and is not a digit touched its edge and
        # was dropped, so a number cut close keeps its tallest digits' height
        parts = without_faint(parts, ink, floor, ink.mask.shape[0] + 1, options)
        height = typical_height(parts, floor, ink.mask.shape[0] + 1)
        digits, pieces = sort_parts(parts, height, floor, options)
        if digits:
            break
    if ink.mask is None:
        return FirstLook(gray, ink, paper, inverted)
    dots = find_dots(parts, height) if options.decimal_point else []
    return FirstLook(gray, ink, paper, inverted, outlines, height, digits, pieces, dots)


def place_digits(first: FirstLook, options: NumberOptions = DEFAULT_NUMBER_OPTIONS) -> Located:
    """The second half of :func:`locate`: the closer look where the first one found the digits
    small (rules 1-4 again, at their scale), then broken strokes joined, lines grouped, faint
    lines dropped and touching digits split (rules 5-8)."""
    if first.ink.mask is None:
        return Located([], reason=BLANK)
    ink, outlines, height = first.ink, first.outlines, first.height
    digits, pieces, dots = first.digits, first.pieces, first.dots
    scale = closer_scale(ink, height, options)
    if scale is not None and digits:
        gray = first.gray
        box, scale = digits_region(digits + pieces, ink, height, gray.shape, scale, options)
        expected = height * scale / ink.scale
        ink = closer_look(gray, box, scale, ink, first.paper, first.inverted, expected, options)
        if ink.mask is None:
            return Located([], reason=BLANK)
        ink, parts, outlines = without_lines(
            ink, 2.5 * expected, gray.shape, max(3, round(0.12 * expected))
        )
        floor = options.speck * expected
        parts = without_faint(parts, ink, floor, 2.5 * expected, options)
        height = typical_height(parts, floor, 2.5 * expected)
        digits, pieces = sort_parts(parts, height, floor, options)
        dots = find_dots(parts, height) if options.decimal_point else []
    lines = group_lines(join_broken(digits + pieces, height, options))
    lines = [on_paper(line, ink, first.gray, first.inverted) for line in lines]
    placed = []  # (part, line) in reading order
    points: set[int] = set()  # indices into placed of the digits a decimal point follows
    for n, line in enumerate(strong_lines([line for line in lines if line], ink, options)):
        line_height = float(statistics.median(p.h for p in line))
        split = [
            part
            for joined in line
            for part in split_touching(joined, line_height, ink.mask, outlines, options)
        ]
        after = decimal_point(split, dots, line_height, ink) if dots else None
        if after is not None:
            points.add(len(placed) + after)
        placed += [(part, n) for part in split]
    return Located(placed, ink, outlines, points=frozenset(points))


def normalise_digits(located: Located, options: NumberOptions) -> Segmentation:
    """The located digits as the model's 28x28 inputs, each with its box in the input's
    pixels (a part whose ink vanishes is dropped)."""
    if located.ink is None:
        return Segmentation([], located.reason)
    ink, placed = located.ink, located.placed
    found = [
        FoundDigit(digit, ink.to_input(part), n, i in located.points)
        for i, ((part, n), digit) in enumerate(
            zip(placed, to_mnist(placed, ink, located.outlines, options), strict=True)
        )
        if digit is not None
    ]
    if not found:
        return Segmentation([], "no digit: no digit-sized ink in the image")
    return Segmentation(found)


def to_mnist(
    placed: list[tuple[Part, int]], ink: Ink, outlines: Outlines, options: NumberOptions
) -> list[np.ndarray | None]:
    """The parts through edge.normalize's crop, fit and centring, each with its own ink peak
    (None: no ink left). All of a frame's digits at once (normalize.digit_patches)."""
    regions = [_region(part, ink, outlines) for part, _ in placed]
    found = [r for r in regions if r is not None]
    patches = iter(
        digit_patches(
            ink.flat, ink.mask, [r for r, _ in found], [p for _, p in found], options.normalize
        )
    )
    return [None if r is None else next(patches)[0] for r in regions]


def _region(part: Part, ink: Ink, outlines: Outlines) -> tuple[DigitRegion, float] | None:
    """The part as a digit region of the ink, and its ink peak; None without ink.

    A piece cut from a touching blob is outlined again within its box; a whole part's
    outlines are its blobs' own.
    """
    box = (slice(part.y0, part.y1), slice(part.x0, part.x1))
    if part.cut:
        own = part_mask(part, ink.mask, outlines)
        found, _ = cv2.findContours(
            own, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE, offset=(part.x0, part.y0)
        )
        contours, peak = tuple(found), cv2.minMaxLoc(ink.flat[box], own)[1]
    else:
        contours, peak = tuple(outlines[i] for i in part.blobs), cv2.minMaxLoc(ink.flat[box])[1]
    if not contours or peak <= 0:
        return None
    return DigitRegion((part.x0, part.y0, part.x1, part.y1), contours), peak


@dataclass
class DigitInNumber:
    """One digit as read: its label, the model's probability, its box and line."""

    label: str
    probability: float
    box: tuple[int, int, int, int]
    line: int
    image: np.ndarray | None = field(default=None, repr=False)  # the 28x28 the model saw
    unsure: bool = False  # below --min-confidence: "?" in the number, the best guess here
    point_after: bool = False  # a decimal point follows it: "." after it in the number

    def as_dict(self) -> dict[str, Any]:
        out = {
            "label": self.label,
            "probability": round(self.probability, 6),
            "box": list(self.box),
            "unsure": self.unsure,
        }
        if self.point_after:  # only with --decimal-point, so other output stays as it was
            out["point_after"] = True
        return out


@dataclass
class NumberReading:
    """A number as read; quacks like :class:`edge.pipeline.Reading` for the camera loop
    (``label`` is the number, ``probability`` the lowest digit's, ``box`` around them all)."""

    number: str
    digits: list[DigitInNumber]
    no_digit: str | None = None
    min_confidence: float = 0.0
    timings_ms: dict[str, float] = field(default_factory=dict)
    model_input: None = None  # a number has no single 28x28 input
    top_k: list[tuple[str, float]] = field(default_factory=list)

    @property
    def label(self) -> str | None:
        return self.number if self.digits else None

    @property
    def probability(self) -> float | None:
        return min((d.probability for d in self.digits), default=None)

    @property
    def box(self) -> tuple[int, int, int, int] | None:
        if not self.digits:
            return None
        x0 = min(d.box[0] for d in self.digits)
        y0 = min(d.box[1] for d in self.digits)
        x1 = max(d.box[0] + d.box[2] for d in self.digits)
        y1 = max(d.box[1] + d.box[3] for d in self.digits)
        return (x0, y0, x1 - x0, y1 - y0)

    def scale_boxes(self, factor: float) -> None:
        """Boxes in another image's pixels (the file's, when it was decoded reduced)."""
        for d in self.digits:
            d.box = tuple(round(v * factor) for v in d.box)  # type: ignore[assignment]

    def as_dict(self) -> dict[str, Any]:
        low = self.probability
        return {
            "number": self.number,
            # The number again, for consumers of one label (MQTT, Home Assistant); None: none.
            "label": self.label,
            "digits": [d.as_dict() for d in self.digits],
            "lowest_probability": None if low is None else round(low, 6),
            "min_confidence": self.min_confidence,
            # As a single digit's: some digit is below --min-confidence ("?" in the number).
            "unsure": any(d.unsure for d in self.digits),
            "no_digit": self.no_digit,
            "box": list(self.box) if self.box else None,
            "timings_ms": {k: round(v, 4) for k, v in self.timings_ms.items()},
        }


def number_string(digits: list[DigitInNumber], min_confidence: float = 0.0) -> str:
    """The digits' labels in order, a newline between lines, ``?`` for a digit read with a
    probability below ``min_confidence``."""
    out, line = [], 0
    for d in digits:
        if out and d.line != line:
            out.append("\n")
        line = d.line
        out.append("?" if d.unsure or d.probability < min_confidence else d.label)
        out.append("." if d.point_after else "")
    return "".join(out)


@dataclass(frozen=True)
class FoundNumber:
    """What :meth:`NumberReader.find` hands to :meth:`NumberReader.finish`: the first look at
    one image, the digits normalised too when ``find`` went on to them, and the milliseconds
    it took."""

    first: FirstLook
    ms: float
    segmentation: Segmentation | None = None  # None: finish places and normalises them


class NumberReader:
    """Segmentation plus a :class:`DigitReader`'s model: ``read(image) -> NumberReading``.

    Each digit reads exactly as the model's single-image path (``predict_pixels``) reads it,
    as a DigitReader's does (``predict_pixels_many``: one invoke for all of them where that is
    exact); the best class is kept even when unsure (it shows as "?").
    """

    def __init__(
        self,
        reader: DigitReader,
        options: NumberOptions | None = None,
        min_confidence: float = 0.0,
        decimal_point: bool = False,
    ) -> None:
        self.reader = reader
        self.model = reader.model  # what the camera loop and serve name the runtime from
        # None: the reader's normalisation (the model's manifest) and second look, as its
        # single digits get.
        base = options or dataclasses.replace(
            DEFAULT_NUMBER_OPTIONS, normalize=reader.options, reread_below=reader.reread_below
        )
        self.options = dataclasses.replace(base, decimal_point=True) if decimal_point else base
        self.min_confidence = min_confidence

    def classify(self, pixels: np.ndarray) -> np.ndarray:
        """The model's probabilities (N, 10) for uint8 digits (N, 28, 28), a digit whose top
        one is under ``reread_below`` read again, shifted a pixel each way
        (:mod:`edge.reread`, as a single digit is)."""
        predict = self.model.predict_pixels_many
        return reread_unsure(predict(pixels), pixels, predict, self.options.reread_below)

    def read(self, image: np.ndarray) -> NumberReading:
        """Find, normalise and classify every digit of ``image``; never raises for content."""
        return self.finish(self.find(image))

    def find(self, image: np.ndarray, whole: bool = False) -> FoundNumber:
        """The first part of :meth:`read`: the first look at ``image`` (:func:`look_first`);
        ``whole``: all of the segmentation (the digits placed and normalised too), so that
        :meth:`finish` has only the model left to run.

        The camera loop runs it on its decoding thread (edge.camera.frame_items) while the
        loop finishes the previous frame, and asks for the whole when the loop is behind: the
        split of the work between the two threads then follows whichever is the slower.
        """
        t0 = time.perf_counter()
        first = look_first(image, self.options)
        segmentation = self.digits_of(first) if whole else None
        return FoundNumber(first, (time.perf_counter() - t0) * 1e3, segmentation)

    def digits_of(self, first: FirstLook) -> Segmentation:
        """The digits placed (:func:`place_digits`: the closer look and rules 5-8) and
        normalised: all of :meth:`read` between the first look and the model."""
        return normalise_digits(place_digits(first, self.options), self.options)

    def finish(self, found: FoundNumber) -> NumberReading:
        """The rest of :meth:`read`: the digits segmented, unless :meth:`find` did it
        already, and read by the model."""
        t0 = time.perf_counter()
        segmentation = found.segmentation
        if segmentation is None:
            segmentation = self.digits_of(found.first)
        t1 = time.perf_counter()
        digits, labels = [], self.model.labels
        if segmentation.digits:
            images = np.stack([d.image for d in segmentation.digits])
            probs = self.classify(np.rint(images * np.float32(255.0)).astype(np.uint8))
            for d, p in zip(segmentation.digits, probs, strict=True):
                best = int(p.argmax())
                unsure = float(p[best]) < self.min_confidence
                digits.append(
                    DigitInNumber(
                        labels[best], float(p[best]), d.box, d.line, d.image, unsure, d.point_after
                    )
                )
        t2 = time.perf_counter()
        return NumberReading(
            number_string(digits, self.min_confidence),
            digits,
            segmentation.reason or None,
            self.min_confidence,
            {"preprocess": found.ms + (t1 - t0) * 1e3, "invoke": (t2 - t1) * 1e3},
        )
