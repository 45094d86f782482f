"""The rules on blobs of ink that make a number's digits: which blobs are digits, which are
pieces of one (the bar of a 5, the two strokes of a 4), which are specks, dots or lines; how
digits group into lines read left to right; where a blob of touching digits is cut.

Pure functions on boxes (:class:`Part`) and, for the cut, on the ink's mask. The rules and
their limits are in docs/edge.md ("Reading a number").
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from edge.normalize import filled_band
from edge.number_options import NumberOptions

#: Outer contours of the ink's blobs, as cv2.findContours returns them.
Outlines = Sequence[np.ndarray]


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
    shaped = [p for p in parts if digit_shaped(p, floor, tallest)]
    if not shaped:
        return 0.0
    biggest = max(p.area for p in shaped)
    heights = sorted(p.h for p in shaped if p.area >= 0.1 * biggest)
    tall = heights[int(0.8 * (len(heights) - 1))]  # the 80th percentile (lower neighbour)
    return float(statistics.median(h for h in heights if h >= 0.5 * tall))


def digit_shaped(p: Part, floor: float, tallest: float) -> bool:
    """Whether a part may be a digit or a piece of one: longer than ``floor``, shorter than
    ``tallest``, not four times wider than tall, not a bar."""
    return max(p.w, p.h) >= floor and p.h < tallest and p.w < 4 * p.h and not is_bar(p)


def is_bar(p: Part) -> bool:
    """Mostly filled and more than twice as wide as tall: a band (a page edge's shadow, a
    marker line) when it is wider than a digit, else a dash or the bar of a 5."""
    return filled_band(p.w, p.h, p.area)


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
    slanted stroke (sharing under 30% of their rows, corners within 0.1 digit heights across
    and 0.15 up or down, as far as a ruled line cuts a stroke apart; no wider together than
    0.8 digit heights). Digits of two lines are further apart; digits side by side share most
    of their rows."""
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
    near = beside <= 0.1 * height and apart <= 0.15 * height
    return y_overlap(a, b) < 0.3 and near and wide <= 0.8 * height


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
    0.06-0.4 digit heights across. Candidates only: :func:`edge.number_ink.decimal_point`
    decides by place."""
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
    least ``piece`` x the line's height tall: a 2 with a long tail stays one digit. A blob
    between ``neck_width`` and ``max_width`` is cut in two only at a neck (:func:`split_at_neck`).
    """
    height = max(part.h, line_height)
    if part.w <= options.neck_width * height:
        return [part]
    ink = part_mask(part, mask, outlines)
    columns = ink.sum(axis=0, dtype=np.int32)
    shortest = options.piece * line_height
    if part.w > options.max_width * height:
        pieces = cut_at(part, ink, even_cuts(columns, part.w, height, options), shortest)
        if len(pieces) > 1:
            return pieces
    return split_at_neck(part, ink, columns, height, shortest, options)


def even_cuts(columns: np.ndarray, width: int, height: float, options: NumberOptions) -> list[int]:
    """Rule 7's cuts of a blob ``width`` px wide: round(width / 0.7 height) digits, each cut
    at the least inked column near the even split, from 0 to ``width``."""
    count = max(2, round(width / (0.7 * height)))
    step = width / count
    reach = max(1, int(0.2 * step))
    cuts = [0]
    scale = float(columns.max()) / reach
    for k in range(1, count):
        ideal = round(k * step)
        lo, hi = max(cuts[-1] + 1, ideal - reach), min(width - 1, ideal + reach + 1)
        if hi <= lo:
            cuts.append(ideal)
            continue
        cost = columns[lo:hi] + options.cut_pull * scale * np.abs(np.arange(lo, hi) - ideal)
        cuts.append(lo + int(np.argmin(cost)))
    return [*cuts, width]


def split_at_neck(
    part: Part,
    ink: np.ndarray,
    columns: np.ndarray,
    height: float,
    shortest: float,
    options: NumberOptions,
) -> list[Part]:
    """A blob wider than one digit cut in two where its middle narrows to a neck.

    Why: two narrow digits touching at one point are often under rule 7's width, or cut by
    it where no digit ends, while a wide single digit (a 0, a 2 with a long
    tail) is crossed in its middle by two strokes or a tall one, not by one thin touch alone
    (docs/edge.md, rule 7).
    """
    lo, hi = int(0.3 * part.w), int(0.7 * part.w) + 1
    neck = lo + int(np.argmin(columns[lo:hi]))
    if columns[neck] > options.neck_ink * height or ink_runs(ink[:, neck]) > 1:
        return [part]
    return cut_at(part, ink, [0, neck, part.w], shortest)


def ink_runs(column: np.ndarray) -> int:
    """How many separate strokes cross a column of a 0/1 mask: a touch is one, the middle of
    a wide 0 drawn with a thin pen two (its ink there as little as a touch's)."""
    edges = np.diff(column.astype(np.int8), prepend=np.int8(0))
    return int(np.count_nonzero(edges == 1))


def cut_at(part: Part, ink: np.ndarray, cuts: list[int], shortest_piece: float) -> list[Part]:
    """The part cut at ``cuts`` (columns, from 0 to its width), or whole when a piece is
    shorter than ``shortest_piece`` (px): a tail or a bar, not a digit."""
    pieces = []
    for a, b in itertools.pairwise(cuts):
        rows = np.flatnonzero(ink[:, a:b].any(axis=1))
        if rows.size < shortest_piece:
            return [part]
        pieces.append(
            Part(part.x0 + a, part.y0 + int(rows[0]), part.x0 + b, part.y0 + int(rows[-1]) + 1,
                 int(ink[:, a:b].sum()), part.blobs, cut=True)
        )  # fmt: skip
    return pieces


def part_mask(part: Part, mask: np.ndarray, outlines: Outlines) -> np.ndarray:
    """The part's own ink (its blobs, within its box) as a 0/1 uint8 array."""
    own = np.zeros((part.h, part.w), np.uint8)
    blobs = [outlines[i] for i in part.blobs]
    cv2.drawContours(own, blobs, -1, 1, cv2.FILLED, offset=(-part.x0, -part.y0))
    return cv2.bitwise_and(own, mask[part.y0 : part.y1, part.x0 : part.x1] // 255)
