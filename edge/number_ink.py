"""The ink of a page that holds a number, as the rules of :mod:`edge.number_parts` need it.

A first look at the whole image finds its ink, paper and polarity with edge.normalize's own
functions, thresholded against the local ink peak (one faint digit beside bold ones keeps
its strokes); a closer look at the digits' region where they are small. Long straight lines
(ruled and grid lines, the page's edge) are erased, parts touching the picture's edge dropped.
The rules that look at the ink under the parts live here too: a line's end beyond the
paper's edge, lines fainter than the number's, a decimal point's dot.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from edge.normalize import flatten_illumination, ink_image, stroke_mask, stroke_width, to_work_scale
from edge.number_options import NumberOptions
from edge.number_parts import Outlines, Part, digit_shaped, find_parts, part_mask, typical_height


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
    (white top-hat), a 5x5 ellipse at 1/2, 1/4 and 1/8 of the first look's scale, the strong
    ones (above 15% of the largest at each scale) summed as edge.normalize.is_dark_on_light
    sums its differences.

    Why not that vote: a page holds long edges (a dark table beyond the page, a hard
    shadow), and the median's lag along them votes "bright ink" on the paper's side; the
    morphology follows a step edge, so only strokes vote here. Why three scales: at 1/2 the
    ellipse spans strokes up to about 10 px of the first look, and a marker's bolder strokes
    vote only at their corners there while the paper between them outvotes them; at 1/4 and
    1/8 strokes up to about 20 and 40 px vote too (docs/edge.md, "Reading a number", rule 1).
    A small image votes at the scales where it is still at least :data:`_MIN_VOTING_SIDE`.
    """
    dark_sum = bright_sum = 0.0
    small = work
    for _ in range(3):  # each half the size of the last: 1/2, 1/4, 1/8
        size = (small.shape[1] // 2, small.shape[0] // 2)
        if min(size) < _MIN_VOTING_SIDE:
            break
        small = cv2.resize(small, size, interpolation=cv2.INTER_AREA)
        dark = cv2.morphologyEx(small, cv2.MORPH_BLACKHAT, _STROKE_KERNEL)
        bright = cv2.morphologyEx(small, cv2.MORPH_TOPHAT, _STROKE_KERNEL)
        t = 0.15 * max(cv2.minMaxLoc(dark)[1], cv2.minMaxLoc(bright)[1])
        dark_sum += cv2.sumElems(cv2.threshold(dark, t, 0, cv2.THRESH_TOZERO)[1])[0]
        bright_sum += cv2.sumElems(cv2.threshold(bright, t, 0, cv2.THRESH_TOZERO)[1])[0]
    return dark_sum >= bright_sum


_STROKE_KERNEL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
#: A scale smaller than this (two kernels) does not vote: it is mostly the kernel's border, and
#: a 28x28 digit's 3x3 eighth outvoted its half and read its paper as the ink.
_MIN_VOTING_SIDE = 10


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
    to look at it (lowered so the region's longer side stays within ``max_size``).

    Tiny digits (under ``tiny`` px) get ``tiny_reach`` digit heights to spare left and right:
    at that size the thin strokes of their neighbours in the line (a 1, a 7) may have faded
    from the first look, and the closer look finds them only where it looks.
    """
    pad = 0.5 * height
    reach = options.tiny_reach * height if height < options.tiny else pad
    s = first.scale
    x0 = max(0, int((min(p.x0 for p in parts) - reach) / s))
    y0 = max(0, int((min(p.y0 for p in parts) - pad) / s))
    x1 = min(shape[1], int((max(p.x1 for p in parts) + reach) / s) + 1)
    y1 = min(shape[0], int((max(p.y1 for p in parts) + pad) / s) + 1)
    scale = min(scale, options.max_size / max(x1 - x0, y1 - y0))
    return (x0, y0, x1, y1), scale


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
    own = part_mask(part, ink.mask, outlines)
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


def without_faint(
    parts: list[Part], ink: Ink, floor: float, tallest: float, options: NumberOptions
) -> list[Part]:
    """The parts without the digit-shaped ones (:func:`edge.number_parts.digit_shaped`) whose
    ink is fainter than ``faint_part`` x the strongest one's.

    One pen wrote the number; the bits of a grid or ruled line that cross the threshold are
    a third as dark as the pen or less. Where they are a hundred, their height would be taken
    for the digits' (:func:`edge.number_parts.typical_height`), the digits dropped as too
    tall, and the bits read as 1s.
    """
    peaks = [_peak(p, ink) if digit_shaped(p, floor, tallest) else None for p in parts]
    limit = options.faint_part * max((q for q in peaks if q is not None), default=0.0)
    return [p for p, q in zip(parts, peaks, strict=True) if q is None or q >= limit]
