"""Variation that real handwriting has and MNIST lacks, applied to training images.

MNIST's writers used similar pens and were normalised by one procedure; a user's digit comes
from a 1-px screen brush or a thick marker, slanted, wobbly, with a loop left open, and reaches
the model through the device's own normalisation (:mod:`edge.normalize`). Each training image
(after the affine warp of :mod:`train.augment`) may get, each with its own probability:

- an **elastic** distortion (Simard et al. 2003: a smoothed random displacement field), the
  wobble of a hand rather than the rigid warp of a page;
- a **stroke width** change, thinner (down to about a 1-px line) or thicker (a marker), made at
  twice the resolution so the width moves in half-pixel steps;
- a **gap**: a short piece of stroke erased, as in an open loop or a pen that skipped;
- **low resolution**: the digit shrunk to 7-14 px and enlarged back, as a small digit in a
  camera frame (or a coarse scan) reaches the model after the device enlarges it to 20x20;
- a **width** change: a narrow hand (a 2 or a 0 half as wide as it is tall) or a broad one;
- for a 1, a **flag** (the up-stroke many people, and most fonts, start a 1 with) and sometimes
  a foot: MNIST's 1s are nearly all bare strokes, and a model that has only seen those reads a
  flagged 1 as a 7 or a 4;
- for a 0, a **slash** through it (as programmers and engineers write it, to tell it from an
  O), and for a 7 a **crossbar** (as most of Europe writes it): MNIST has few of either, and a
  model that has not seen them reads a slashed 0 as an 8 (off in every recipe: what it costs
  on MNIST is in docs/real-handwriting.md);

and then the device's geometry, as :func:`edge.normalize.normalize` applies it to a photo:
the ink's box fitted to 20x20 keeping its aspect, centred by mass in 28x28, stroke cores
scaled to 1. A thick or slanted digit is then framed as the device would frame it. Pure
functions of an image and a ``numpy.random.Generator``; the figures behind the ranges are in
docs/training.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from edge.normalize import ellipse_kernel, fit_box, place_by_mass, scale_unit

Point = tuple[float, float]  # x, y in px


@dataclass(frozen=True)
class WritingConfig:
    """Probabilities and ranges of the real-writing variation (0 turns a step off)."""

    elastic: float = 0.5  # probability of an elastic distortion
    elastic_alpha: float = 34.0  # displacement scale (px) of the smoothed field
    elastic_sigma: float = 4.0  # its smoothness (px)
    stroke: float = 0.6  # probability of a stroke width change
    stroke_radius: tuple[int, int] = (-2, 2)  # erode (<0) / dilate (>0) radius at 2x, inclusive
    gap: float = 0.3  # probability of an erased piece of stroke
    gap_size: int = 3  # its side (px)
    flag: float = 0.5  # probability that a 1 gets a flag (and, a third of those, a foot)
    lowres: float = 0.25  # probability of a low-resolution copy
    lowres_px: tuple[int, int] = (7, 14)  # the digit's size (px) at that resolution, inclusive
    width: float = 0.0  # probability of a narrower or wider hand
    width_range: tuple[float, float] = (0.6, 1.25)  # the digit's width scale
    flag_length: tuple[float, float] = (0.2, 0.4)  # a 1's flag, as a fraction of its height
    slash: float = 0.0  # probability that a 0 is slashed
    crossbar: float = 0.0  # probability that a 7 is crossed


def elastic(image: np.ndarray, alpha: float, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Displace every pixel by a smooth random field (a hand's wobble), bilinear."""
    h, w = image.shape
    fields = rng.uniform(-1, 1, (2, h, w)).astype(np.float32)  # one draw: the same as two
    dx = cv2.GaussianBlur(fields[0], (0, 0), sigma) * alpha
    dy = cv2.GaussianBlur(fields[1], (0, 0), sigma) * alpha
    yy, xx = _grid(h, w)
    return cv2.remap(image, xx + dx, yy + dy, cv2.INTER_LINEAR, borderValue=0.0)


@cache
def _grid(h: int, w: int) -> np.ndarray:
    return np.mgrid[0:h, 0:w].astype(np.float32)


