"""The sets ``digit-edge eval`` reads beside MNIST or a folder: synthetic photos, pages, fonts
and screen drawings, real writers' digits (UCI, USPS), and synthetic numbers.

Each is made at run time from MNIST test digits or a downloaded file, never stored, and read
as the device reads it (:func:`edge.reread.read_probabilities`, :class:`edge.number.NumberReader`),
so that the figures are the ones ``classify`` gets. The CLI adds the options and progress bars.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge import confidence, optdigits, synth, synth_numbers, synth_screens, uci, usps
from edge.errors import DataError
from edge.evaluate import Dataset
from edge.mnist import Mnist
from edge.model import DigitClassifier
from edge.number import NumberReader
from edge.pipeline import DigitReader, normalize_options
from edge.reread import read_probabilities

#: What eval's progress bars call once per image read.
Tick = Callable[[], None]


@dataclass(frozen=True)
class DigitSet:
    """A set of single digits: its name, its size and how to make its samples."""

    name: str
    count: int
    samples: Callable[[], Iterator[synth.Sample]]


@dataclass(frozen=True)
class NumberSet:
    """A set of synthetic numbers: its name, seed, :func:`edge.synth_numbers.number_set`'s
    arguments and the digits it writes with (images, labels)."""

    name: str
    seed: int
    kwargs: dict[str, Any]
    digits: tuple[np.ndarray, np.ndarray]


def mnist_test(dataset: Dataset, option: str) -> Mnist:
    """The MNIST eval already loaded, whose test digits these sets write on paper."""
    if dataset.mnist_data is None:
        raise DataError(f"{dataset.name}: {option} needs MNIST (.npz or IDX) for the test digits")
    return dataset.mnist_data


def digit_sets(test: Mnist, count: int, archives: dict[str, Path | None]) -> list[DigitSet]:
    """The synthetic sets of ``count`` digits each, then the real writers' sets there are
    (``archives``: the downloaded files of --usps and --optdigits, None where not given)."""
    x, y = test.x_test, test.y_test
    return [
        DigitSet("photos", count, functools.partial(synth.photo_set, x, y, count, seed=0)),
        DigitSet("pages", count, functools.partial(synth.page_set, x, y, count, seed=0)),
        DigitSet("fonts", count, functools.partial(synth.font_set, count, seed=0)),
        DigitSet(
            "screens", count, functools.partial(synth_screens.screen_set, x, y, count, seed=0)
        ),
        *real_writer_sets(count, archives),
    ]


def real_writer_sets(count: int, archives: dict[str, Path | None]) -> list[DigitSet]:
    """The sets of real writers' digits there are here, up to ``count`` each: scikit-learn's
    UCI digits (hosts with [dev] only) and those of the downloaded ``archives``."""
    sets: list[DigitSet] = []
    if uci.available():
        n = min(count, len(uci.load()[1]))
        every = None if n == len(uci.load()[1]) else n  # the photo set draws n, or takes all
        sets += [
            DigitSet("uci-scans", n, functools.partial(uci.scan_set, n)),
            DigitSet("uci-photos", n, functools.partial(uci.photo_set, every)),
        ]
    if (wheel := archives.get("optdigits")) is not None:  # the UCI digits of 30 more writers
        n = min(count, len(optdigits.load(wheel)[1]))
        sets.append(DigitSet("uci-more-scans", n, functools.partial(optdigits.scan_set, wheel, n)))
    if (archive := archives.get("usps")) is not None:  # digits from the ZIP codes of US mail
        n = min(count, len(usps.load(archive)[1]))
        sets.append(DigitSet("usps", n, functools.partial(usps.scan_set, archive, n)))
    return sets


def digit_accuracy(
    models: list[DigitClassifier], sets: list[DigitSet], thresholds: list[float], tick: Tick
) -> list[dict[str, Any]]:
    """Each model's accuracy on each set, normalised as the device reads and naive-resized as
    the tutorials do, with what its --min-confidence does there."""
    results = []
    for s in sets:
        accs = synth.measure_many(
            [functools.partial(read_probabilities, m) for m in models],
            s.samples(),
            s.name,
            tick,
            [normalize_options(m) for m in models],
            [m.predict for m in models],  # the naive resize: the model alone, as tutorials
        )
        for m, a, p in zip(models, accs, thresholds, strict=True):
            results.append({"model": str(m.path), **a.as_dict(), **unsure(a.probs, a.labels, p)})
    return results


def unsure(probs: np.ndarray, labels: np.ndarray, min_confidence: float) -> dict[str, Any]:
    """What --min-confidence does on a set (the wrong and unsure counts), and accuracy against
    coverage over a range of thresholds (edge/confidence.py)."""
    out: dict[str, Any] = {"coverage": confidence.coverage_curve(probs, labels)}
    if min_confidence > 0:
        o = confidence.outcome(probs, labels, min_confidence)
        keys = ("min_confidence", "wrong_without", "wrong", "unsure")
        out["with_min_confidence"] = {k: o[k] for k in keys}
    return out


def number_sets(test: Mnist, usps_archive: Path | None = None) -> list[NumberSet]:
    """The synthetic number sets (edge.synth_numbers.NUMBER_SETS) of MNIST test digits, and
    strips of USPS digits where the archive is given."""
    sets = [
        NumberSet(name, seed, kwargs, (test.x_test, test.y_test))
        for name, (seed, kwargs, _) in synth_numbers.NUMBER_SETS.items()
    ]
    if usps_archive is not None:
        name, seed, kwargs, _ = synth_numbers.USPS_SET
        sets.append(NumberSet(name, seed, kwargs, usps.as_mnist(usps_archive)))
    return sets


def number_accuracy(
    models: list[DigitClassifier],
    sets: list[NumberSet],
    count: int,
    tick: Tick,
    thresholds: list[float] | None = None,
) -> list[dict[str, Any]]:
    """Each model's exact-number and per-digit accuracy and numbers per second on ``count``
    numbers of each set, read as ``classify --number`` reads them: as read (each digit's best
    class), and where a model's threshold is above 0 also as shown at it, "?" for a digit
    under it (exact, unsure, wrong without a "?")."""
    results = []
    for s in sets:
        # the set with decimal points is read as `--number --decimal-point` reads
        point = s.kwargs.get("point", False)
        readers = [NumberReader(DigitReader(m), decimal_point=point) for m in models]
        samples = synth_numbers.number_set(*s.digits, count, s.seed, **s.kwargs)
        accs = synth_numbers.measure_numbers(readers, samples, s.name, tick, thresholds)
        results += [
            {"model": str(m.path), **a.as_dict()} for m, a in zip(models, accs, strict=True)
        ]
    return results
