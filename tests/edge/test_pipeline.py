"""The single-image fast path gives what the batched path gives, for every kind of file."""

from __future__ import annotations

import numpy as np
import pytest

from edge.model import open_model
from edge.pipeline import DigitReader
from tests import model_zoo

VARIANTS = [v for v, _, _ in model_zoo.VARIANTS]


@pytest.mark.parametrize("name", model_zoo.MODEL_NAMES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_read_pixels_matches_predict(test_models, mnist_data, name, variant):
    model = open_model(test_models / model_zoo.file_name(name, variant))
    reader = DigitReader(model, preprocess="none", top_k=3)
    x = mnist_data.x_test[:40]
    probs = model.predict_one_by_one(x.astype(np.float32) / 255.0)
    for img, p in zip(x, probs, strict=True):
        reading = reader.read_pixels(img)
        assert reading.label == str(int(p.argmax()))
        assert reading.probability == pytest.approx(float(p.max()), abs=1e-6)
        ranked = [lb for lb, _ in reading.top_k]
        assert ranked[0] == reading.label and len(ranked) == 3
        assert [q for _, q in reading.top_k] == sorted((q for _, q in reading.top_k), reverse=True)
        assert set(reading.timings_ms) == {"invoke", "postprocess"}


def test_pixel_table_is_the_model_quantization(test_models):
    for variant in ("int8", "int8-uint8", "float32"):
        model = open_model(test_models / model_zoo.file_name("lenet", variant))
        ramp = np.arange(256, dtype=np.float32).reshape(1, 16, 16) / 255.0
        expected = model.to_input(np.resize(ramp, (1, 28, 28))).reshape(-1)[:256]
        np.testing.assert_array_equal(model.pixel_table, expected)


def test_no_digit_reading(test_models):
    reader = DigitReader(open_model(test_models / model_zoo.file_name("lenet", "int8")))
    reading = reader.read(np.full((240, 320, 3), 230, np.uint8))
    assert reading.label is None and reading.probability is None and reading.top_k == []
    assert reading.as_dict()["no_digit"].startswith("no digit")


def test_unknown_kernels_and_preprocessing_are_refused(test_models):
    from edge.errors import RuntimeNotFound

    path = test_models / model_zoo.file_name("lenet", "int8")
    with pytest.raises(RuntimeNotFound, match="unknown kernels"):
        open_model(path, kernels="fast")
    with pytest.raises(ValueError, match="unknown preprocessing"):
        DigitReader(open_model(path), preprocess="magic")
