"""eval's datasets: each model's images prepared the way that model normalises."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from edge import confidence, evaluate
from edge.model import DigitClassifier, ModelOptions
from edge.normalize import DEFAULT_OPTIONS
from edge.pipeline import DigitReader


def _bold_folder(root, mnist_data, count=20):
    """MNIST test digits drawn with a thick marker, as ink on paper, one subfolder per label."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    for i in range(count):
        big = cv2.resize(mnist_data.x_test[i], (112, 112), interpolation=cv2.INTER_CUBIC)
        folder = root / str(mnist_data.y_test[i])
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{i}.png"), 255 - cv2.dilate(big, kernel))
    return root


def test_each_model_gets_its_own_normalisation_read_once_per_kind(int8_model, tmp_path, mnist_data):
    model = DigitClassifier(ModelOptions(int8_model))
    thinned = DigitReader(model, options=DEFAULT_OPTIONS)  # strokes thinned to 1.5 px
    as_drawn = DigitReader(model, options=dataclasses.replace(DEFAULT_OPTIONS, stroke=0.0))
    folder = _bold_folder(tmp_path / "set", mnist_data)
    reads = []
    a, b, c = evaluate.load_for(folder, [thinned, as_drawn, thinned], tick=lambda: reads.append(1))
    assert len(reads) == 2 * 20  # two kinds of preprocessing: the folder read twice, not three
    assert c is a  # the same preprocessing shares its dataset
    np.testing.assert_array_equal(a.images, evaluate.load(folder, thinned).images)
    np.testing.assert_array_equal(b.images, evaluate.load(folder, as_drawn).images)
    assert not np.array_equal(a.images, b.images)  # the marker's strokes kept in b only
    np.testing.assert_array_equal(a.labels, b.labels)


def test_mnist_is_loaded_once_whatever_the_normalisation(int8_model, mnist_path):
    model = DigitClassifier(ModelOptions(int8_model))
    readers = [
        DigitReader(model, options=DEFAULT_OPTIONS),
        DigitReader(model, options=dataclasses.replace(DEFAULT_OPTIONS, stroke=0.0)),
    ]
    a, b = evaluate.load_for(mnist_path, readers, limit=50)
    assert a is b and len(a.labels) == 50


def test_eval_reads_as_classify_reads(int8_model, mnist_path, mnist_data):
    """eval's probabilities are classify's: a digit under 90% sure is read again, shifted (the
    fixture model is never that sure, so every digit here is), not the model read once."""
    model = DigitClassifier(ModelOptions(int8_model))
    data = evaluate.load(mnist_path, DigitReader(model), limit=40)
    report = evaluate.evaluate([model], [data])
    assert report["reread_below"] == 0.9
    reader = DigitReader(model, preprocess="none", top_k=10)
    probs = np.zeros((40, 10), np.float32)
    for row, img in zip(probs, mnist_data.x_test[:40], strict=True):
        for label, p in reader.read_pixels(img).top_k:
            row[int(label)] = p
    labels = mnist_data.y_test[:40]
    curve = confidence.coverage_curve(probs, labels)
    for got, want in zip(report["models"][0]["coverage"], curve, strict=True):
        assert got == pytest.approx(want, abs=1e-6)
    once = confidence.coverage_curve(model.predict(data.images), labels)
    assert [c["coverage"] for c in once] != [c["coverage"] for c in curve]
