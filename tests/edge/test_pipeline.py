"""DigitReader: the single-image path reads what the model computes, for every kind of file."""

from __future__ import annotations

import numpy as np
import pytest

from edge.model import open_model
from edge.pipeline import DigitReader
from edge.quantization import dequantize
from tests import model_zoo

VARIANTS = [v for v, _, _ in model_zoo.VARIANTS]


def _plain(model, img: np.ndarray) -> np.ndarray:
    """Probabilities the plain way: float image -> to_input -> invoke -> dequantize."""
    raw = model.invoke(model.to_input(img[None].astype(np.float32) / np.float32(255.0)))
    return dequantize(raw[0], model.output_params).reshape(-1)


@pytest.mark.parametrize("name", model_zoo.MODEL_NAMES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_read_pixels_is_the_plain_path(test_models, digits, name, variant):
    model = open_model(test_models / model_zoo.file_name(name, variant))
    reader = DigitReader(model, preprocess="none", top_k=3, reread_below=0.0)
    for img in digits:
        p = _plain(model, img)
        reading = reader.read_pixels(img)
        assert reading.label == str(int(p.argmax()))
        assert reading.probability == float(p.max())
        assert [q for _, q in reading.top_k] == sorted(p, reverse=True)[:3]
        assert set(reading.timings_ms) == {"invoke", "postprocess"}
        assert reading.model_input is None


def test_an_unsure_digit_is_read_again_as_a_numbers_digit_is(test_models, digits):
    """Under ``reread_below`` a single digit is read as a digit of a number is: the mean over
    it and its four one-pixel shifts (edge.reread); at or above it, once (the fixture models
    are never sure: their top probability stays under 0.4, so the threshold is moved)."""
    from edge.number import NumberReader
    from edge.reread import SHIFTS

    model = open_model(test_models / model_zoo.file_name("lenet", "int8"))
    for img in digits[:5]:
        once = model.predict_pixels(img)
        again = DigitReader(model, preprocess="none", top_k=3).read_pixels(img)
        shifted = [model.predict_pixels(np.roll(img, s, axis=(0, 1))) for s in SHIFTS]
        mean = (once + sum(shifted)) / 5
        assert not np.allclose(mean, once, atol=1e-3)
        assert again.probability == pytest.approx(float(mean.max()), abs=1e-6)
        assert again.label == str(int(mean.argmax()))
        numbers = NumberReader(DigitReader(model)).classify(img[None])[0]
        assert again.probability == float(numbers.max())  # the same reading, bit for bit
        sure = DigitReader(model, preprocess="none", reread_below=float(once.max())).read_pixels(
            img
        )
        assert sure.probability == float(once.max())  # at the threshold: read once


@pytest.mark.parametrize("variant", ["int8", "int8-uint8", "float32"])
def test_pixel_table_is_the_model_quantization(test_models, variant):
    model = open_model(test_models / model_zoo.file_name("lenet", variant))
    ramp = np.arange(256, dtype=np.float32).reshape(1, 16, 16) / 255.0
    expected = model.to_input(np.resize(ramp, (1, 28, 28))).reshape(-1)[:256]
    np.testing.assert_array_equal(model.pixel_table, expected)


def test_no_digit_reading(test_models):
    reader = DigitReader(open_model(test_models / model_zoo.file_name("lenet", "int8")))
    reading = reader.read(np.full((240, 320, 3), 230, np.uint8))
    assert reading.label is None and reading.probability is None and reading.top_k == []
    assert reading.as_dict()["no_digit"].startswith("no digit")
    assert set(reading.timings_ms) == {"preprocess"}


def test_unknown_kernels_and_preprocessing_are_refused(test_models):
    from edge.errors import RuntimeNotFound

    path = test_models / model_zoo.file_name("lenet", "int8")
    with pytest.raises(RuntimeNotFound, match="unknown kernels"):
        open_model(path, kernels="fast")
    with pytest.raises(ValueError, match="unknown preprocessing"):
        DigitReader(open_model(path), preprocess="magic")


@pytest.mark.parametrize("name", model_zoo.MODEL_NAMES)
def test_read_28x28_with_preprocess_none(test_models, digits, name):
    """read() on a uint8 28x28 with --preprocess none: the plain path's label and probability."""
    model = open_model(test_models / model_zoo.file_name(name, "int8"))
    reader = DigitReader(model, preprocess="none", reread_below=0.0)
    readings = [reader.read(img) for img in digits[:30]]  # kept across invokes
    for img, reading in zip(digits[:30], readings, strict=True):
        p = _plain(model, img)
        label = str(int(p.argmax()))
        assert (reading.label, reading.probability) == (label, float(p.max()))
        assert reading.top_k == [(label, float(p.max()))]
        assert reading.box is None and reading.no_digit is None
        assert set(reading.timings_ms) == {"invoke", "postprocess", "preprocess"}
        assert all(v >= 0 for v in reading.timings_ms.values())
        np.testing.assert_array_equal(reading.model_input, img.astype(np.float32) / 255.0)


def test_other_28x28_inputs_read_the_same(test_models, digits):
    """Float, (28, 28, 1) and strided 28x28 images read as the uint8 image does."""
    model = open_model(test_models / model_zoo.file_name("lenet", "int8"))
    reader = DigitReader(model, preprocess="none")
    img = digits[0]
    want = reader.read(img)
    for variant in (
        img.astype(np.float32) / 255.0,  # float image: to_gray makes the same uint8
        img[:, :, None],  # (28, 28, 1)
        np.pad(img, ((0, 0), (0, 28)))[:, :28],  # a strided view
    ):
        got = reader.read(variant)
        assert (got.label, got.probability) == (want.label, want.probability)
    wrong = reader.read(np.zeros((30, 30), np.uint8))
    assert wrong.label is None and "needs 28x28" in wrong.no_digit


def test_reading_timings_and_model_input_can_be_set(test_models, digits):
    reader = DigitReader(
        open_model(test_models / model_zoo.file_name("mlp", "float32")), preprocess="none"
    )
    reading = reader.read(digits[1])
    reading.timings_ms = {"read": 1.0, **reading.timings_ms}
    reading.timings_ms["total"] = sum(reading.timings_ms.values())
    assert list(reading.timings_ms) == ["read", "invoke", "postprocess", "preprocess", "total"]
    reading.model_input = None
    assert reading.model_input is None
    assert "label=" in repr(reading) and reading.as_dict()["label"] == reading.label
