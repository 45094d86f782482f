"""Accuracy of one or several models on the device itself, side by side, with their agreement.

Data is an MNIST ``.npz`` / IDX folder (its test split, already MNIST-style) or a labelled
folder of pictures (one subfolder per class, named by label), which go through the same
preprocessing as ``classify``. :func:`format_report` is what ``eval`` prints without ``--json``
(the extra sets of ``--photos`` and ``--numbers`` are :mod:`edge.eval_sets`'s).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge import confidence, imageio, mnist
from edge.errors import DataError, DigitEdgeError
from edge.model import DigitClassifier
from edge.pipeline import DigitReader
from edge.reread import REREAD_BELOW, read_probabilities


@dataclass
class Dataset:
    """Images (float (N, 28, 28) in [0, 1], already preprocessed) and their label indices."""

    name: str
    images: np.ndarray
    labels: np.ndarray
    no_digit: np.ndarray  # bool per image: preprocessing found no digit (counted as wrong)
    skipped: list[str]  # files that could not be read
    mnist_data: mnist.Mnist | None = None  # the whole MNIST it came from, if it did (--photos)


def is_mnist(path: Path) -> bool:
    if path.is_file():
        return True
    names = {p.name for p in path.iterdir()} if path.is_dir() else set()
    return "mnist.npz" in names or any(n.startswith("t10k-images") for n in names)


def load(
    path: Path,
    reader: DigitReader,
    limit: int | None = None,
    tick: Callable[[], None] | None = None,
) -> Dataset:
    """The test images at ``path`` (MNIST test split, or a labelled folder read by ``reader``)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    if is_mnist(path):
        data = mnist.load(path, canonical_sizes=False)
        x, y = data.x_test[:limit], data.y_test[:limit]
        return Dataset(
            f"{path} (test split)", x.astype(np.float32) / 255.0, y.astype(np.int64),
            np.zeros(len(y), bool), [], data,
        )  # fmt: skip
    labels = reader.model.labels
    folders = sorted(p for p in path.iterdir() if p.is_dir())
    unknown = [p.name for p in folders if p.name not in labels]
    if not folders or unknown:
        raise DataError(
            f"{path}: expected an MNIST .npz/IDX folder or one subfolder per label "
            f"({', '.join(labels)})"
            + (f"; unknown subfolders: {', '.join(unknown)}" if unknown else "")
        )
    images, ys, empty, skipped = [], [], [], []
    for label, source in interleaved(folders):
        if limit is not None and len(ys) >= limit:
            break
        try:
            prepared = reader.prepare(imageio.read(source, str(source)))
        except DigitEdgeError as exc:
            skipped.append(str(exc))
            continue
        images.append(prepared.image if prepared.found else np.zeros((28, 28), np.float32))
        empty.append(not prepared.found)
        ys.append(labels.index(label))
        if tick is not None:
            tick()
    if not ys:
        raise DataError(f"{path}: no readable images in the label subfolders")
    return Dataset(str(path), np.stack(images), np.asarray(ys), np.asarray(empty), skipped)


def interleaved(folders: list[Path]) -> list[tuple[str, Path]]:
    """(label, file) of every image in the label ``folders``, the classes taken in turn (the
    first file of each folder, then the second of each, ...; each folder's sorted).

    Why: ``--limit N`` reads the first N of these; folder by folder, those were folder 0's
    images alone (or 0 and 1), an accuracy of one or two classes. In turn, the first N
    sample every class alike, and the same N each run.
    """
    queues = [
        [(folder.name, s.path) for s in imageio.expand([str(folder)]) if s.path is not None]
        for folder in folders
    ]
    return [item for row in itertools.zip_longest(*queues) for item in row if item is not None]


def load_for(
    path: Path,
    readers: list[DigitReader],
    limit: int | None = None,
    tick: Callable[[], None] | None = None,
) -> list[Dataset]:
    """:func:`load` for each reader, prepared as its model expects (models normalise for the
    stroke width they were trained on): read once per distinct preprocessing, once for MNIST."""
    path = Path(path).expanduser()
    mnist_set = path.exists() and is_mnist(path)
    keys = [None if mnist_set else (r.preprocess, r.options) for r in readers]
    loaded: dict[Any, Dataset] = {}
    for key, reader in zip(keys, readers, strict=True):
        if key not in loaded:
            loaded[key] = load(path, reader, limit, tick)
    return [loaded[key] for key in keys]


#: Images read between two ticks of eval's progress: the reading is most of eval's time (11 s
#: for edgenet_int8 on MNIST's 10,000 here), and its rows are independent, so chunks give
#: the same probabilities.
PROGRESS_CHUNK = 500


def read_all(
    model: DigitClassifier, images: np.ndarray, tick: Callable[[int], None] | None = None
) -> np.ndarray:
    """:func:`edge.reread.read_probabilities` for ``images``, ``tick(n)`` after every n read."""
    out = np.zeros((len(images), len(model.labels)), np.float32)
    for start in range(0, len(images), PROGRESS_CHUNK):
        part = images[start : start + PROGRESS_CHUNK]
        out[start : start + len(part)] = read_probabilities(model, part)
        if tick is not None:
            tick(len(part))
    return out


