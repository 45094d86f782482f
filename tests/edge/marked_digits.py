"""How a model reads slashed 0s and crossed 7s, which MNIST nearly lacks and real writers use.

    python -m tests.edge.marked_digits MODEL... --data MNIST [--count 300] [--json]

MODEL is a ``.tflite`` file (read as ``classify`` reads a photo: ``edge.normalize`` with the
options its manifest asks for, then the interpreter) or a ``.keras`` model from ``digit-train``
(the same normalisation with ``--stroke``, then Keras; needs TensorFlow). The marks are drawn
here on MNIST *test* digits enlarged 4x on white paper, their own way, not by
``train/handwriting.py``'s training variation (docs/real-handwriting.md, "Slashed 0s").
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import cv2
import numpy as np

from edge import mnist
from edge.errors import DigitEdgeError
from edge.normalize import NormalizeOptions, normalize, options_for, stroke_width

SCALE = 4  # the digit's enlargement before it is marked: a 112-px digit


def slashed(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 0 with a slash from past its box's lower-left corner to past its upper-right one (a
    third of them the other diagonal), as wide as its strokes; white on black, 112x112."""
    big = cv2.resize(digit, (28 * SCALE, 28 * SCALE), interpolation=cv2.INTER_LINEAR)
    ys, xs = np.nonzero(big > 128)
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    past = rng.uniform(0.0, 0.15)
    dx, dy = past * (x1 - x0), past * (y1 - y0)
    a, b = (x1 + dx, y0 - dy), (x0 - dx, y1 + dy)
    if rng.random() < 0.3:
        a, b = (x0 - dx, y0 - dy), (x1 + dx, y1 + dy)
    cv2.line(big, _pt(a), _pt(b), 255, max(1, round(stroke_width(big))), cv2.LINE_AA)
    return big


def crossed(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 7 with a level bar through its stem, 45-60% of the way down; white on black."""
    big = cv2.resize(digit, (28 * SCALE, 28 * SCALE), interpolation=cv2.INTER_LINEAR)
    ys = np.nonzero(big > 128)[0]
    row = int(ys.min() + rng.uniform(0.45, 0.6) * (ys.max() - ys.min()))
    stem = np.nonzero(big[row] > 128)[0]
    if len(stem):
        half = rng.uniform(0.2, 0.3) * (ys.max() - ys.min())
        width = max(1, round(stroke_width(big)))
        cv2.line(big, _pt((stem.mean() - half, row)), _pt((stem.mean() + half, row)), 255, width)
    return big


def _pt(point: tuple[float, float]) -> tuple[int, int]:
    return round(float(point[0])), round(float(point[1]))


def on_paper(big: np.ndarray) -> np.ndarray:
    """Dark ink on white paper with a margin, as a scan or a drawing app would give it."""
    return np.pad(255 - big, 40, constant_values=255)


def predictor(path: Path, stroke: float | None):
    """(normalisation options, images -> probabilities) for a .tflite or .keras model."""
    if path.suffix == ".keras":
        import keras

        model = keras.models.load_model(path)
        options = options_for(None if stroke is None else {"stroke": stroke})
        return options, lambda x: model.predict(x[..., None], verbose=0)
    from edge.model import DigitClassifier, ModelOptions
    from edge.pipeline import normalize_options

    classifier = DigitClassifier(ModelOptions(path))
    return normalize_options(classifier), classifier.predict


def read_marked(options: NormalizeOptions, predict, test: mnist.Mnist, count: int) -> dict:
    """Accuracy and the labels given, for ``count`` slashed 0s and ``count`` crossed 7s."""
    rng = np.random.default_rng(0)
    out = {}
    for name, label, mark in (("slashed 0", 0, slashed), ("crossed 7", 7, crossed)):
        digits = test.x_test[test.y_test == label][:count]
        images = [normalize(on_paper(mark(d, rng)), options).image for d in digits]
        x = np.stack([np.zeros((28, 28), np.float32) if i is None else i for i in images])
        labels = predict(x).argmax(axis=1)
        out[name] = {
            "count": len(labels),
            "accuracy": float((labels == label).mean()),
            "read_as": np.bincount(labels, minlength=10).tolist(),
        }
    return out


@click.command()
@click.argument("models", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--data", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--count", type=click.IntRange(1), default=300, show_default=True)
@click.option("--stroke", type=float, default=None, help="Stroke target for .keras models.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def main(models: tuple[Path, ...], data: Path, count: int, stroke: float | None, as_json: bool):
    try:
        test = mnist.load(data, canonical_sizes=False)
        results = {str(p): read_marked(*predictor(p, stroke), test, count) for p in models}
    except DigitEdgeError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(results, indent=2))
        return
    for path, sets in results.items():
        for name, r in sets.items():
            read_as = r["read_as"]
            click.echo(f"{path}  {name}: {r['accuracy']:.1%} of {r['count']}, read as {read_as}")


if __name__ == "__main__":
    main()
