"""Synthetic photographs of handwritten digits on paper, made at test/bench time (never committed).

Three sets, all labelled and reproducible from a seed:

- **photos**: MNIST *test* digits rendered as dark ink on paper and "photographed": uneven
  lighting (gradient, vignette, sometimes a shadow edge), tinted paper, a pen colour, the digit
  60-200 px tall anywhere in a 320x240 or 640x480 frame, rotated up to ±12°, blurred, noisy and
  JPEG-compressed at quality 70-95;
- **pages**: the same, written on a page: ruled or grid lines, specks of dirt, and in 40% of
  them the desk beyond the page's edge along one side of the frame;
- **fonts**: the digits 0-9 in OpenCV's handwriting-style Hershey faces (script, and italic
  simplex/complex/triplex), with random stroke width, through the same camera.

:func:`measure` reads the sets with the edge normalisation and with the naive resize, so the
accuracy of a model on real-looking photos is one function call (``digit-edge eval --photos``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from edge.normalize import NormalizeOptions

FRAME_SIZES = ((320, 240), (640, 480))
DIGIT_HEIGHT = (60, 200)  # px, in the frame
MAX_ROTATION = 12.0  # degrees
JPEG_QUALITY = (70, 95)
PAGE_SLOPE = 5.0  # degrees: ruled and grid lines are this far off level at most
FONT_FACES: tuple[int, ...] = (
    cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
    cv2.FONT_HERSHEY_SCRIPT_COMPLEX,
    cv2.FONT_HERSHEY_SCRIPT_SIMPLEX | cv2.FONT_ITALIC,
    cv2.FONT_HERSHEY_SCRIPT_COMPLEX | cv2.FONT_ITALIC,
    cv2.FONT_HERSHEY_SIMPLEX | cv2.FONT_ITALIC,
    cv2.FONT_HERSHEY_COMPLEX | cv2.FONT_ITALIC,
    cv2.FONT_HERSHEY_TRIPLEX | cv2.FONT_ITALIC,
)


@dataclass(frozen=True)
class Sample:
    """One synthetic photo: the decoded BGR frame as a camera would deliver it, and its label."""

    image: np.ndarray
    label: int


# -- the digit's ink ------------------------------------------------------------------------------


def mnist_ink(digit: np.ndarray, height: float) -> np.ndarray:
    """An MNIST digit (uint8 28x28, white on black) as ink coverage in [0, 1], ``height`` px tall.

    MNIST's digits fill 20 of the 28 px, so the whole image is scaled by ``height / 20``.
    """
    size = max(8, round(28 * height / 20))
    ink = cv2.resize(digit.astype(np.float32) / 255.0, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.clip(ink, 0.0, 1.0)


def font_ink(label: int, height: float, rng: np.random.Generator) -> np.ndarray:
    """A digit in a random handwriting-style Hershey face, as ink coverage, ``height`` px tall."""
    face = int(rng.choice(FONT_FACES))
    text = str(label)
    (tw, th), _ = cv2.getTextSize(text, face, 1.0, 1)
    font_scale = height / max(th, 1)
    thickness = max(1, round(height * rng.uniform(0.07, 0.13)))
    (tw, th), base = cv2.getTextSize(text, face, font_scale, thickness)
    pad = thickness + 4
    canvas = np.zeros((th + base + 2 * pad, tw + 2 * pad), np.uint8)
    cv2.putText(
        canvas, text, (pad, pad + th), face, font_scale, 255, thickness, lineType=cv2.LINE_AA
    )
    return canvas.astype(np.float32) / 255.0


# -- the camera ----------------------------------------------------------------------------------


def photograph(
    ink: np.ndarray,
    rng: np.random.Generator,
    frame: tuple[int, int] | None = None,
    max_rotation: float = MAX_ROTATION,
    page: float | None = None,
) -> np.ndarray:
    """Put ink on paper in a frame and take a (bad) photo of it: BGR uint8, a decoded JPEG.

    ``frame``: (width, height), else one of :data:`FRAME_SIZES` at random. ``page``: the
    digit's height in px, to write it on a page with :func:`page_marks` (else plain paper).
    """
    fw, fh = frame if frame is not None else FRAME_SIZES[int(rng.integers(len(FRAME_SIZES)))]
    ink = rotate(ink, rng.uniform(-max_rotation, max_rotation))
    ih, iw = ink.shape
    if ih > fh or iw > fw:  # a large, rotated digit in a small frame: shrink it to fit
        f = min(fh / ih, fw / iw) * 0.98
        ink = cv2.resize(
            ink, (max(1, int(iw * f)), max(1, int(ih * f))), interpolation=cv2.INTER_AREA
        )
        ih, iw = ink.shape
    top, left = int(rng.integers(0, fh - ih + 1)), int(rng.integers(0, fw - iw + 1))
    alpha = np.zeros((fh, fw), np.float32)
    alpha[top : top + ih, left : left + iw] = ink * rng.uniform(0.8, 1.0)
    if page is not None:
        alpha = np.maximum(alpha, page_marks((fh, fw), page, rng))
    return expose(alpha, rng)


def expose(alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ink coverage (float, 0 paper .. 1 pen) -> a photo of it: lighting, blur, noise, JPEG."""
    fh, fw = alpha.shape
    # Brightness in one channel, colour at the end: paper 175-250, pen 5-70, a tint per channel
    # (yellowish, bluish, greenish paper; black, blue-ish or brown-ish ink).
    paper, pen = rng.uniform(175, 250), rng.uniform(5, 70)
    frame = paper + (pen - paper) * alpha
    frame *= lighting(fw, fh, rng)
    sigma = rng.uniform(0.0, 1.5) * fw / 320
    if sigma > 0.3:
        frame = cv2.GaussianBlur(frame, (0, 0), sigma)
    noise = np.empty_like(frame)
    cv2.setRNGSeed(int(rng.integers(2**31)))
    cv2.randn(noise, 0.0, float(rng.uniform(1.0, 8.0)))  # sensor noise
    frame += noise
    tint = rng.uniform(0.82, 1.0, size=3)
    frame = cv2.merge([cv2.convertScaleAbs(frame, alpha=float(t)) for t in tint])
    quality = int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1))
    ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(jpeg, cv2.IMREAD_COLOR)