def evaluate(
    models: list[DigitClassifier],
    datasets: list[Dataset],
    min_confidences: list[float] | None = None,
    tick: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Accuracy per model (each on its own dataset: the same files, prepared for it) and
    pairwise agreement of predicted labels; with a minimum confidence per model, also its
    wrong and unsure counts (edge/confidence.py). ``tick(n)``: n more images read by a model
    (blank ones, which are not read, at its end)."""
    results, preds = [], []
    for i, (model, data) in enumerate(zip(models, datasets, strict=True)):
        start = time.perf_counter()
        found = ~data.no_digit  # a blank image has nothing to read a second time
        probs = np.zeros((len(data.labels), len(model.labels)), np.float32)
        probs[found] = read_all(model, data.images[found], tick)
        if tick is not None and (~found).any():
            tick(int((~found).sum()))
        pred = np.where(data.no_digit, -1, probs.argmax(axis=1))
        seconds = time.perf_counter() - start
        preds.append(pred)
        results.append(
            {
                "model": str(model.path),
                "runtime": model.runtime.describe(),
                "count": len(pred),
                "correct": int((pred == data.labels).sum()),
                "accuracy": float((pred == data.labels).mean()),
                "no_digit": int(data.no_digit.sum()),
                "seconds": round(seconds, 3),
                "images_per_second": round(len(pred) / seconds, 1) if seconds > 0 else None,
            }
        )
        results[-1]["coverage"] = confidence.coverage_curve(probs, data.labels)
        if min_confidences and min_confidences[i] > 0:
            results[-1]["with_min_confidence"] = confidence.outcome(
                probs, data.labels, min_confidences[i]
            )
    agreement = [[float((a == b).mean()) for b in preds] for a in preds]
    data = datasets[0]
    return {
        "data": data.name,
        "count": len(data.labels),
        "reread_below": REREAD_BELOW,  # what read_probabilities reads again (edge/reread.py)
        "skipped": data.skipped,
        "models": results,
        "agreement": agreement,
    }


def format_report(report: dict[str, Any], names: list[str], coverage: bool = False) -> str:
    """What `eval` prints without --json: one line per model and set, as the JSON has them."""
    lines = [
        f"{report['data']}: {report['count']} images (read as classify reads: a digit under "
        f"{report['reread_below']:.0%} sure read again, shifted a pixel each way)"
    ]
    width = max(len(n) for n in names)
    label = dict(zip([m["model"] for m in report["models"]], names, strict=True))
    for name, m in zip(names, report["models"], strict=True):
        lines.append(
            f"  {name.ljust(width)}  accuracy {m['accuracy']:.2%}  ({m['correct']}/{m['count']}"
            f"{', ' + str(m['no_digit']) + ' no digit' if m['no_digit'] else ''})  {m['runtime']}"
            + format_unsure(m)
        )
        if coverage:
            lines.append(format_coverage(m))
    if len(names) > 1:
        lines.append("agreement of predicted labels:")
        for name, row in zip(names, report["agreement"], strict=True):
            lines.append(f"  {name.ljust(width)}  " + "  ".join(f"{a:7.2%}" for a in row))
    for skipped in report["skipped"]:
        lines.append(f"  skipped: {skipped}")
    if "photos" in report:
        lines.append(
            "synthetic photos, pages, fonts, screen drawings, UCI and USPS digits "
            "(edge normalisation vs naive resize):"
        )
        sets = max(len(r["set"]) for r in report["photos"])
        for r in report["photos"]:
            lines.append(
                f"  {label[r['model']].ljust(width)}  {r['set'].ljust(sets)} n={r['count']}  "
                f"normalised {r['normalized']:.1%}  naive {r['naive']:.1%}  "
                f"no digit {r['no_digit']}" + format_unsure(r)
            )
            if coverage:
                lines.append(format_coverage(r))
    if "numbers" in report:
        lines.append("synthetic numbers, 640x480 (--number; per digit = 1 - edits / digits):")
        sets = max(len(r["set"]) for r in report["numbers"])
        for r in report["numbers"]:
            lines.append(
                f"  {label[r['model']].ljust(width)}  {r['set'].ljust(sets)} n={r['count']}  "
                f"exact {r['exact']:.1%}  per digit {r['per_digit']:.2%}  "
                f"{r['numbers_per_second']:.0f} numbers/s" + format_unsure_numbers(r)
            )
    return "\n".join(lines)


def format_coverage(row: dict[str, Any]) -> str:
    """Coverage / accuracy of the answered at a few thresholds, one line."""
    return "      coverage/accuracy by P: " + "  ".join(
        f"{r['min_confidence']:.2f}: {r['coverage']:.1%}/{r['accuracy']:.2%}"
        for r in row["coverage"]
        if r["min_confidence"] in (0.0, 0.5, 0.7, 0.9, 0.98)
    )


def format_unsure_numbers(row: dict[str, Any]) -> str:
    """What the threshold does to a row of numbers ("?" for a digit under it), or nothing."""
    u = row.get("with_min_confidence")
    if not u:
        return ""
    return (
        f"  | at P={u['min_confidence']:.2f}: exact {u['exact']}, unsure (a ?) {u['unsure']}, "
        f"wrong {u['wrong_without']} -> {u['wrong']}"
    )


def format_unsure(row: dict[str, Any]) -> str:
    """What --min-confidence did to a row's wrong answers, or nothing without it."""
    u = row.get("with_min_confidence")
    if not u:
        return ""
    return (
        f"  | at P={u['min_confidence']:.2f}: wrong {u['wrong_without']} -> {u['wrong']}, "
        f"unsure {u['unsure']}"
    )
