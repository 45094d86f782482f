"""Read a whole number: every digit in the image, in lines, each read as a single digit would be.

A page holds more than digits: specks and paper texture, ruled or grid lines, the page's edge,
shadows; and digits come broken (the bar of a 5, the two strokes of a 4), touching, or of
different sizes. The steps, all pure functions on arrays:

    gray -> ink image at a scale where digits are about 40 px tall (edge.normalize's paper,
         polarity and lighting) -> long straight lines erased -> connected parts
         -> specks, lines and edges dropped -> pieces joined to their digit
         -> lines (slope allowed) -> too-wide blobs split -> each digit through
         edge.normalize's crop / fit / centre -> the model, as one digit

The rules and their limits are in docs/edge.md ("Reading a number"). :class:`NumberReader`
runs them and returns a :class:`NumberReading`, which the CLI and the camera loop print like a
single-digit :class:`edge.pipeline.Reading`.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from edge.normalize import (
    BLANK,
    DEFAULT_OPTIONS,
    DigitRegion,
    NormalizeOptions,
    digit_patches,
    flatten_illumination,
    ink_image,
    stroke_mask,
    stroke_width,
    to_gray,
    to_work_scale,
)
from edge.pipeline import DigitReader
from edge.reread import REREAD_BELOW, reread_unsure

#: Outer contours of the ink's blobs, as cv2.findContours returns them.
Outlines = Sequence[np.ndarray]


@dataclass(frozen=True)
class NumberOptions:
    """The rules of segmentation, as fractions of the digit height where they are sizes."""

    first_size: int = 320  # the first look: the longer side shrunk to this
    digit_height: float = 40.0  # then rescaled so digits are about this tall (px) ...
    rescale_below: float = 34.0  # ... when they are shorter than this at the first look
    max_size: int = 1600  # never more than this on the longer side (time and memory)
    min_size: float = 0.025  # ink shorter than this fraction of the image's shorter side: speck
    speck: float = 0.3  # parts smaller than this (longer side, x digit height): not digits
    piece: float = 0.55  # parts shorter than this are pieces of a digit (the bar of a 5)
    overlap: float = 0.4  # a piece joins the digit it overlaps by this fraction of its width
    stack: float = 0.6  # two tall parts overlapping this much of the narrower: one digit
    local_floor: float = 0.4  # the local ink peak is at least this fraction of the image's
    window: float = 0.15  # first look: the local peak is the strongest ink this near (x side)
    closer_window: float = 0.5  # closer look: ... this near (x digit height)
    faint_line: float = 0.5  # a line of digits with fainter ink than this x the strongest: none
    dark_paper: float = 0.5  # ... or on paper darker than this x the brightest line's
    reread_below: float = REREAD_BELOW  # a digit read less surely is read again (edge.reread)
    small_digit: float = 0.45  # a lone piece this tall (x digit height) is a small digit
    max_width: float = 1.25  # a blob wider than this x its height is touching digits
    cut_pull: float = 1.0  # a cut a fifth of a digit off the even split costs this x the most ink
    line_length: float = 0.3  # straight ink this long (x the longer side): a ruled line
    line_over_digits: float = 1.5  # ... and (first look) this long x the typical part's height
    line_width: float = 0.12  # ... and thinner than this (x digit height)
    decimal_point: bool = False  # report a dot on the baseline between two digits as "."
    normalize: NormalizeOptions = DEFAULT_OPTIONS


DEFAULT_NUMBER_OPTIONS = NumberOptions()


@dataclass(slots=True)  # not frozen: a frame makes dozens, and frozen ones are slower to make
class Part:
    """One blob of ink (or a group of them read as one digit): its box and outlines. Never
    changed once made (joining two makes a third)."""

    x0: int
    y0: int
    x1: int  # exclusive
    y1: int
    area: int
    blobs: tuple[int, ...]  # its blobs' indices in the outline list; only ink within the box
    cut: bool = False  # a piece of a touching blob: its blobs reach beyond the box

    @property
    def w(self) -> int:
        return self.x1 - self.x0

    @property
    def h(self) -> int:
        return self.y1 - self.y0

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2.0


def join(a: Part, b: Part) -> Part:
    """One part made of two (a broken stroke)."""
    return Part(
        min(a.x0, b.x0), min(a.y0, b.y0), max(a.x1, b.x1), max(a.y1, b.y1),
        a.area + b.area, a.blobs + b.blobs,
    )  # fmt: skip


def x_overlap(a: Part, b: Part) -> float:
    """Columns shared by the two, as a fraction of the narrower one's width."""
    return max(0, min(a.x1, b.x1) - max(a.x0, b.x0)) / max(1, min(a.w, b.w))