def rotate(ink: np.ndarray, degrees: float) -> np.ndarray:
    h, w = ink.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * sin + w * cos) + 1, int(h * cos + w * sin) + 1
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    return cv2.warpAffine(ink, m, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=0.0)


def lighting(w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """Illumination factor per pixel, 0.45..1: a tilted gradient, a vignette, maybe a shadow.

    Computed on a 1/8 grid and resized: lighting is smooth, and this keeps a photo at ~5 ms.
    """
    sw, sh = max(2, w // 8), max(2, h // 8)
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    xx, yy = xx / (sw - 1) - 0.5, yy / (sh - 1) - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    light = 1.0 - rng.uniform(0.0, 0.45) * (0.5 + np.cos(angle) * xx + np.sin(angle) * yy)
    light -= rng.uniform(0.0, 0.35) * (xx**2 + yy**2) * 2
    if rng.random() < 0.3:  # the phone's shadow: a soft-edged darker half-plane
        a = rng.uniform(0, 2 * np.pi)
        edge = np.cos(a) * xx + np.sin(a) * yy - rng.uniform(-0.3, 0.3)
        light *= 1.0 - rng.uniform(0.15, 0.4) / (1.0 + np.exp(-edge * 40.0))
    light = cv2.resize(light.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(light, 0.45, 1.0)


# -- the sets ------------------------------------------------------------------------------------


def page_marks(shape: tuple[int, int], height: float, rng: np.random.Generator) -> np.ndarray:
    """What a page adds to the ink, as coverage: ruled or grid lines, specks, a table's edge
    (the line spacing scales with ``height``, the digits' height in px)."""
    h, w = shape
    marks = np.zeros(shape, np.float32)
    kind = rng.choice(["ruled", "grid", "plain"])
    strength = float(rng.uniform(0.15, 0.35))
    spacing = height * rng.uniform(0.8, 1.6)
    slope = np.tan(np.radians(rng.uniform(-PAGE_SLOPE, PAGE_SLOPE)))
    width = int(rng.integers(1, 3))
    if kind in ("ruled", "grid"):
        for y in np.arange(rng.uniform(0, spacing), h + w * abs(slope), spacing):
            y0 = int(y - w * max(slope, 0))
            cv2.line(marks, (0, y0), (w, int(y0 + w * slope)), strength, width, cv2.LINE_AA)
    if kind == "grid":
        for x in np.arange(rng.uniform(0, spacing), w, spacing):
            cv2.line(marks, (int(x), 0), (int(x - h * slope), h), strength, width, cv2.LINE_AA)
    for _ in range(int(rng.integers(0, 12))):  # specks of dirt and paper fibre
        centre = (int(rng.integers(w)), int(rng.integers(h)))
        radius = max(1, int(rng.uniform(0.5, 0.06 * height)))
        cv2.circle(marks, centre, radius, float(rng.uniform(0.3, 0.9)), -1, cv2.LINE_AA)
    if rng.random() < 0.4:  # the page ends: a darker table beyond a straight edge
        side = int(rng.integers(4))
        depth = int(rng.uniform(0.03, 0.12) * (w if side < 2 else h))
        level = float(rng.uniform(0.3, 0.8))
        edge = (
            (slice(None), slice(0, depth)),
            (slice(None), slice(w - depth, w)),
            (slice(0, depth), slice(None)),
            (slice(h - depth, h), slice(None)),
        )[side]
        marks[edge] = np.maximum(marks[edge], level)
    return marks


def photo_set(
    digits: np.ndarray, labels: np.ndarray, count: int, seed: int = 0
) -> Iterator[Sample]:
    """``count`` photos of MNIST digits (spread over the given test digits), reproducibly."""
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(digits), size=count, replace=count > len(digits))
    for i in picks:
        ink = mnist_ink(digits[i], rng.uniform(*DIGIT_HEIGHT))
        yield Sample(photograph(ink, rng), int(labels[i]))


def page_set(digits: np.ndarray, labels: np.ndarray, count: int, seed: int = 0) -> Iterator[Sample]:
    """``count`` photos of MNIST digits written on a page (:func:`page_marks`: ruled or grid
    lines, specks, and in 40% of them the desk beyond the page's edge), reproducibly."""
    rng = np.random.default_rng(seed + 3)
    picks = rng.choice(len(digits), size=count, replace=count > len(digits))
    for i in picks:
        height = rng.uniform(*DIGIT_HEIGHT)
        yield Sample(photograph(mnist_ink(digits[i], height), rng, page=height), int(labels[i]))


def font_set(count: int, seed: int = 0) -> Iterator[Sample]:
    """``count`` photos of font digits, labels cycling 0-9, reproducibly."""
    rng = np.random.default_rng(seed + 1)
    for i in range(count):
        label = i % 10
        ink = font_ink(label, rng.uniform(*DIGIT_HEIGHT), rng)
        yield Sample(photograph(ink, rng), label)


# -- measuring a model on them ---------------------------------------------------------------------


@dataclass(frozen=True)
class SetAccuracy:
    """How one model read one synthetic set, with each preprocessing."""

    name: str
    count: int
    normalized: float  # accuracy with edge.normalize (no-digit counts as wrong)
    naive: float  # accuracy with the naive resize baseline
    no_digit: int  # frames the normalisation called empty
    seconds: float
    #: with edge.normalize: probabilities per image (rows of 0 where no digit was found)
    probs: np.ndarray | None = None
    labels: np.ndarray | None = None

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "set": self.name,
            "count": self.count,
            "normalized": self.normalized,
            "naive": self.naive,
            "no_digit": self.no_digit,
            "seconds": round(self.seconds, 2),
        }


def measure(
    predict: Callable[[np.ndarray], np.ndarray],
    samples: Iterator[Sample],
    name: str,
    on_sample: Callable[[], None] | None = None,
) -> SetAccuracy:
    """Accuracy of ``predict`` (float (N, 28, 28) -> probabilities) on ``samples``, both ways."""
    return measure_many([predict], samples, name, on_sample)[0]


def measure_many(
    predicts: list[Callable[[np.ndarray], np.ndarray]],
    samples: Iterator[Sample],
    name: str,
    on_sample: Callable[[], None] | None = None,
    options: list[NormalizeOptions] | None = None,
    naive_predicts: list[Callable[[np.ndarray], np.ndarray]] | None = None,
) -> list[SetAccuracy]:
    """:func:`measure` for several models on one pass over the samples (made once, normalised
    once per distinct ``options``: each model's own, default: the defaults). The naive resize
    is read by ``naive_predicts`` where given (the model alone, as the tutorials read it)."""
    from edge.normalize import DEFAULT_OPTIONS, naive, normalize

    options = options or [DEFAULT_OPTIONS] * len(predicts)
    start = time.perf_counter()
    normalised: dict[NormalizeOptions, tuple[list[np.ndarray], list[int]]] = {
        o: ([], []) for o in options
    }
    naive_imgs, labels = [], []
    for i, sample in enumerate(samples):
        labels.append(sample.label)
        for o, (imgs, idx) in normalised.items():
            result = normalize(sample.image, o)
            if result.image is not None:
                imgs.append(result.image)
                idx.append(i)
        naive_imgs.append(naive(sample.image))
        if on_sample is not None:
            on_sample()
    prepared = time.perf_counter() - start
    y = np.asarray(labels)
    n = max(len(y), 1)
    results = []
    naive_predicts = naive_predicts or predicts
    for predict, o, predict_naive in zip(predicts, options, naive_predicts, strict=True):
        norm_imgs, norm_idx = normalised[o]
        t0 = time.perf_counter()
        probs = np.zeros((len(y), 10), np.float32)
        if norm_imgs:
            probs[norm_idx] = predict(np.stack(norm_imgs))
        correct = int(((probs.argmax(axis=1) == y) & (probs.max(axis=1) > 0)).sum())
        naive_correct = (
            int((predict_naive(np.stack(naive_imgs)).argmax(axis=1) == y).sum())
            if naive_imgs
            else 0
        )
        results.append(
            SetAccuracy(
                name=name,
                count=len(y),
                normalized=correct / n,
                naive=naive_correct / n,
                no_digit=len(y) - len(norm_idx),
                seconds=prepared + time.perf_counter() - t0,
                probs=probs,
                labels=y,
            )
        )
    return results
