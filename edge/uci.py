"""Real handwriting that is not MNIST: the UCI digits scikit-learn ships, as scans and photos.

``sklearn.datasets.load_digits`` holds 1,797 digits written on NIST forms by 13 writers who are
not in MNIST; each is an 8x8 grid of counts 0-16 (the 4x4 blocks of a 32x32 bitmap that were
inked). That is the digit's ink coverage at low resolution, which is rendered here two ways:

- **scans**: the coverage upsampled (bicubic) to a 56 px tall digit, dark ink on white paper
  with a margin, as a flatbed scan or a screenshot of a drawn digit would look;
- **photos**: the same ink through :func:`edge.synth.photograph` (lighting, blur, noise, JPEG).

The digits are blocky and their strokes thick after the 4x4 averaging: a hard, honest test of
stroke width and writing style. It is a test set only: nothing trains or chooses on it.
scikit-learn is a host/dev dependency, never the device's: :func:`available` says whether the
set can be made here.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

import cv2
import numpy as np

from edge.errors import DataError
from edge.synth import DIGIT_HEIGHT, Sample, photograph

SCAN_HEIGHT = 56  # px: a digit written ~7 mm tall, scanned at 200 dpi
SCAN_MARGIN = 0.5  # paper around the digit, as a fraction of its height (each side)


def available() -> bool:
    """True where scikit-learn (and so its copy of the UCI digits) is installed."""
    try:
        import sklearn.datasets  # noqa: F401
    except ImportError:
        return False
    return True


@cache
def load() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 digits as ink coverage float32 (N, 8, 8) in [0, 1], and their labels."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError(
            "the UCI digits need scikit-learn (pip install '.[dev]'); the device does not ship it"
        ) from None
    digits = load_digits()
    return (digits.images / 16.0).astype(np.float32), digits.target.astype(np.int64)


def ink(coverage: np.ndarray, height: float) -> np.ndarray:
    """8x8 coverage -> ink coverage in [0, 1] ``height`` px tall (bicubic, as a scanner would)."""
    size = max(8, round(height))
    up = cv2.resize(coverage.astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    return np.clip(up, 0.0, 1.0)


def scan(coverage: np.ndarray, height: int = SCAN_HEIGHT) -> np.ndarray:
    """One digit as a clean gray scan: dark ink (30) on white paper (240), uint8."""
    pad = round(SCAN_MARGIN * height)
    paper = np.zeros((height + 2 * pad, height + 2 * pad), np.float32)
    paper[pad : pad + height, pad : pad + height] = ink(coverage, height)
    return np.rint(240.0 - 210.0 * paper).astype(np.uint8)


def scan_set(limit: int | None = None) -> Iterator[Sample]:
    """Every UCI digit (or the first ``limit``) as a scan."""
    images, labels = load()
    for coverage, label in zip(images[:limit], labels[:limit], strict=True):
        yield Sample(scan(coverage), int(label))


def photo_set(count: int | None = None, seed: int = 0) -> Iterator[Sample]:
    """UCI digits photographed on paper (all of them once, or ``count`` drawn), reproducibly."""
    images, labels = load()
    rng = np.random.default_rng([seed, 0x0C1])
    picks = np.arange(len(labels)) if count is None else rng.choice(len(labels), count)
    for i in picks:
        # the 8x8 grid is the digit's own box: its height is the digit's, not MNIST's 28/20
        yield Sample(photograph(ink(images[i], rng.uniform(*DIGIT_HEIGHT)), rng), int(labels[i]))
