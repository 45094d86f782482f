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


def _straightforward(model, img: np.ndarray) -> tuple[str, float]:
    """The reading the plain way: float image -> to_input -> invoke -> from_output -> argmax."""
    raw = model.invoke(model.to_input(img[None].astype(np.float32) / np.float32(255.0)))[0]
    best = int(raw.argmax())
    q = raw[best]
    p = (int(q) - model.output_params.zero_point) * model.output_params.scale
    return model.labels[best], (p if model.output_params.is_quantized else float(q))


@pytest.mark.parametrize("name", model_zoo.MODEL_NAMES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_28x28_fast_path_is_the_straightforward_path(test_models, mnist_data, name, variant):
    """read() on a uint8 28x28 with --preprocess none: same label, same probability bit for bit."""
    model = open_model(test_models / model_zoo.file_name(name, variant))
    fast = DigitReader(model, preprocess="none")
    general = DigitReader(model, preprocess="none", top_k=2)  # top-k > 1 never takes the hot path
    assert fast._hot_read is not None and general._hot_read is None
    readings = [fast.read(img) for img in mnist_data.x_test[:60]]  # kept across later invokes
    for img, reading in zip(mnist_data.x_test[:60], readings, strict=True):
        label, p = _straightforward(model, img)
        assert (reading.label, reading.probability) == (label, p)
        assert reading.top_k == [(label, p)]
        assert reading.box is None and reading.no_digit is None
        assert set(reading.timings_ms) == {"invoke", "postprocess", "preprocess"}
        assert all(v >= 0 for v in reading.timings_ms.values())
        np.testing.assert_array_equal(reading.model_input, img.astype(np.float32) / 255.0)
        assert general.read(img).label == label
        pix = fast.read_pixels(img)
        assert (pix.label, pix.probability) == (label, p)
        assert set(pix.timings_ms) == {"invoke", "postprocess"}
        np.testing.assert_array_equal(model.invoke_pixels(img), model._invoke_pixels_copy(img))


def test_fast_path_falls_back_for_other_inputs(test_models, mnist_data):
    """Non-uint8, non-28x28 or non-contiguous inputs take the general path, same results."""
    model = open_model(test_models / model_zoo.file_name("lenet", "int8"))
    reader = DigitReader(model, preprocess="none")
    img = mnist_data.x_test[0]
    want = reader.read(img)
    for variant in (
        img.astype(np.float32) / 255.0,  # float image: to_gray makes the same uint8
        img[:, :, None],  # (28, 28, 1)
        np.ascontiguousarray(np.pad(img, ((0, 0), (0, 28)))[:, :28]),
        np.pad(img, ((0, 0), (0, 28)))[:, :28],  # a strided view
    ):
        got = reader.read(variant)
        assert (got.label, got.probability) == (want.label, want.probability)
    wrong = reader.read(np.zeros((30, 30), np.uint8))
    assert wrong.label is None and "needs 28x28" in wrong.no_digit


def test_reading_timings_and_model_input_can_be_set(test_models, mnist_data):
    reader = DigitReader(
        open_model(test_models / model_zoo.file_name("dense", "float32")), preprocess="none"
    )
    reading = reader.read(mnist_data.x_test[1])
    reading.timings_ms = {"read": 1.0, **reading.timings_ms}
    reading.timings_ms["total"] = sum(reading.timings_ms.values())
    assert list(reading.timings_ms) == ["read", "invoke", "postprocess", "preprocess", "total"]
    reading.model_input = None
    assert reading.model_input is None
    assert "label=" in repr(reading) and reading.as_dict()["label"] == reading.label