def stroke(image: np.ndarray, radius: int) -> np.ndarray:
    """Thinner (``radius`` < 0) or thicker strokes, by morphology at twice the resolution.

    An erosion that would wipe the digit out (a thin stroke eroded away) is not applied.
    """
    if radius == 0:
        return image
    h, w = image.shape
    big = cv2.resize(image, (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR)
    kernel = ellipse_kernel(abs(radius))
    big = cv2.dilate(big, kernel) if radius > 0 else cv2.erode(big, kernel)
    out = cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA)
    return out if out.max() >= 0.5 * image.max() else image


def gap(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Erase a ``size`` square centred on a random inked pixel (an open loop, a skipped pen)."""
    ys, xs = np.nonzero(image > 0.5)
    if len(ys) == 0:
        return image
    i = int(rng.integers(len(ys)))
    y0, x0 = max(0, ys[i] - size // 2), max(0, xs[i] - size // 2)
    out = image.copy()
    out[y0 : y0 + size, x0 : x0 + size] = 0.0
    return out


def flag_one(
    image: np.ndarray,
    rng: np.random.Generator,
    foot: bool = False,
    length_range: tuple[float, float] = (0.2, 0.4),
) -> np.ndarray:
    """A 1 with a flag: a stroke from its top down to the left, as wide as its own strokes."""
    ys, xs = np.nonzero(image > 0.5)
    if len(ys) == 0:
        return image
    height = float(ys.max() - ys.min() + 1)
    top = (float(xs[ys == ys.min()].mean()), float(ys.min()))
    angle = np.deg2rad(rng.uniform(30.0, 65.0))  # steeper than a 7's bar
    length = rng.uniform(*length_range) * height
    end = (top[0] - length * np.cos(angle), top[1] + length * np.sin(angle))
    lines = [(top, end)]
    if foot:
        bottom = (float(xs[ys == ys.max()].mean()), float(ys.max()))
        half = rng.uniform(0.12, 0.25) * height
        lines.append(((bottom[0] - half, bottom[1]), (bottom[0] + half, bottom[1])))
    return _with_lines(image, lines)


def slash_zero(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 0 with a slash: a steep stroke through its centre and out of the loop at both ends,
    bottom-left to top-right (a fifth of them the other way), at least 25 degrees off the
    loop's long axis: along a narrow slanted 0 it would make a bold 1, not a slashed 0."""
    ys, xs = np.nonzero(image > 0.5)
    if len(ys) == 0:
        return image
    slant = rng.uniform(45.0, 80.0)
    angle = slant if rng.random() >= 0.2 else 180.0 - slant  # degrees from the x axis, y up
    m = cv2.moments(image)
    axis = -0.5 * np.degrees(np.arctan2(2 * m["mu11"], m["mu20"] - m["mu02"]))
    off = (angle - axis + 90.0) % 180.0 - 90.0
    if abs(off) < 25.0:
        angle = axis + np.copysign(25.0, off)
    direction = np.array([np.cos(np.deg2rad(angle)), -np.sin(np.deg2rad(angle))])  # y down
    centre = np.array([(xs.min() + xs.max()) / 2.0, (ys.min() + ys.max()) / 2.0])
    along = (np.stack([xs, ys], axis=1) - centre) @ direction  # the ink's extent that way
    spread = along.max() - along.min()
    reach = rng.uniform(0.05, 0.25, 2) * spread  # how far each end goes past the loop
    start = centre + (along.min() - reach[0]) * direction
    end = centre + (along.max() + reach[1]) * direction
    slashed = _with_lines(image, [((start[0], start[1]), (end[0], end[1]))])
    return slashed if holes(slashed) >= 2 else image  # a loop filled by its slash reads as a 1


def holes(image: np.ndarray, min_area: int = 4) -> int:
    """How many enclosed background regions of at least ``min_area`` px the ink has."""
    stats = cv2.connectedComponentsWithStats((image <= 0.5).view(np.uint8), connectivity=4)[2]
    h, w = image.shape
    enclosed = 0
    for x, y, bw, bh, area in stats[1:]:
        touches_edge = x == 0 or y == 0 or x + bw == w or y + bh == h
        enclosed += int(not touches_edge and area >= min_area)
    return enclosed


def cross_seven(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 7 with a crossbar: a short level stroke through its stem, about half way down."""
    ys, xs = np.nonzero(image > 0.5)
    if len(ys) == 0:
        return image
    top, height = float(ys.min()), float(ys.max() - ys.min() + 1)
    row = round(top + rng.uniform(0.45, 0.6) * height)
    stem = xs[ys == row]
    if len(stem) == 0:
        return image
    centre, half = float(stem.mean()), rng.uniform(0.15, 0.3) * height
    return _with_lines(image, [((centre - half, float(row)), (centre + half, float(row)))])


def _with_lines(image: np.ndarray, lines: list[tuple[Point, Point]]) -> np.ndarray:
    """``image`` with strokes added (start, end), as wide as its own and as bright as its ink."""
    out = image.copy()
    width = max(1, round(stroke_width_of(image)))
    for start, end in lines:
        cv2.line(out, _px(start), _px(end), float(image.max()), width, cv2.LINE_AA, shift=2)
    return out


def scale_width(image: np.ndarray, factor: float) -> np.ndarray:
    """The digit made ``factor`` times as wide about its centre (a narrow or a broad hand)."""
    h, w = image.shape
    matrix = np.float32([[factor, 0.0, (1.0 - factor) * w / 2.0], [0.0, 1.0, 0.0]])
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=0.0)


def _px(point: tuple[float, float]) -> tuple[int, int]:
    """A point in OpenCV's fixed-point form (2 fractional bits, ``shift=2``)."""
    return round(point[0] * 4), round(point[1] * 4)


def stroke_width_of(image: np.ndarray) -> float:
    """Mean stroke width in px: twice the inked area over the outline length."""
    from edge.normalize import stroke_width

    return stroke_width(np.rint(image * 255).astype(np.uint8))


def low_resolution(image: np.ndarray, digit_px: int) -> np.ndarray:
    """The digit (20 px tall in 28) as if it had been ``digit_px`` px tall: area-averaged down,
    bicubic back up, as the device's fit to 20x20 enlarges a small digit."""
    h, w = image.shape
    size = max(2, round(digit_px * h / 20))
    small = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    out = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.minimum(np.maximum(out, 0.0, out=out), 1.0, out=out)  # np.clip's checks cost more


def refit(image: np.ndarray) -> np.ndarray:
    """The device's geometry: crop to the ink, fit 20x20 keeping aspect, centre by mass, scale.

    These are :mod:`edge.normalize`'s own steps (its search for the digit in a frame is not
    needed here: a training image holds one digit and nothing else).
    """
    inked = image > 0.05 * max(float(image.max()), 1e-6)
    x, y, w, h = cv2.boundingRect(inked.view(np.uint8))
    if w == 0:
        return image
    crop = image[y : y + h, x : x + w]
    return place_by_mass(scale_unit(fit_box(crop)))


def vary(image: np.ndarray, label: int, cfg: WritingConfig, rng: np.random.Generator) -> np.ndarray:
    """One float (28, 28) training image of ``label`` with this config's random real-writing
    variation; an image that drew none of it is returned as it came (MNIST's own framing)."""
    out = image
    if label == 1 and rng.random() < cfg.flag:
        out = flag_one(out, rng, foot=rng.random() < 1 / 3, length_range=cfg.flag_length)
    if label == 0 and cfg.slash and rng.random() < cfg.slash:  # no draw when off, as below
        out = slash_zero(out, rng)
    if label == 7 and cfg.crossbar and rng.random() < cfg.crossbar:
        out = cross_seven(out, rng)
    if cfg.width and rng.random() < cfg.width:  # no draw when off: other recipes keep their stream
        out = scale_width(out, rng.uniform(*cfg.width_range))
    if rng.random() < cfg.elastic:
        out = elastic(out, cfg.elastic_alpha * rng.uniform(0.3, 1.0), cfg.elastic_sigma, rng)
    if rng.random() < cfg.stroke:
        out = stroke(out, int(rng.integers(cfg.stroke_radius[0], cfg.stroke_radius[1] + 1)))
    if rng.random() < cfg.gap:
        out = gap(out, cfg.gap_size, rng)
    if rng.random() < cfg.lowres:
        out = low_resolution(out, int(rng.integers(cfg.lowres_px[0], cfg.lowres_px[1] + 1)))
    return image if out is image else refit(out)


def vary_batch(
    images: np.ndarray, labels: np.ndarray, cfg: WritingConfig, rng: np.random.Generator
) -> np.ndarray:
    """:func:`vary` over a batch (N, 28, 28); every image draws its own variation."""
    out = np.empty(images.shape, np.float32)
    for i, (img, y) in enumerate(zip(images, labels, strict=True)):
        out[i] = vary(img, int(y), cfg, rng)
    return out
