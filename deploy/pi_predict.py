"""Per-image predictions of models on the first N MNIST test images, through the edge API only.

    python pi_predict.py --data MNIST --limit 1000 MODEL.tflite... > predictions.json

``digit-edge eval`` reports accuracies; this writes every image's probabilities, so
``pi_compare.py`` can check the int8 predictions image by image. It runs on the emulated Pi
(copied in at run time, run with the installed venv) and on the host's edge runtime, with the
same :class:`edge.model.DigitClassifier` that ``eval`` uses. Output: one JSON object on stdout.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from edge import mnist
from edge.model import DigitClassifier, ModelOptions
from edge.pipeline import DigitReader


@click.command()
@click.argument("models", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--data", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--limit", type=click.IntRange(1), default=1000, show_default=True)
def main(models: tuple[Path, ...], data: Path, limit: int) -> None:
    """Print {model file: {"labels": [...], "probabilities": [[...], ...]}} for MNIST test[:N].

    Also each image's top-1 reading through the single-image path (``classify --preprocess
    none``: ``DigitReader.read`` on the uint8 28x28 image).
    """
    test = mnist.load(data)
    images = test.x_test[:limit].astype(np.float32) / 255.0
    out = {"count": len(images), "truth": test.y_test[:limit].tolist(), "models": {}}
    for path in models:
        model = DigitClassifier(ModelOptions(path))
        probs = model.predict(images)
        out["models"][path.name] = {
            "runtime": model.runtime.describe(),
            "labels": probs.argmax(axis=1).tolist(),
            # float32 -> Python float is exact, so equal arrays give equal JSON numbers.
            "probabilities": probs.astype(float).tolist(),
        }
        reader = DigitReader(model, preprocess="none")
        readings = [reader.read(img) for img in test.x_test[:limit]]
        out["models"][path.name]["single_image"] = {
            "labels": [int(r.label) for r in readings],
            "probabilities": [r.probability for r in readings],
        }
    click.echo(json.dumps(out))


if __name__ == "__main__":
    main()