def y_overlap(a: Part, b: Part) -> float:
    """Rows shared by the two, as a fraction of the shorter one's height."""
    return max(0, min(a.y1, b.y1) - max(a.y0, b.y0)) / max(1, min(a.h, b.h))


# -- 1. the ink -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ink:
    """Ink of (a region of) the image: bright on black, its mask, and where it lies."""

    flat: np.ndarray
    mask: np.ndarray | None  # None: blank (no ink stronger than the noise)
    peak: float
    scale: float  # ink pixels per input pixel
    origin: tuple[int, int] = (0, 0)  # the input pixel (x, y) at the ink's top-left corner
    lines: np.ndarray | None = None  # long straight lines found (erase_lines), 1 px, 255
    paper: np.ndarray | None = None  # the paper's brightness under the ink, same size

    def to_input(self, part: Part) -> tuple[int, int, int, int]:
        """The part's box as x, y, w, h in the input image's pixels."""
        s, (ox, oy) = self.scale, self.origin
        return (
            ox + int(part.x0 / s), oy + int(part.y0 / s),
            max(1, round(part.w / s)), max(1, round(part.h / s)),
        )  # fmt: skip


def ink_mask(
    flat: np.ndarray, window: float, options: NumberOptions
) -> tuple[np.ndarray | None, float]:
    """The stroke mask, thresholded like edge.normalize's but against the *local* ink peak.

    A single digit's threshold is 40% of its own peak; in a number, one faint digit beside
    bold ones would lose its strokes to 40% of the bold ones' peak. So each pixel's peak is the
    strongest ink within about ``window`` px (a max filter on 4x4 blocks), but never under
    ``local_floor`` of the image's peak, so paper noise far from any digit is no ink.
    """
    norm = options.normalize
    smooth = cv2.blur(flat, (3, 3)) if min(flat.shape) >= 3 else flat
    peak = float(smooth.max())
    if peak < norm.min_contrast * 255.0:
        return None, peak
    h, w = smooth.shape
    if min(h, w) < 8:  # too small for blocks, and for lighting to vary: one peak
        return stroke_mask(flat, norm)
    # The max over 4x4 blocks (a 4x4 dilation sampled every 4th pixel), then over the window
    # on that 16x smaller grid: a third of the cost of the window at full size. The floor and
    # the threshold are applied there too, before the nearest-pixel resize copies each value
    # over its block: the same thresholds, on a 16th of the pixels.
    blocks = np.ascontiguousarray(cv2.dilate(smooth, _BLOCK)[2::4, 2::4])
    k = max(1, round(window / 4)) | 1
    local = cv2.dilate(blocks, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    local = cv2.multiply(cv2.max(local, options.local_floor * peak), norm.threshold)
    local = cv2.resize(local, (w, h), interpolation=cv2.INTER_NEAREST)
    return cv2.compare(smooth, local, cv2.CMP_GT), peak


_BLOCK = cv2.getStructuringElement(cv2.MORPH_RECT, (4, 4))


def first_sizes(shape: tuple[int, ...], options: NumberOptions) -> list[int]:
    """The longer sides to take a first look at, in turn until one finds a digit: 320 px,
    then twice that up to the image's own size (thin strokes of small digits in a large
    photo fade when averaged down to 320)."""
    longest, sizes = max(shape[:2]), [options.first_size]
    while sizes[-1] < min(longest, options.max_size):
        sizes.append(min(2 * sizes[-1], longest, options.max_size))
    return sizes


def first_look(gray: np.ndarray, size: int, options: NumberOptions) -> tuple[Ink, np.ndarray, bool]:
    """The whole image with its longer side at ``size``: its ink, paper and polarity, as
    edge.normalize sees them (the same functions, at a similar scale)."""
    work, scale = to_work_scale(gray, size)
    flat, paper, inverted = ink_image(work, options.normalize, thin_ink_is_dark(work))
    mask, peak = ink_mask(flat, options.window * min(flat.shape), options)
    return Ink(flat, mask, peak, scale, paper=paper), paper, inverted


def thin_ink_is_dark(work: np.ndarray) -> bool:
    """The polarity from thin features only: dark strokes (black-hat) against bright ones
    (white top-hat), a 5x5 ellipse at half the first look's scale, the strong ones (above 15% of the
    largest) summed as edge.normalize.is_dark_on_light sums its differences.

    Why not that vote: a page holds long edges (a dark table beyond the page, a hard
    shadow), and the median's lag along them votes "bright ink" on the paper's side; the
    morphology follows a step edge, so only strokes vote here.
    """
    half = cv2.resize(work, (max(1, work.shape[1] // 2), max(1, work.shape[0] // 2)),
                      interpolation=cv2.INTER_AREA)  # fmt: skip
    dark = cv2.morphologyEx(half, cv2.MORPH_BLACKHAT, _STROKE_KERNEL)
    bright = cv2.morphologyEx(half, cv2.MORPH_TOPHAT, _STROKE_KERNEL)
    t = 0.15 * max(cv2.minMaxLoc(dark)[1], cv2.minMaxLoc(bright)[1])
    dark_sum = cv2.sumElems(cv2.threshold(dark, t, 0, cv2.THRESH_TOZERO)[1])[0]
    bright_sum = cv2.sumElems(cv2.threshold(bright, t, 0, cv2.THRESH_TOZERO)[1])[0]
    return dark_sum >= bright_sum


_STROKE_KERNEL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))


def closer_look(
    gray: np.ndarray,
    box: tuple[int, int, int, int],
    scale: float,
    first: Ink,
    paper: np.ndarray,
    inverted: bool,
    height: float,
    options: NumberOptions,
) -> Ink:
    """The region ``box`` (x0, y0, x1, y1 in input pixels) at ``scale``, flattened against the
    first look's paper (resized): only where the digits are, so small digits in a large
    image cost what the region costs. The lines the first look found come along (resized),
    as a region shows too little of a line to find it again."""
    x0, y0, x1, y1 = box
    size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
    shrink = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    region = cv2.resize(gray[y0:y1, x0:x1], size, interpolation=shrink)
    if options.normalize.smooth > 0:
        region = cv2.GaussianBlur(region, (0, 0), options.normalize.smooth)
    s = first.scale
    rows = slice(int(y0 * s), max(int(y0 * s) + 1, round(y1 * s)))
    cols = slice(int(x0 * s), max(int(x0 * s) + 1, round(x1 * s)))
    under = cv2.resize(paper[rows, cols], size, interpolation=cv2.INTER_LINEAR)
    flat = flatten_illumination(region, under, inverted)
    mask, peak = ink_mask(flat, options.closer_window * height, options)
    lines = first.lines
    if lines is not None:
        lines = cv2.resize(lines[rows, cols], size, interpolation=cv2.INTER_NEAREST)
    return Ink(flat, mask, peak, scale, (x0, y0), lines, under)


def closer_scale(first: Ink, height: float, options: NumberOptions) -> float | None:
    """The scale for a closer look, or None when the first look's digits are tall enough.

    Digits shorter than ``rescale_below`` px lose the gaps between them (half a stroke is a
    pixel at 25 px): look again with them about ``digit_height`` tall, never above the
    input's own pixels.
    """
    if height <= 0 or height >= options.rescale_below:
        return None
    scale = min(1.0, first.scale * options.digit_height / height)
    return scale if scale > 1.2 * first.scale else None


def digits_region(
    parts: list[Part],
    first: Ink,
    height: float,
    shape: tuple[int, ...],
    scale: float,
    options: NumberOptions,
) -> tuple[tuple[int, int, int, int], float]:
    """The input-pixel box around ``parts`` with half a digit height to spare, and the scale
    to look at it (lowered so the region's longer side stays within ``max_size``)."""
    pad = 0.5 * height
    s = first.scale
    x0 = max(0, int((min(p.x0 for p in parts) - pad) / s))
    y0 = max(0, int((min(p.y0 for p in parts) - pad) / s))
    x1 = min(shape[1], int((max(p.x1 for p in parts) + pad) / s) + 1)
    y1 = min(shape[0], int((max(p.y1 for p in parts) + pad) / s) + 1)
    scale = min(scale, options.max_size / max(x1 - x0, y1 - y0))
    return (x0, y0, x1, y1), scale


# -- 2. lines and parts ---------------------------------------------------------------------------


def erase_lines(ink: Ink, length: float, width: int = 3) -> Ink:
    """Ink with straight lines longer than ``length`` px removed: ruled and grid lines, a page
    edge, a table's edge.

    A probabilistic Hough transform finds them; each is erased ``width`` px wide along its
    whole length across the image (a ruled line does not stop where the line finder lost it
    under a digit or in a gap), but only where the ink is fainter than 1.5x the lines' median:
    a pen stroke crossing a printed line is darker than the line and stays. A line as dark as
    the pen cuts the digits it crosses; their pieces are joined later.
    """
    if ink.mask is None:
        return ink
    found = cv2.HoughLinesP(
        ink.mask, 1, np.pi / 180, threshold=int(length * 0.5), minLineLength=length,
        maxLineGap=max(2, round(0.1 * length)),
    )  # fmt: skip
    if found is None:
        return ink
    band, centre = np.zeros_like(ink.mask), np.zeros_like(ink.mask)
    reach = float(sum(band.shape))  # beyond the image either way: cv2.line clips
    for x0, y0, x1, y1 in found[:, 0].astype(np.float64):
        dx, dy = x1 - x0, y1 - y0
        norm = max(np.hypot(dx, dy), 1e-9)
        dx, dy = dx / norm * reach, dy / norm * reach
        a, b = (round(x0 - dx), round(y0 - dy)), (round(x1 + dx), round(y1 + dy))
        cv2.line(band, a, b, 255, width)
        cv2.line(centre, a, b, 255, 1)
    on_lines = ink.flat[cv2.bitwise_and(band, ink.mask) > 0]
    if on_lines.size == 0:
        return ink
    weak = cv2.compare(ink.flat, 1.5 * float(np.median(on_lines)), cv2.CMP_LT)
    keep = cv2.bitwise_not(cv2.bitwise_and(band, weak))
    mask, flat = cv2.bitwise_and(ink.mask, keep), cv2.bitwise_and(ink.flat, keep)
    if ink.lines is not None:
        centre = cv2.bitwise_or(centre, ink.lines)
    return Ink(flat, mask, ink.peak, ink.scale, ink.origin, centre, ink.paper)


def find_parts(mask: np.ndarray) -> tuple[list[Part], Outlines]:
    """Every blob of the mask as a Part, and the outlines they refer to.

    Outer contours, as edge.normalize finds its digit: a tenth of the cost of connected
    components with statistics. A blob's area is its outline's (holes included) plus its
    width and height, so a one-pixel line is not of area 0.
    """
    outlines, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    parts = []
    for i, c in enumerate(outlines):
        x, y, w, h = cv2.boundingRect(c)
        parts.append(Part(x, y, x + w, y + h, int(cv2.contourArea(c)) + w + h, (i,)))
    return parts, outlines


def typical_height(parts: list[Part], floor: float, tallest: float) -> float:
    """The height of a typical digit, or 0 when nothing is digit-shaped.

    Digit-shaped: longer than ``floor``, shorter than ``tallest``, not four times wider than
    tall, not a bar; and at least a tenth of the largest such part's area (dots and broken
    bits do not vote). Of those, the median height of the ones at least half as tall as the
    80th percentile: the halves of a broken digit do not pull it down, nor does one big digit
    pull it up.
    """
    shaped = [
        p
        for p in parts
        if max(p.w, p.h) >= floor and p.h < tallest and p.w < 4 * p.h and not is_bar(p)
    ]
    if not shaped:
        return 0.0
    biggest = max(p.area for p in shaped)
    heights = sorted(p.h for p in shaped if p.area >= 0.1 * biggest)
    tall = heights[int(0.8 * (len(heights) - 1))]  # the 80th percentile (lower neighbour)
    return float(statistics.median(h for h in heights if h >= 0.5 * tall))


def is_bar(p: Part) -> bool:
    """Mostly filled and more than twice as wide as tall: a band (a page edge's shadow, a
    marker line) when it is wider than a digit, else a dash or the bar of a 5."""
    return p.area > 0.6 * p.w * p.h and p.w > 2 * p.h


def sort_parts(
    parts: list[Part], height: float, floor: float, options: NumberOptions
) -> tuple[list[Part], list[Part]]:
    """(digit-sized parts, pieces), dropping what is not a digit.

    Not a digit: specks (longer side under ``speck`` x the digit height, or under ``floor``
    px), lines (longer than 3 digit heights and thinner than ``line_width``),
    bars and bands (:func:`is_bar`), and anything taller than 2.5 digits (a page edge, a
    shadow). A piece is shorter than ``piece`` x the digit height: the bar of a 5, a broken
    stroke, a dot or a dash (joined to its digit later, or dropped).
    """
    floor = max(floor, options.speck * height)
    digits, pieces = [], []
    for p in parts:
        longest = max(p.w, p.h)
        if longest < floor or p.h > 2.5 * height or (is_bar(p) and p.w > 1.5 * height):
            continue
        if longest > 3 * height and p.area / longest < options.line_width * height:
            continue  # a line's remains (too short or too curved for the line finder)
        (pieces if p.h < options.piece * height else digits).append(p)
    return digits, pieces


# -- 3. digits and lines --------------------------------------------------------------------------


def join_broken(parts: list[Part], height: float, options: NumberOptions) -> list[Part]:
    """Parts that belong to one digit joined: the bar of a 5, the two strokes of a 4 or a 7,
    a stroke the pen skipped on (:func:`one_digit`); then each piece still alone joins the
    digit beside it (:func:`attach_pieces`), and what is left of the pieces is dropped (dots,
    dashes, bits of texture) unless shaped like a small digit (``small_digit`` heights or
    more, taller than wide)."""
    todo = sorted(parts, key=lambda p: p.x0)
    reach = 0.15 * height
    merged = True
    while merged:
        merged = False
        for i, a in enumerate(todo):
            for j in range(i + 1, len(todo)):
                b = todo[j]
                if b.x0 >= a.x1 + reach:
                    break  # sorted by x0: nothing further right is near a
                if one_digit(a, b, height, options):
                    todo[i] = join(a, b)
                    del todo[j]
                    merged = True
                    break
            if merged:
                break
    todo = attach_pieces(todo, height, options)
    return [p for p in todo if digit_sized(p, height, options)]


def digit_sized(p: Part, height: float, options: NumberOptions) -> bool:
    """Whether a part left alone after joining is a digit: ``piece`` digit heights tall; or
    a small digit (``small_digit`` heights, taller than wide); or a digit drawn low and wide
    (0.3 heights tall, 0.6 long, not a dash). Dots, dashes and bits of texture are not."""
    if p.h >= options.piece * height:
        return True
    if p.h >= options.small_digit * height and p.h >= 0.7 * p.w:
        return True
    return p.h >= 0.3 * height and max(p.w, p.h) >= 0.6 * height and not is_bar(p)


def one_digit(a: Part, b: Part, height: float, options: NumberOptions) -> bool:
    """Whether two parts are one digit: together no taller than a digit (1.3 digit heights,
    or 1.1x the taller part: digits of another size), and either stacked in shared columns
    (``overlap`` of the narrower one's width if either is a piece, ``stack`` if both are
    digit-sized; at most 0.15 digit heights apart, 0.35 for a piece) or the two halves of a
    slanted stroke (sharing under 30% of their rows, corners within 0.1 digit heights, no
    wider together than 0.8 digit heights). Digits of two lines are further apart; digits
    side by side share most of their rows."""
    tall = max(a.y1, b.y1) - min(a.y0, b.y0)
    if tall > max(1.3 * height, 1.1 * max(a.h, b.h)):
        return False
    small = min(a.h, b.h) < options.piece * height
    need, gap = (options.overlap, 0.35) if small else (options.stack, 0.15)
    apart = max(a.y0, b.y0) - min(a.y1, b.y1)  # rows between them (< 0: overlap)
    if x_overlap(a, b) >= need and apart <= gap * height:
        return True
    beside = max(a.x0, b.x0) - min(a.x1, b.x1)  # columns between them (< 0: overlap)
    wide = max(a.x1, b.x1) - min(a.x0, b.x0)
    return y_overlap(a, b) < 0.3 and beside <= 0.1 * height and wide <= 0.8 * height


def attach_pieces(parts: list[Part], height: float, options: NumberOptions) -> list[Part]:
    """Each piece (under ``piece`` digit heights) joins the nearest digit-sized part that
    shares some of its rows, is within 0.15 digit heights and stays no wider than a digit
    (one digit height) with it: the stub of an 8's loop, the end of a 2's tail."""
    digits = [p for p in parts if p.h >= options.piece * height]
    out = list(digits)
    for p in parts:
        if p.h >= options.piece * height:
            continue
        best, nearest = -1, 0.15 * height
        for i, d in enumerate(out[: len(digits)]):
            beside = max(p.x0, d.x0) - min(p.x1, d.x1)
            wide = max(p.x1, d.x1) - min(p.x0, d.x0)
            if y_overlap(p, d) > 0 and beside <= nearest and wide <= max(height, d.h):
                best, nearest = i, beside
        if best < 0:
            out.append(p)
        else:
            out[best] = join(out[best], p)
    return sorted(out, key=lambda p: p.x0)


def find_dots(parts: list[Part], height: float) -> list[Part]:
    """Parts shaped like a pen's dot: round (neither side twice the other), mostly filled,
    0.06-0.4 digit heights across. Candidates only: :func:`decimal_point` decides by place."""
    if height <= 0:
        return []
    return [
        p
        for p in parts
        if 0.06 * height <= max(p.w, p.h) <= 0.4 * height
        and max(p.w, p.h) <= 2 * min(p.w, p.h)
        # filled: the outline (through the edge pixels' centres) encloses most of its box
        and p.area - p.w - p.h >= 0.45 * (p.w - 1) * (p.h - 1)
    ]


def decimal_point(line: list[Part], dots: list[Part], height: float, ink: Ink) -> int | None:
    """The index of the digit of ``line`` (left to right) that a decimal point follows, or
    None: a dot in the gap between two digits, resting on their baseline, 0.6-2.5 of the pen's
    mean stroke width across (a dot thresholded at its blurred edge loses some; a bigger blob
    is a broken stroke's end), and at least 0.65 as dark as their ink (specks of dirt are
    fainter than the pen). A number has one point: with dots in two gaps of a line (a date,
    or specks) neither is reported."""
    found = []
    for i, (a, b) in enumerate(itertools.pairwise(line)):
        base = (a.y1 + b.y1) / 2.0
        for d in dots:
            centre = (d.x0 + d.x1) / 2.0
            if not (a.x1 - 0.05 * height <= centre <= b.x0 + 0.05 * height):
                continue
            if not (base - 0.25 * height <= d.y1 <= base + 0.2 * height):
                continue
            if not 0.6 <= max(d.w, d.h) / _stroke(a, ink) <= 2.5:
                continue
            if _peak(d, ink) < 0.65 * _peak(a, ink):
                continue
            found.append(i)
            break
    return found[0] if len(found) == 1 else None


def _stroke(part: Part, ink: Ink) -> float:
    """The mean stroke width of a part's ink (px): the size a dot of the same pen is near."""
    return stroke_width(ink.mask[part.y0 : part.y1, part.x0 : part.x1])


def _peak(part: Part, ink: Ink) -> float:
    return float(cv2.minMaxLoc(ink.flat[part.y0 : part.y1, part.x0 : part.x1])[1])


def group_lines(parts: list[Part]) -> list[list[Part]]:
    """Digits grouped into lines, each left to right, the lines top to bottom.

    Left to right, a digit joins the line whose last digit shares at least half of the
    shorter one's rows, the most shared if several: a slope of a few degrees moves
    neighbours by much less than that, and digits of different sizes share all the small
    one's rows. Otherwise it starts a line.
    """
    lines: list[list[Part]] = []
    for p in sorted(parts, key=lambda p: (p.x0 + p.x1) / 2):
        best, shared = None, 0.5
        for line in lines:
            s = y_overlap(p, line[-1])
            if s >= shared:
                best, shared = line, s
        if best is None:
            lines.append([p])
        else:
            best.append(p)
    return sorted(lines, key=lambda line: statistics.median(p.cy for p in line))


def split_touching(
    part: Part, line_height: float, mask: np.ndarray, outlines: Outlines, options: NumberOptions
) -> list[Part]:
    """Touching digits split apart: the rule, and its limits, are in docs/edge.md.

    A blob wider than ``max_width`` x its height (or the line's, if taller) is
    round(width / 0.7 height) digits, at least 2, cut at the column with the least ink within
    a fifth of a digit's width of the even split. The split stands only if every piece is at
    least ``piece`` x the line's height tall: a 2 with a long tail stays one digit.
    """
    height = max(part.h, line_height)
    if part.w <= options.max_width * height:
        return [part]
    count = max(2, round(part.w / (0.7 * height)))
    ink = _part_mask(part, mask, outlines)
    columns = ink.sum(axis=0, dtype=np.int32)
    step = part.w / count
    reach = max(1, int(0.2 * step))
    cuts = [0]
    scale = float(columns.max()) / reach
    for k in range(1, count):
        ideal = round(k * step)
        lo, hi = max(cuts[-1] + 1, ideal - reach), min(part.w - 1, ideal + reach + 1)
        if hi <= lo:
            cuts.append(ideal)
            continue
        cost = columns[lo:hi] + options.cut_pull * scale * np.abs(np.arange(lo, hi) - ideal)
        cuts.append(lo + int(np.argmin(cost)))
    cuts.append(part.w)
    pieces = []
    for a, b in itertools.pairwise(cuts):
        rows = np.flatnonzero(ink[:, a:b].any(axis=1))
        if rows.size < options.piece * line_height:
            return [part]
        x0 = part.x0 + a
        pieces.append(
            Part(x0, part.y0 + int(rows[0]), part.x0 + b, part.y0 + int(rows[-1]) + 1,
                 int(ink[:, a:b].sum()), part.blobs, cut=True)
        )  # fmt: skip
    return pieces


def _part_mask(part: Part, mask: np.ndarray, outlines: Outlines) -> np.ndarray:
    """The part's own ink (its blobs, within its box) as a 0/1 uint8 array."""
    own = np.zeros((part.h, part.w), np.uint8)
    blobs = [outlines[i] for i in part.blobs]
    cv2.drawContours(own, blobs, -1, 1, cv2.FILLED, offset=(-part.x0, -part.y0))
    return cv2.bitwise_and(own, mask[part.y0 : part.y1, part.x0 : part.x1] // 255)


# -- 4. everything --------------------------------------------------------------------------------


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


def on_paper(line: list[Part], ink: Ink, gray: np.ndarray, dark_on_light: bool) -> list[Part]:
    """The line without an end part that lies beyond the paper's edge (:func:`beside_the_paper`,
    against the brightest paper in its box and its neighbour's).

    Why: where a strip of paper lies on a darker desk, the paper's estimate (edge.normalize,
    at 1/8 scale, resized) lags behind the step at the paper's edge, and the desk just beyond
    it is as much darker than that estimate as ink is: a band like a 1's stroke at either end
    of the number. Only the ends are looked at (a third of the cost of every digit, 20 µs a
    line). ``gray``: the input; ``dark_on_light``: its polarity.
    """
    drop = set()
    for end in {0, len(line) - 1}:
        if line[end].cut:
            continue
        box = ink.to_input(line[end])
        darkest, level = cv2.minMaxLoc(_dark_ink(gray, box, dark_on_light))[:2]
        if len(line) > 1:
            neighbour = line[1 if end == 0 else end - 1]
            other = _dark_ink(gray, ink.to_input(neighbour), dark_on_light)
            level = max(level, cv2.minMaxLoc(other)[1])
        if beside_the_paper(box, gray, dark_on_light, darkest + 0.25 * (level - darkest)):
            drop.add(end)
    return [p for i, p in enumerate(line) if i not in drop]


def _dark_ink(gray: np.ndarray, box: tuple[int, int, int, int], dark_on_light: bool) -> np.ndarray:
    """The box (x, y, w, h) of the grey image, clipped to it, the ink dark whichever the
    polarity."""
    x, y, w, h = box
    part = gray[max(0, y) : max(0, y + h), max(0, x) : max(0, x + w)]
    return part if dark_on_light else 255 - part  # (an empty slice stays an empty array)


def beside_the_paper(
    box: tuple[int, int, int, int], gray: np.ndarray, dark_on_light: bool, paper: float
) -> bool:
    """Whether no pixel as bright as ``paper`` (ink dark) is on one side of the box (x, y, w, h
    in ``gray``'s pixels), in a strip a seventh of its height wide, 2 px off it, over its
    middle rows: a pen's stroke has paper on both sides, a band of desk has desk beyond it. A
    side at the picture's edge counts as paper."""
    x, y, w, h = box
    side = max(2, round(h / 7))
    top, rows = y + h // 4, max(1, h // 2)
    strips = [
        _dark_ink(gray, (left, top, side, rows), dark_on_light)
        for left in (x - 2 - side, x + w + 2)
    ]
    return any(s.size and cv2.minMaxLoc(s)[1] < paper for s in strips)


def strong_lines(lines: list[list[Part]], ink: Ink, options: NumberOptions) -> list[list[Part]]:
    """The lines of digits that are the number's: their strongest ink at least ``faint_line``
    of the strongest line's (one pen wrote the number; paper texture, a grid line's remains, a
    pencil mark are much fainter), on paper at least ``dark_paper`` as bright as the brightest
    line's (beyond the page's edge, a dark table's grain is no digit)."""
    peaks = [
        max(cv2.minMaxLoc(ink.flat[p.y0 : p.y1, p.x0 : p.x1])[1] for p in line) for line in lines
    ]
    papers = [_paper_under(line, ink) for line in lines]
    strongest, brightest = max(peaks, default=0.0), max(papers, default=0.0)
    return [
        line
        for line, peak, paper in zip(lines, peaks, papers, strict=True)
        if peak >= options.faint_line * strongest and paper >= options.dark_paper * brightest
    ]


def _paper_under(line: list[Part], ink: Ink) -> float:
    """The brightest paper under the line's digits (at their centres)."""
    if ink.paper is None:
        return 0.0
    return max(float(ink.paper[(p.y0 + p.y1) // 2, (p.x0 + p.x1) // 2]) for p in line)


def without_lines(
    ink: Ink,
    length: float,
    shape: tuple[int, ...],
    width: int = 3,
    over_digits: tuple[float, float] | None = None,
) -> tuple[Ink, list[Part], Outlines]:
    """The ink's parts and label image, after :func:`erase_lines` if any part is as long as
    a line (the line finder costs more than the rest of the segmentation), without the parts
    that touch the edge of the input image (``shape``): the page's or the lens's edge, or a
    digit cut off by the frame, which is no digit to read.

    ``over_digits`` (times, floor), for the first look, which does not know the digits'
    height yet: a line is also that many times as long as the typical part (of those longer
    than ``floor`` px) is tall. In a picture cut close around a number, a third of its
    longer side is a digit's height, and the stems of 1s, 7s and 9s were erased as lines.
    """
    parts, outlines = find_parts(ink.mask)
    if any(max(p.w, p.h) >= length for p in parts):
        if over_digits is not None:
            times, floor = over_digits
            # all but what spans the whole picture (a page's edge, a grid), so that digits
            # filling a close crop's height count
            digit = typical_height(parts, floor, 0.98 * ink.mask.shape[0])
            length = max(length, times * digit)
        ink = erase_lines(ink, length, width)
        parts, outlines = find_parts(ink.mask)
    edges = image_edges(ink, shape)
    x0, y0, x1, y1 = edges
    whole = all(math.isfinite(e) for e in edges)  # the ink is of the whole picture
    inside = [
        p
        for p in parts
        if (p.x0 > x0 and p.y0 > y0 and p.x1 < x1 and p.y1 < y1)
        or (whole and cut_close(p, ink.mask))
    ]
    if ink.lines is not None:
        inside = [p for p in inside if not along_a_line(p, ink, outlines)]
    return ink, inside, outlines


def cut_close(part: Part, mask: np.ndarray) -> bool:
    """Whether a part that reaches the picture's edge is a digit all the same: the picture is
    cut close around its number (the part is at least half the picture's height), and the part
    does not lie along the edge (:func:`along_the_edge`). In a wider picture, a part the edge
    cuts is a digit cut off by the frame, or the page's edge, and is dropped."""
    return part.h >= 0.5 * mask.shape[0] and not along_the_edge(part, mask)


def along_the_edge(part: Part, mask: np.ndarray) -> bool:
    """Whether the part's ink covers half a side of the picture that it touches, or more: a
    desk beyond the paper, a dark frame, a shadow's edge. A digit's stroke meets the edge over
    a short stretch (a 7's bar or a 2's base spans one digit of a number's width). Measured
    against the picture's side, not the part's as edge.normalize.edge_contact does: in a
    close crop a 2's base lies along the edge for most of the 2's own width."""
    h, w = mask.shape
    sides = (
        (part.x0 == 0, mask[part.y0 : part.y1, 0], h),
        (part.y0 == 0, mask[0, part.x0 : part.x1], w),
        (part.x1 == w, mask[part.y0 : part.y1, w - 1], h),
        (part.y1 == h, mask[h - 1, part.x0 : part.x1], w),
    )
    return any(touches and np.count_nonzero(line) >= 0.5 * n for touches, line, n in sides)


def along_a_line(part: Part, ink: Ink, outlines: Outlines) -> bool:
    """Whether 80% of the part's ink lies within 3 px of a line erase_lines found: what is
    left of a line darker than its median (a hard shadow's edge among faint ruled lines), not
    a digit."""
    own = _part_mask(part, ink.mask, outlines)
    near = cv2.dilate(ink.lines[part.y0 : part.y1, part.x0 : part.x1], _NEAR_LINE)
    on = cv2.countNonZero(cv2.bitwise_and(own, near))
    return on > 0.8 * max(1, cv2.countNonZero(own))


_NEAR_LINE = cv2.getStructuringElement(cv2.MORPH_RECT, (7, 7))


def image_edges(ink: Ink, shape: tuple[int, ...]) -> tuple[float, float, float, float]:
    """The input image's first and last columns and rows in the ink's pixels (x0, y0, x1,
    y1); a part reaching one touches the image's edge. Where the ink is a region inside the
    image, that side has no edge (-inf or inf)."""
    s, (ox, oy) = ink.scale, ink.origin
    h, w = ink.mask.shape
    inf = float("inf")
    return (
        (s if ox <= 0 else -inf),
        (s if oy <= 0 else -inf),
        (w - s if ox + w / s >= shape[1] - 1 else inf),
        (h - s if oy + h / s >= shape[0] - 1 else inf),
    )


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
        own = _part_mask(part, ink.mask, outlines)
        found, _ = cv2.findContours(
            own, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE, offset=(part.x0, part.y0)
        )
        contours, peak = tuple(found), cv2.minMaxLoc(ink.flat[box], own)[1]
    else:
        contours, peak = tuple(outlines[i] for i in part.blobs), cv2.minMaxLoc(ink.flat[box])[1]
    if not contours or peak <= 0:
        return None
    return DigitRegion((part.x0, part.y0, part.x1, part.y1), contours), peak


# -- reading it -----------------------------------------------------------------------------------


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
