"""Turn any picture of a digit into what an MNIST model was trained on, or say there is none.

MNIST digits are white on black, fitted into a 20x20 box keeping their aspect ratio, and placed in
28x28 so that their centre of mass is at the centre. A camera frame is dark ink on uneven paper,
anywhere in the frame, at any size. Resizing the frame to 28x28 (what tutorials do) gives the
model a grey blur it has never seen; these steps give it an MNIST digit instead:

    to_gray -> work scale -> polarity -> flatten illumination -> threshold -> select the digit
            -> crop (+ margin) -> fit 20x20 (aspect kept) -> pad 28x28 -> centre of mass -> [0, 1]

Every function is pure (arrays in, arrays out, nothing kept between calls). :func:`normalize`
runs them all and returns a :class:`Normalized` whose ``image`` is None when the frame holds no
digit-like ink, so a blank frame yields "no digit" rather than a random class. A clean MNIST
image comes through unchanged apart from its faintest edge pixels.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from edge.page_edge import paint_desk

MNIST_SIZE = 28
MNIST_BOX = 20
#: Where MNIST puts a digit's centre of mass (row, col), measured on the test set: 13.99, 14.01.
MNIST_CENTRE = (14.0, 14.0)


@dataclass(frozen=True)
class NormalizeOptions:
    """The few knobs of the normalisation; the defaults are tuned on the synthetic photo set."""

    work_size: int = 240  # the longer side is shrunk to this: speed, and averages noise away
    min_contrast: float = 0.10  # faintest ink accepted, as a fraction of the paper's brightness
    threshold: float = 0.4  # stroke mask: this fraction of the strongest ink
    min_height: float = 0.05  # a digit is at least this fraction of the frame's shorter side
    join: float = 0.35  # strokes within this fraction of the digit's size belong to it
    min_part: float = 0.03  # ... if at least this fraction of the main stroke's area
    margin: float = 0.15  # crop margin around the strokes, fraction of the digit's size
    floor: float = 0.04  # ink below this fraction of the peak is background
    edge: float = 0.2  # the digit's extent is where its ink exceeds this fraction of the peak
    stroke: float = 1.5  # thin strokes wider than this (px in the 20x20 box) to it; 0: off
    smooth: float = 0.7  # Gaussian sigma (work-scale px) against sensor noise and JPEG blocks
    #: Light ink's bold strokes are removed (an opening) before the paper under them is
    #: estimated, as dark ink's are (a closing). False: the plain median, which hollows a
    #: white brush stroke; only train/font_digits.py asks for it (docs/real-handwriting.md).
    open_light_ink: bool = True


DEFAULT_OPTIONS = NormalizeOptions()


def options_for(preprocessing: dict | None) -> NormalizeOptions:
    """The options a model was trained for, from its manifest's ``preprocessing``.

    A model says in ``"stroke"`` the stroke target it expects (``train.recipe.Recipe``): the
    small CNN reads bold digits better thinned, the larger one reads them best as drawn
    (docs/real-handwriting.md). Without the key: the defaults.
    """
    stroke = (preprocessing or {}).get("stroke")
    if stroke is None:
        return DEFAULT_OPTIONS
    return dataclasses.replace(DEFAULT_OPTIONS, stroke=float(stroke))


#: Why an image without ink has no digit (a single digit's look, and every look of a number's).
BLANK = "no digit: blank image (no ink darker than the paper)"


@dataclass(frozen=True)
class Normalized:
    """The result: a float32 28x28 image in [0, 1], or None with the reason there is no digit."""

    image: np.ndarray | None
    reason: str = ""
    box: tuple[int, int, int, int] | None = None  # x, y, w, h of the digit in the input frame
    inverted: bool = False  # True when the input was dark ink on light paper

    @property
    def found(self) -> bool:
        return self.image is not None


# -- 1. pixels ------------------------------------------------------------------------------


def to_gray(image: np.ndarray) -> np.ndarray:
    """Any 2-D/3-D image OpenCV can hold (BGR, BGRA, gray; any dtype) -> uint8 gray.

    uint8 is kept as is, uint16 divided by 257, bool mapped to 0/255; floats in [0, 1] are scaled
    by 255 and every other range is stretched to 0..255, since such arrays carry no convention.
    """
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim not in (2, 3) or img.size == 0 or (img.ndim == 3 and img.shape[2] not in (3, 4)):
        raise ValueError(f"not an image: array of shape {img.shape}")
    if img.dtype != np.uint8:
        img = _to_uint8(img)
    if img.ndim == 3:
        code = cv2.COLOR_BGR2GRAY if img.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
        img = cv2.cvtColor(np.ascontiguousarray(img), code)
    return img


def _to_uint8(img: np.ndarray) -> np.ndarray:
    if img.dtype == np.bool_:
        return img.astype(np.uint8) * 255
    if img.dtype == np.uint16:
        return (img // 257).astype(np.uint8)
    data = img.astype(np.float64)
    finite = np.isfinite(data)
    if not finite.all():
        data = np.where(finite, data, 0.0)
    lo, hi = float(data.min()), float(data.max())
    if np.issubdtype(img.dtype, np.floating) and lo >= 0.0 and hi <= 1.0:
        return np.rint(data * 255.0).astype(np.uint8)
    half_lo, span = lo / 2.0, hi / 2.0 - lo / 2.0  # halves: float64 extremes do not overflow
    if span <= 0.0:  # flat, or a range too small to halve (subnormal values): no ink
        return np.zeros(img.shape, np.uint8)
    return np.clip(np.rint((data / 2.0 - half_lo) * (255.0 / span)), 0, 255).astype(np.uint8)


#: The last shrinking step is linear down to this factor and an area average below it: a linear
#: step samples pixels 1/factor apart, and past ~1.4 px it steps over a 1-px line in some rows.
LINEAR_SHRINK_LIMIT = 0.7


def to_work_scale(gray: np.ndarray, work_size: int) -> tuple[np.ndarray, float]:
    """Shrink so the longer side is at most ``work_size``: the search needs no more pixels.

    Halvings by area average first (OpenCV's 2x block mean, cheap), then one step for the rest:
    linear when it shrinks little (a VGA frame's 320 -> 240: 31 µs), an area average when it
    shrinks more (400 -> 240: 254 µs, where a linear step, 45 µs, broke a digit drawn with a
    1-px pen into pieces; docs/real-handwriting.md, "Screen drawings").
    Returns the image and its scale relative to the input (<= 1).
    """
    h, w = gray.shape
    if max(h, w) <= work_size:
        return gray, 1.0
    small = gray
    while max(small.shape) >= 2 * work_size and min(small.shape) >= 4:
        sh, sw = small.shape[0] // 2 * 2, small.shape[1] // 2 * 2
        small = cv2.resize(small[:sh, :sw], (sw // 2, sh // 2), interpolation=cv2.INTER_AREA)
    scale = small.shape[1] / w
    if max(small.shape) > work_size:
        f = work_size / max(small.shape)
        size = (max(1, round(small.shape[1] * f)), max(1, round(small.shape[0] * f)))
        step = cv2.INTER_LINEAR if f >= LINEAR_SHRINK_LIMIT else cv2.INTER_AREA
        small = cv2.resize(small, size, interpolation=step)
        scale = small.shape[1] / w
    return small, scale


#: Shrunk more than this many times, a 1-px line (a thin pen on a large screen canvas) fades
#: below the faintest ink accepted (``min_contrast``): :func:`normalize` widens it first.
THIN_LINE_SHRINK = 3.0


def widen_strokes(gray: np.ndarray, scale: float, dark_on_light: bool) -> np.ndarray:
    """Every stroke widened to about ``1 / scale`` px, so it is a pixel wide once shrunk.

    The darkest (or, for light ink, the brightest) pixel of each neighbourhood, as a thin line
    would look if it had been drawn that wide; the paper around it stays paper.
    """
    side = max(2, round(1.0 / scale))
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (side, side))
    return cv2.erode(gray, kernel) if dark_on_light else cv2.dilate(gray, kernel)


# -- 2. paper and ink ---------------------------------------------------------------------------


#: Images smaller than this (crops, MNIST itself) have no room for lighting to vary.
MIN_LIGHTING_SIZE = 64


def estimate_background(gray: np.ndarray) -> np.ndarray:
    """The paper (or the black background) without the digit, whatever the ink's polarity.

    A 7x7 median at 1/8 scale (56 px at work scale; lighting is smooth), resized back: it keeps
    shadow edges sharp and needs no polarity, so it is what decides the polarity. Images under
    :data:`MIN_LIGHTING_SIZE` have no room for lighting: their median pixel is the background.
    """
    h, w = gray.shape
    if min(h, w) < MIN_LIGHTING_SIZE:
        return np.full_like(gray, int(np.median(gray)))
    return _median_background(_eighth(gray), gray.shape)


def paper_and_polarity(
    gray: np.ndarray, dark_on_light: bool | None = None, open_light_ink: bool = True
) -> tuple[np.ndarray, bool]:
    """The background to flatten against, and whether the ink is dark on light paper.

    The median of :func:`estimate_background` decides the polarity; but a bold stroke more than
    half its window wide outvotes the paper, and the "background" under it turns to ink (a
    marker-drawn 1 then reads as a hook). So the paper is estimated again with the ink removed
    first: at 1/8 scale a closing with a 5x5 ellipse for dark ink, an opening for light ink
    (strokes up to 40 px wide at work scale: a marker, a brush in a drawing app, chalk), then
    the same median (docs/edge.md, "background", has what it fixes and costs).
    ``dark_on_light``: the polarity when the caller knows it (edge.number votes on thin ink);
    ``open_light_ink`` False keeps the plain median for light ink (NormalizeOptions).
    """
    if min(gray.shape) < MIN_LIGHTING_SIZE:
        background = estimate_background(gray)
        if dark_on_light is None:
            dark_on_light = is_dark_on_light(gray, background) or paper_at_the_edges(gray)
        return background, dark_on_light
    tiny = _eighth(gray)  # made once for both estimates
    if dark_on_light is None:  # the plain median votes; a known polarity needs no vote
        dark_on_light = is_dark_on_light(gray, _median_background(tiny, gray.shape))
        dark_on_light = dark_on_light or paper_at_the_edges(gray, tiny)
    if dark_on_light or open_light_ink:
        ink_removed = cv2.MORPH_CLOSE if dark_on_light else cv2.MORPH_OPEN
        tiny = cv2.morphologyEx(tiny, ink_removed, _ELLIPSE5, borderType=cv2.BORDER_REPLICATE)
    return _median_background(tiny, gray.shape), dark_on_light


def _eighth(gray: np.ndarray) -> np.ndarray:
    h, w = gray.shape
    return cv2.resize(
        gray[: h - h % 8, : w - w % 8], (w // 8, h // 8), interpolation=cv2.INTER_AREA
    )


def _median_background(tiny: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return cv2.resize(cv2.medianBlur(tiny, 7), shape[::-1], interpolation=cv2.INTER_LINEAR)


_ELLIPSE5 = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))


#: How far above the picture's median its edges' median must be, as a fraction of its 5-95%
#: range, to be paper (:func:`paper_at_the_edges`); or how near its lightest 5%.
EDGE_PAPER, EDGE_LIGHTEST = 0.3, 0.15


def paper_at_the_edges(gray: np.ndarray, tiny: np.ndarray | None = None) -> bool:
    """Whether the picture's edges are paper around dark ink: far lighter than its middle (a
    bold digit cut close, whose ink fills most of it and outvotes the paper in the median), or
    as light as its lightest pixels where most of it is light (one whose ink fills less, but
    whose loops outvote the paper in a small picture's median). The vote then took the paper
    between the strokes for light ink. Light ink on black has dark edges; a note on a desk, its
    desk. ``tiny``: the picture at 1/8 scale, for its grey levels (a twentieth of the cost);
    the edges are read at full detail, where a stroke is narrow."""
    edges = np.concatenate([gray[0], gray[-1], gray[1:-1, 0], gray[1:-1, -1]])
    lo, mid, hi = _percentiles(gray if tiny is None else tiny, (0.05, 0.5, 0.95))
    edge = int(np.partition(edges, len(edges) // 2)[len(edges) // 2])  # their median
    far_lighter = edge >= mid + EDGE_PAPER * (hi - lo)
    lightest = edge >= hi - EDGE_LIGHTEST * (hi - lo) and 2 * mid >= lo + hi
    return hi > lo and (far_lighter or lightest)


def _percentiles(gray: np.ndarray, fractions: tuple[float, ...]) -> list[int]:
    """Grey levels below which these fractions of the pixels lie, from a histogram (a
    sort of a VGA frame's pixels would cost a millisecond)."""
    counts = cv2.calcHist([np.ascontiguousarray(gray)], [0], None, [256], [0, 256]).ravel()
    below = np.cumsum(counts)
    return [int(np.searchsorted(below, f * below[-1])) for f in fractions]


def is_dark_on_light(gray: np.ndarray, background: np.ndarray) -> bool:
    """True for dark ink on light paper, False for MNIST-style white on black.

    The ink is what differs most from the background: compare the total of the strong dark
    differences with the total of the strong bright ones (strong: above 15% of the largest,
    so sensor noise, equal both ways, does not vote). Measured on 2,000 synthetic photos:
    1 wrong, where "median above mid-range" got 30 wrong (a shadow over half the paper).
    """
    dark, bright = cv2.subtract(background, gray), cv2.subtract(gray, background)
    t = 0.15 * max(cv2.minMaxLoc(dark)[1], cv2.minMaxLoc(bright)[1])
    dark_sum = cv2.sumElems(cv2.threshold(dark, t, 0, cv2.THRESH_TOZERO)[1])[0]
    bright_sum = cv2.sumElems(cv2.threshold(bright, t, 0, cv2.THRESH_TOZERO)[1])[0]
    return dark_sum > bright_sum


def flatten_illumination(
    gray: np.ndarray, background: np.ndarray, dark_on_light: bool
) -> np.ndarray:
    """Ink strength relative to its local background, bright ink on black, 0..255.

    The difference from the background removes uneven lighting; for pen on paper it is also
    divided by the local paper brightness: ink under a shadow is darker in absolute terms,
    not in contrast.
    """
    if not dark_on_light:
        return cv2.subtract(gray, background)
    flat = cv2.subtract(background, gray)
    return cv2.divide(flat, cv2.max(background, 16), scale=255.0)


# -- 3. where is the digit ----------------------------------------------------------------------


def stroke_mask(flat: np.ndarray, options: NormalizeOptions) -> tuple[np.ndarray | None, float]:
    """Binary mask of the strokes and the ink peak, or (None, peak) when the ink is too faint.

    The peak is taken after a 3x3 blur so single noisy pixels do not count as ink; the threshold
    is a fraction of it, which adapts to the pen and the paper (Otsu fails when ink is <1% of the
    frame, because the histogram is all paper noise).
    """
    smooth = cv2.blur(flat, (3, 3)) if min(flat.shape) >= 3 else flat
    peak = float(smooth.max())
    if peak < options.min_contrast * 255.0:
        return None, peak
    _, mask = cv2.threshold(smooth, options.threshold * peak, 255, cv2.THRESH_BINARY)
    return mask, peak


@dataclass(frozen=True)
class DigitRegion:
    """Where the digit is in the work image: its box and the outlines of the strokes in it."""

    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)
    parts: tuple[np.ndarray, ...]  # outer contours (cv2.findContours) of the digit's strokes


@dataclass(frozen=True)
class Blobs:
    """The stroke mask's blobs: outer contours, boxes, areas (outline plus width and height,
    so a one-pixel line is not of area 0), and which belong to the picture's edge."""

    contours: Sequence[np.ndarray]
    rects: list[tuple[int, int, int, int]]
    area: list[float]
    on_edge: list[bool]  # :func:`is_border`


def find_blobs(mask: np.ndarray) -> Blobs:
    """The mask's blobs. Outer contours rather than connected-component labelling: the same
    blobs at a tenth of the cost (20 µs vs 300 µs at 320x240), as only outlines are traced."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    # Plain Python over the (usually 1-5) blobs: the same arithmetic as numpy's on arrays of
    # that size, at a third of the cost (per-call overhead dominates there).
    rects = [cv2.boundingRect(c) for c in contours]
    area = [cv2.contourArea(c) + r[2] + r[3] for c, r in zip(contours, rects, strict=True)]
    on_edge = [is_border(r, mask.shape, edge_contact(mask, r)) for r in rects]
    return Blobs(contours, rects, area, on_edge)


def select_digit(
    mask: np.ndarray, options: NormalizeOptions, blobs: Blobs | None = None
) -> DigitRegion | None:
    """The digit's region, or None when no blob of ink is digit-sized.

    The digit is the largest blob of plausible size (not a speck, not a frame-filling border
    or shadow, not a filled band: :func:`is_band`), joined by the blobs near it that are big
    enough to be part of it (a broken 5 or 4, a pen that skipped). ``blobs``: the mask's,
    where the caller has them.
    """
    blobs = find_blobs(mask) if blobs is None else blobs
    if not blobs.contours:
        return None
    contours, rects, area = blobs.contours, blobs.rects, blobs.area
    not_frame = [not on_edge for on_edge in blobs.on_edge]
    main, best = -1, -1.0
    for i in plausible_blobs(blobs, mask.shape, options):  # the first of the largest
        if area[i] > best and not is_band(mask, rects[i]):
            main, best = i, area[i]
    if main < 0:
        return None
    mx, my, mw, mh = rects[main]
    reach = options.join * max(mw, mh)
    x0, y0 = mx - reach, my - reach
    x1, y1 = mx + mw + reach, my + mh + reach
    least = options.min_part * area[main]
    near = [
        i
        for i, (x, y, bw, bh) in enumerate(rects)
        if i == main
        or (x < x1 and x + bw > x0 and y < y1 and y + bh > y0 and not_frame[i] and area[i] >= least)
    ]
    box = (
        min(rects[i][0] for i in near),
        min(rects[i][1] for i in near),
        max(rects[i][0] + rects[i][2] for i in near),
        max(rects[i][1] + rects[i][3] for i in near),
    )
    return DigitRegion(box, tuple(contours[i] for i in near))


def plausible_blobs(blobs: Blobs, shape: tuple[int, ...], options: NormalizeOptions) -> list[int]:
    """The blobs that may be the digit: not the picture's edge, and digit-sized (their longer
    side ``min_height`` of the picture's shorter side, 3 px at least)."""
    min_side = max(3.0, options.min_height * min(shape[:2]))
    return [
        i for i, (_, _, bw, bh) in enumerate(blobs.rects)
        if not blobs.on_edge[i] and max(bw, bh) >= min_side
    ]  # fmt: skip


def step_share(
    work: np.ndarray, mask: np.ndarray, contour: np.ndarray, dark_on_light: bool
) -> tuple[float, np.ndarray | None]:
    """The share of the paper just around a blob that is as dark as the blob's own ink, and
    those dark pixels (a mask over ``work``; None where there are none).

    Why: a pen stroke is darker than the paper on both of its sides; the edge of a hard
    shadow (a hand's, a phone's) is not a stroke, but the paper estimate lags behind it, and
    the strip of shadow along it comes out as ink, a "(" beside the digit, often longer than
    the digit. Beyond such a strip lies more shadow, as dark as the strip: around a stroke
    few pixels are (anti-aliasing is lighter), around a shadow's edge half of them.
    """
    x, y, w, h = cv2.boundingRect(contour)
    r = max(3, round(0.1 * max(w, h)))
    x0, y0 = max(0, x - r), max(0, y - r)
    x1, y1 = min(work.shape[1], x + w + r), min(work.shape[0], y + h + r)
    own = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.drawContours(own, [contour], -1, 255, cv2.FILLED, offset=(-x0, -y0))
    ring = cv2.subtract(cv2.dilate(own, ellipse_kernel(r)), own)
    ring = cv2.subtract(ring, mask[y0:y1, x0:x1])  # ink of other blobs is not paper
    region = work[y0:y1, x0:x1] if dark_on_light else cv2.bitwise_not(work[y0:y1, x0:x1])
    ink = region[cv2.bitwise_and(own, mask[y0:y1, x0:x1]) > 0]
    around = region[ring > 0]
    if ink.size == 0 or around.size == 0:
        return 0.0, None
    dark_ink, paper = float(np.median(ink)), float(np.percentile(around, 90))
    as_dark = np.zeros_like(work)
    as_dark[y0:y1, x0:x1][(ring > 0) & (region <= dark_ink + 0.25 * (paper - dark_ink))] = 255
    share = cv2.countNonZero(as_dark) / around.size
    return share, (as_dark if share else None)


#: A blob with this share of its surroundings as dark as its ink may lie along a shadow's
#: edge (:func:`is_shadow_edge`); one under SHARP_STROKES is drawn on paper all round.
SHADOW_EDGE, SHARP_STROKES = 0.25, 0.1


def is_shadow_edge(
    work: np.ndarray, mask: np.ndarray, contour: np.ndarray, dark_on_light: bool
) -> bool:
    """Whether a blob lies along the edge of a shadow (:func:`step_share`) cast from beyond
    the picture: the dark beside it reaches the picture's edge, where the hand or the phone
    that casts it is. The dark middles of a bold stroke, which the paper estimate hollows
    too, lie within the digit."""
    share, dark = step_share(work, mask, contour, dark_on_light)
    if share < SHADOW_EDGE or dark is None:
        return False
    gray = work if dark_on_light else cv2.bitwise_not(work)
    level = int(gray[dark > 0].max())
    shade = cv2.threshold(gray, level, 255, cv2.THRESH_BINARY_INV)[1]  # as dark or darker
    shade = cv2.bitwise_or(shade, dark)
    _, labels = cv2.connectedComponents(shade, connectivity=4)
    beside = np.unique(labels[dark > 0])
    border = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    return bool(np.intersect1d(beside[beside > 0], border).size)


def without_shadow_edges(
    blobs: Blobs,
    work: np.ndarray,
    mask: np.ndarray,
    dark_on_light: bool,
    options: NormalizeOptions,
) -> Blobs:
    """The blobs, those along a shadow's edge (:func:`is_shadow_edge`) marked as not the
    digit (``on_edge``) where a blob drawn on clear paper all round (:data:`SHARP_STROKES`),
    plausible in size as :func:`select_digit` wants it, and outside the edge's box, is there
    to read instead."""
    plausible = plausible_blobs(blobs, mask.shape, options)
    if len(plausible) < 2:
        return blobs
    plausible.sort(key=lambda i: -blobs.area[i])
    on_edge = list(blobs.on_edge)
    for i in plausible:
        if not is_shadow_edge(work, mask, blobs.contours[i], dark_on_light):
            break  # the largest blob that is no shadow's edge is the digit's
        apart = [j for j in plausible if j != i and not overlaps(blobs.rects[i], blobs.rects[j])]
        if not any(clear_all_round(work, mask, blobs.contours[j], dark_on_light) for j in apart):
            break
        on_edge[i] = True
    return dataclasses.replace(blobs, on_edge=on_edge)


def clear_all_round(
    work: np.ndarray, mask: np.ndarray, contour: np.ndarray, dark_on_light: bool
) -> bool:
    """Whether a blob is drawn on paper all round (:data:`SHARP_STROKES`)."""
    return step_share(work, mask, contour, dark_on_light)[0] < SHARP_STROKES


def overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Whether two (x, y, w, h) boxes share a pixel."""
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def is_band(mask: np.ndarray, rect: tuple[int, int, int, int]) -> bool:
    """Whether a blob is a filled band, over twice as wide as tall, 60% ink and a fifth of
    the picture's shorter side long: a drawing app's button or toolbar, a marker line, never
    a digit (it may still join one as the bar of a bold 5, but is not taken for the digit
    itself). Shorter ones are left be: what is left of a digit the desk painting cut."""
    x, y, bw, bh = rect
    if bw <= 2 * bh or bw < 0.2 * min(mask.shape):
        return False
    return filled_band(bw, bh, cv2.countNonZero(mask[y : y + bh, x : x + bw]))


def filled_band(width: int, height: int, ink: float) -> bool:
    """Over twice as wide as tall and 60% ink (``ink``: its inked pixels): a band or a bar,
    what no digit is (:func:`is_band` here, ``edge.number_parts.is_bar`` in a number)."""
    return width > 2 * height and ink > 0.6 * width * height


def edge_contact(mask: np.ndarray, rect: tuple[int, int, int, int]) -> float:
    """How much of a blob's box side lies on the picture's edge, at most over the sides its box
    touches: 0 for a blob inside, ~0.1 for a digit whose stroke reaches the edge, ~1 for a
    shadow or a corner the frame cuts."""
    x, y, bw, bh = rect
    h, w = mask.shape
    sides = [
        (x == 0, mask[y : y + bh, 0], bh),
        (y == 0, mask[0, x : x + bw], bw),
        (x + bw == w, mask[y : y + bh, w - 1], bh),
        (y + bh == h, mask[h - 1, x : x + bw], bw),
    ]
    return max((cv2.countNonZero(line) / n for touches, line, n in sides if touches), default=0.0)


def is_border(rect: tuple[int, int, int, int], shape: tuple[int, int], contact: float) -> bool:
    """Whether a blob belongs to the picture's edges rather than being a digit (``contact``:
    :func:`edge_contact`):

    - it runs along a side of the picture, over 90% of it, on the edge for half its length or
      more (a dark frame around a page, the desk beyond the page's edge, a shadow's edge, a
      dark vignette). A digit as tall or wide as the picture touches the edge with a stroke (a
      tight crop) or not at all (a digit drawn to fill a canvas): it is the digit;
    - it lies along the picture's edge for half its side or more and is less than half the
      picture's height: what the frame cuts (a corner's shadow, a digit cut off); a digit that
      only reaches the edge touches it with a stroke, one cropped tight fills more of it;
    - it is a strip along a side, five times longer than deep, on the edge for 90% of its
      length: the desk beyond the page where a corner's shadow cuts it short of the side;
    - it crosses the picture from side to side, ten times longer than wide (the page's edge
      where the desk beyond it is taken for paper, a fold).
    """
    x, y, bw, bh = rect
    h, w = shape
    wide, tall = bw >= 0.9 * w, bh >= 0.9 * h
    left, top, right, bottom = x == 0, y == 0, x + bw == w, y + bh == h
    if ((tall and (left or right)) or (wide and (top or bottom))) and contact >= 0.5:
        return True
    if contact >= 0.5 and bh < 0.5 * h:
        return True
    strip = ((left or right) and bh >= 5 * bw) or ((top or bottom) and bw >= 5 * bh)
    if contact >= 0.9 and strip:
        return True
    return (top and bottom and bw * 10 < bh) or (left and right and bh * 10 < bw)


def crop_digit(
    flat: np.ndarray,
    mask: np.ndarray,
    region: DigitRegion,
    options: NormalizeOptions,
    floor: float,
    edge: float,
) -> tuple[np.ndarray, tuple[int, int]] | None:
    """The digit's ink, cropped tight, with everything that is not near its strokes removed.

    The box grows by a margin first so the soft edges of the strokes are kept; inside it, only
    pixels near the digit's strokes (within 8% of its size) and brighter than ``floor`` survive
    (other marks on the paper, noise, a neighbouring digit). The crop then shrinks to the ink
    brighter than ``edge``, so faint noise around the strokes does not make the digit look
    smaller. Returns the crop and its top-left corner in the work image.
    """
    x0, y0, x1, y1 = region.box
    size = max(x1 - x0, y1 - y0)
    near = max(1, round(0.08 * size))
    # Nothing beyond the strokes' reach survives, so a margin wider than it adds only pixels
    # to work on (the same crop either way).
    pad = min(near, max(1, round(options.margin * size)))
    h, w = flat.shape
    x0, y0, x1, y1 = max(0, x0 - pad), max(0, y0 - pad), min(w, x1 + pad), min(h, y1 + pad)
    ours = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.drawContours(ours, list(region.parts), -1, 255, cv2.FILLED, offset=(-x0, -y0))
    ours = cv2.dilate(cv2.bitwise_and(ours, mask[y0:y1, x0:x1]), ellipse_kernel(near))
    # OpenCV's uint8 thresholds compare with floor(t), i.e. exactly "pixel > t" for a float t,
    # and `ours` is 0/255: the same as numpy's where/any at a third of the cost.
    crop = cv2.threshold(flat[y0:y1, x0:x1], floor, 255, cv2.THRESH_TOZERO)[1]
    digit = cv2.bitwise_and(crop, ours)
    left, top, width, height = cv2.boundingRect(
        cv2.threshold(digit, edge, 255, cv2.THRESH_BINARY)[1]
    )  # the box of the pixels above `edge`
    if width == 0:
        return None
    corner = (int(y0 + top), int(x0 + left))
    return digit[top : top + height, left : left + width], corner


# -- 4. MNIST geometry ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def ellipse_kernel(radius: int) -> np.ndarray:
    """The elliptic kernel of ``radius`` (made once: a number reads many digits of one size)."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def stroke_width(digit: np.ndarray) -> float:
    """Mean stroke width in px: twice the inked area over the outline length (thin shapes)."""
    # uint8 thresholds compare "pixel > t" exactly (crop_digit), as digit > max / 2 does.
    ink = cv2.threshold(digit, cv2.minMaxLoc(digit)[1] * 0.5, 1, cv2.THRESH_BINARY)[1]
    contours, _ = cv2.findContours(ink, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    outline = sum(cv2.arcLength(c, True) for c in contours)
    return 2.0 * float(cv2.countNonZero(ink)) / max(outline, 1.0)


def thin_strokes(digit: np.ndarray, target: float, box: int = MNIST_BOX) -> np.ndarray:
    """Erode strokes wider than ``target`` px (as they will be in the 20x20 box) toward it.

    Why: a small CNN may misread bold digits (a bold 6 or 9 closes into an 8): for an early
    LeNet, thinning raised the font set from 85% to 89%, photos unchanged; for the current one
    it is neutral (docs/edge.md).
    """
    scale = box / max(digit.shape)
    excess = (stroke_width(digit) * scale - target) / scale  # in crop pixels
    r = int(excess // 2)
    if r < 1:
        return digit
    thinned = cv2.erode(digit, ellipse_kernel(r))
    return thinned if thinned.max() > 0 else digit


def fit_box(digit: np.ndarray, box: int = MNIST_BOX) -> np.ndarray:
    """Scale so the longer side is ``box`` px, keeping the aspect ratio (a 1 stays thin)."""
    h, w = digit.shape
    scale = box / max(h, w)
    if scale == 1.0:
        return digit.astype(np.float32)
    size = (max(1, min(box, round(w * scale))), max(1, min(box, round(h * scale))))
    interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    return cv2.resize(digit.astype(np.float32), size, interpolation=interpolation)


def place_by_mass(
    patch: np.ndarray, size: int = MNIST_SIZE, keep: tuple[int, int] | None = None
) -> np.ndarray:
    """Pad to ``size`` x ``size`` with the patch's centre of mass where MNIST puts it.

    Integer shifts, as MNIST's own; clamped so the digit is never cut off. ``keep`` is the
    patch's current corner in an input that is already 28x28: MNIST rounded its shifts on an
    image we do not have, so a digit whose centre of mass is within a pixel of the centre is
    left where it is instead of moving one pixel by a different rounding.
    """
    h, w = patch.shape
    out = np.zeros((size, size), np.float32)
    m = cv2.moments(patch)
    if m["m00"] > 0:
        cy, cx = m["m01"] / m["m00"], m["m10"] / m["m00"]
    else:
        cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    if (
        keep is not None
        and max(abs(keep[0] + cy - MNIST_CENTRE[0]), abs(keep[1] + cx - MNIST_CENTRE[1])) <= 1.0
    ):
        top, left = keep
    else:
        top, left = round(MNIST_CENTRE[0] - cy), round(MNIST_CENTRE[1] - cx)
    top, left = min(max(top, 0), size - h), min(max(left, 0), size - w)
    out[top : top + h, left : left + w] = patch
    return out


def scale_unit(image: np.ndarray) -> np.ndarray:
    """Map ink (never negative: a fitted crop of it) to [0, 1] with the stroke cores at 1, as
    in MNIST (40% of its ink pixels are 255).

    The 90th percentile of the inked pixels is the stroke core; everything above it saturates.
    """
    ink = image[image > 0]
    if ink.size == 0:
        return image.astype(np.float32)
    k = int(ink.size * 0.9)
    ink.partition(k)  # in place: ink is a copy already
    top = float(ink[k])
    scaled = image * np.float32(1.0 / max(top, 1e-6))
    np.minimum(scaled, 1.0, out=scaled)  # np.clip's argument checks cost more than the work here
    return scaled.astype(np.float32, copy=False)


# -- everything ------------------------------------------------------------------------------------


def normalize(image: np.ndarray, options: NormalizeOptions = DEFAULT_OPTIONS) -> Normalized:
    """Any image -> MNIST-style float32 (28, 28) in [0, 1], or "no digit" with the reason."""
    return normalize_gray(to_gray(image), options)


def normalize_gray(
    gray: np.ndarray, options: NormalizeOptions = DEFAULT_OPTIONS, closer: bool = True
) -> Normalized:
    """:func:`normalize` of a gray image; ``closer``: look again at a small digit's region at
    full size (:func:`look_closer`), which itself does not."""
    work, scale = to_work_scale(gray, options.work_size)
    flat, _, inverted = ink_image(work, options)
    mask, peak = stroke_mask(flat, options)
    if mask is None and scale * THIN_LINE_SHRINK < 1.0:
        # Nothing at work scale, but a thin pen's line fades as a large image shrinks: widen
        # the strokes to a work-scale pixel at full size and look once more.
        work, scale = to_work_scale(widen_strokes(gray, scale, inverted), options.work_size)
        flat, _, inverted = ink_image(work, options, inverted)
        mask, peak = stroke_mask(flat, options)
    blobs = None if mask is None else find_blobs(mask)
    if desk_may_show(blobs, inverted) and (painted := paint_desk(work)) is not None:
        work = painted
        flat, _, inverted = ink_image(work, options)
        mask, peak = stroke_mask(flat, options)
        blobs = None if mask is None else find_blobs(mask)
    if closer and not inverted:  # light ink: or a light sheet on a dark desk, written on?
        on_sheet = read_sheet(gray, work, scale, options)
        if on_sheet is not None and on_sheet.found:
            return on_sheet
    if mask is None:
        return Normalized(None, BLANK, None, inverted)
    if blobs is not None:
        blobs = without_shadow_edges(blobs, work, mask, inverted, options)
    found = select_digit(mask, options, blobs)
    if found is None:
        return Normalized(None, "no digit: no digit-sized ink in the image", None, inverted)
    if closer and scale < 1.0 and found.box[3] - found.box[1] < MNIST_BOX:
        nearer = look_closer(gray, found.box, scale, options)
        if nearer.found:
            return nearer
    mnist_sized = gray.shape == (MNIST_SIZE, MNIST_SIZE)  # already normalised: leave strokes be
    patch, reason = digit_patch(flat, mask, found, peak, options, mnist_sized)
    if patch is None:
        return Normalized(None, reason, None, inverted)
    x0, y0, x1, y1 = found.box
    frame_box = (
        int(x0 / scale),
        int(y0 / scale),
        max(1, round((x1 - x0) / scale)),
        max(1, round((y1 - y0) / scale)),
    )
    return Normalized(patch, "", frame_box, inverted)


def desk_may_show(blobs: Blobs | None, dark_on_light: bool) -> bool:
    """Whether the desk beyond a page's edge may be in the picture (edge.page_edge): the vote
    said light ink, or a blob lies on the picture's edge. Only then is it looked for: most
    photos are neither, and a digit cropped tight keeps its strokes along the border unless
    one of them lies on the picture's edge."""
    return not dark_on_light or (blobs is not None and any(blobs.on_edge))


def sheet_mask(work: np.ndarray) -> np.ndarray | None:
    """Where a light sheet on a darker desk is in ``work`` (uint8, 255 on the sheet, what is
    written on it included, its blurred edge left out), or None.

    Why: where the desk fills most of the frame, the sheet (a note, a card) differs most from
    the median and the polarity vote takes it for light ink; the digit is written on it. A
    sheet: the largest light region at 1/8 scale (Otsu) that covers 5-70% of the picture and
    75% of its rotated bounding rectangle, with the desk on two of its sides or more, and
    sharply apart from it (:func:`is_sharp_sheet`).
    """
    if min(work.shape) < MIN_LIGHTING_SIZE:
        return None
    tiny = _eighth(work)
    level, light = cv2.threshold(tiny, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    count, labels, stats, centres = cv2.connectedComponentsWithStats(light, connectivity=4)
    if count < 2:
        return None
    k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h, area = (int(v) for v in stats[k])
    th, tw = tiny.shape
    off_edges = sum((x > 0, y > 0, x + w < tw, y + h < th))
    _, (rw, rh), _ = cv2.minAreaRect(cv2.findNonZero((labels == k).astype(np.uint8)))
    if area < 0.75 * rw * rh or not 0.05 * tw * th <= area <= 0.7 * tw * th or off_edges < 2:
        return None
    if not is_sharp_sheet(tiny, light):
        return None
    # the same level at work scale, the sheet's outline filled (its writing is inside it)
    light_work = cv2.threshold(work, level, 255, cv2.THRESH_BINARY)[1]
    outlines, _ = cv2.findContours(light_work, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    centre = (float(8 * centres[k][0] + 4), float(8 * centres[k][1] + 4))
    around = [c for c in outlines if cv2.pointPolygonTest(c, centre, False) >= 0]
    if not around:
        return None
    sheet = np.zeros_like(work)
    cv2.drawContours(sheet, around[:1], -1, 255, cv2.FILLED)
    # four-cornered and solid at full detail too: a bold light digit is one blob at 1/8 scale;
    # at this scale its holes and hollows show, and its outline has more corners than four
    _, (rw, rh), _ = cv2.minAreaRect(around[0])
    solid = cv2.countNonZero(cv2.bitwise_and(light_work, sheet)) >= 0.8 * rw * rh
    if not solid or not four_cornered(around[0]):
        return None
    return cv2.erode(sheet, _ELLIPSE5)  # 2 px off the sheet's edge, blurred by the lens


def four_cornered(outline: np.ndarray) -> bool:
    """Whether an outline's convex hull is a quadrilateral, give or take 2% of its perimeter:
    a sheet, seen from any angle (a document scanner's test). A bold 0 or 8 seen as a blob is
    an ellipse, eight corners or more at this tolerance."""
    hull = cv2.convexHull(outline)
    return len(cv2.approxPolyDP(hull, 0.02 * cv2.arcLength(hull, True), True)) == 4


def is_sharp_sheet(tiny: np.ndarray, light: np.ndarray) -> bool:
    """Whether the light pixels (Otsu's class) stand apart from the rest as a sheet from a
    desk: the desk under 80% of the sheet's brightness, and the two classes holding 88% of the
    picture's variance (Otsu's separability). The light middle of blank paper under a vignette
    or a shadow shades into the rest: 0.66-0.84 in the 32 of 300 such photos (the bench's) that
    pass the other tests; its sheets on desks of grey 60-120: 0.93-0.95."""
    sheet, desk = cv2.mean(tiny, light)[0], cv2.mean(tiny, cv2.bitwise_not(light))[0]
    share = cv2.countNonZero(light) / light.size
    variance = float(cv2.meanStdDev(tiny)[1][0, 0]) ** 2
    between = share * (1.0 - share) * (sheet - desk) ** 2
    return desk < 0.8 * sheet and between >= 0.88 * variance


def read_sheet(
    gray: np.ndarray, work: np.ndarray, scale: float, options: NormalizeOptions
) -> Normalized | None:
    """The digit on a light sheet on a darker desk (:func:`sheet_mask`), read from the
    full-size image cut to the sheet, the desk in the cut painted over with the sheet's own
    median; None where there is no such sheet or nothing dark is written on it."""
    sheet = sheet_mask(work)
    if sheet is None or not cv2.countNonZero(sheet):
        return None
    x, y, w, h = cv2.boundingRect(sheet)
    x0, y0 = int(x / scale), int(y / scale)
    x1, y1 = min(gray.shape[1], round((x + w) / scale)), min(gray.shape[0], round((y + h) / scale))
    region = gray[y0:y1, x0:x1].copy()
    on_sheet = cv2.resize(
        sheet[y : y + h, x : x + w], region.shape[::-1], interpolation=cv2.INTER_NEAREST
    )
    region[on_sheet == 0] = int(np.median(region[on_sheet > 0]))
    result = normalize_part(region, x0, y0, options)
    # light ink on the sheet too: not a sheet written on
    return result if result.box is not None and result.inverted else None


def look_closer(
    gray: np.ndarray, box: tuple[int, int, int, int], scale: float, options: NormalizeOptions
) -> Normalized:
    """The digit found at work scale, normalised again from the full-size image: its region
    with a digit's size of paper around it. A digit under 20 px at work scale would reach the
    model enlarged from those few pixels, where the photo has it in detail (a 180-px digit in
    a 4000x3000 photo is 11 px at work scale)."""
    x0, y0, x1, y1 = (round(v / scale) for v in box)
    pad = max(x1 - x0, y1 - y0)
    h, w = gray.shape
    left, top = max(0, x0 - pad), max(0, y0 - pad)
    region = gray[top : min(h, y1 + pad), left : min(w, x1 + pad)]
    return normalize_part(region, left, top, options)


def normalize_part(
    region: np.ndarray, left: int, top: int, options: NormalizeOptions
) -> Normalized:
    """:func:`normalize_gray` of a part of a picture whose top-left corner is at (``left``,
    ``top``) in it, the box given in the picture's pixels; no closer look within it."""
    result = normalize_gray(region, options, closer=False)
    if result.box is None:
        return result
    bx, by, bw, bh = result.box
    return dataclasses.replace(result, box=(bx + left, by + top, bw, bh))


def ink_image(
    work: np.ndarray,
    options: NormalizeOptions = DEFAULT_OPTIONS,
    dark_on_light: bool | None = None,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Steps 2-4 on a work-scale gray image: the ink (bright on black), the paper, the polarity.

    Shared by :func:`normalize` and the number reader (:mod:`edge.number`), so a digit in a
    number sees the same paper and lighting estimate as a digit alone. ``dark_on_light``:
    the polarity when the caller knows it, else :func:`is_dark_on_light` decides.
    """
    if options.smooth > 0 and min(work.shape) >= MIN_LIGHTING_SIZE:
        work = cv2.GaussianBlur(work, (0, 0), options.smooth)
    background, inverted = paper_and_polarity(work, dark_on_light, options.open_light_ink)
    return flatten_illumination(work, background, inverted), background, inverted


def digit_patch(
    flat: np.ndarray,
    mask: np.ndarray,
    region: DigitRegion,
    peak: float,
    options: NormalizeOptions = DEFAULT_OPTIONS,
    mnist_sized: bool = False,
) -> tuple[np.ndarray | None, str]:
    """Steps 7-9: one digit's region of the ink image -> the MNIST 28x28, or None and why.

    ``peak`` is the ink peak the floor and edge are fractions of; ``mnist_sized``: the input
    already is a 28x28 MNIST digit, whose strokes and placement are left as they are.
    """
    return digit_patches(flat, mask, [region], [peak], options, mnist_sized)[0]


def digit_patches(
    flat: np.ndarray,
    mask: np.ndarray,
    regions: Sequence[DigitRegion],
    peaks: Sequence[float],
    options: NormalizeOptions = DEFAULT_OPTIONS,
    mnist_sized: bool = False,
) -> list[tuple[np.ndarray | None, str]]:
    """:func:`digit_patch` for each region of one ink image (a number's digits).

    Step by step for all the regions (crop them all, then fit them all, ...) rather than
    region by region: the same patches in less time, as each step's code stays warm in the
    CPU's caches while it runs for every digit of a frame (measured in docs/edge.md,
    "Reading a number").
    """
    crops = [
        crop_digit(flat, mask, region, options, options.floor * peak, options.edge * peak)
        for region, peak in zip(regions, peaks, strict=True)
    ]
    out: list[tuple[np.ndarray | None, str]] = [
        (None, "no digit: the ink vanished when cropped")
    ] * len(crops)
    kept = [i for i, cropped in enumerate(crops) if cropped is not None]
    digits = [crops[i][0] for i in kept]  # type: ignore[index]
    if options.stroke > 0 and not mnist_sized:
        digits = [thin_strokes(digit, options.stroke) for digit in digits]
    fitted = [fit_box(digit) for digit in digits]
    scaled = [scale_unit(patch) for patch in fitted]
    for i, digit, fit, unit in zip(kept, digits, fitted, scaled, strict=True):
        already = mnist_sized and fit.shape == digit.shape
        patch = place_by_mass(unit, keep=crops[i][1] if already else None)  # type: ignore[index]
        # All zero: everything was below the noise floor once resized (patches are >= 0).
        vanished = (None, "no digit: the ink vanished when resized")
        out[i] = (patch, "") if cv2.countNonZero(patch) else vanished
    return out


def naive(image: np.ndarray) -> np.ndarray:
    """The tutorials' preprocessing, as a baseline: gray, invert, resize the frame to 28x28."""
    gray = to_gray(image)
    if is_dark_on_light(gray, estimate_background(gray)):  # the polarity alone
        gray = cv2.bitwise_not(gray)
    small = cv2.resize(gray, (MNIST_SIZE, MNIST_SIZE), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32) / np.float32(255.0)
