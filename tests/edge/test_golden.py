"""Golden predictions: the edge runtime's raw outputs against TensorFlow's, for every file.

Why not one tolerance for all (docs/edge.md): int8 results depend on *which kernels* run the
graph. XNNPACK requantizes with a float scale and rounds half to even; TFLite's built-in kernels
use a fixed-point multiplier and round half away from zero, so one in ~30 int8 outputs differs
by one quantization step between them. tflite-runtime 2.14's default XNNPACK delegate takes
only float32 ops, so its int8 graphs run on the built-in kernels, while TensorFlow 2.21 and
ai-edge-litert 2.3 delegate int8 to XNNPACK. So each runtime is compared, exactly, with the
reference that TensorFlow computed *with the same kernels*; only float results get a tolerance
(summation order differs between XNNPACK versions: ~1e-7).
"""

from __future__ import annotations

import numpy as np
import pytest

from edge.model import open_model
from tests import model_zoo

FILES = [(m, v) for m in model_zoo.MODEL_NAMES for v, _, _ in model_zoo.VARIANTS]
INTEGER = {"int8", "int8-uint8"}
#: With its default kernels, which reference does each runtime's int8 match bit for bit?
DEFAULT_INT8_KERNELS = {
    "tflite-runtime": "builtin",
    "ai-edge-litert": "default",
    "tensorflow": "default",
}
#: Float tolerances (probabilities): float32/float16 differ only in summation order (~1e-7);
#: dynamic-range files quantize activations at run time, and 2.14's hybrid kernels do that
#: slightly differently from 2.21's (measured: 1e-4 on 0.3% of outputs).
FLOAT_ATOL = {"float32": 1e-5, "float16": 1e-5, "dynamic": 5e-4}
N_REF = 200  # reference kernels are slow: the first 200 golden images are plenty


def _raw_outputs(model, x: np.ndarray) -> np.ndarray:
    tensors = model.to_input(x)
    return np.stack([model.invoke(tensors[i : i + 1])[0].copy() for i in range(len(x))])


def _one_at_a_time(model, x: np.ndarray) -> np.ndarray:
    """Probabilities through the single-image path, as the device reads a 28x28 image."""
    return np.stack([model.predict_pixels(np.rint(img * 255).astype(np.uint8)) for img in x])


@pytest.mark.parametrize(("name", "variant"), FILES, ids=[f"{m}_{v}" for m, v in FILES])
def test_default_kernels_match_the_reference_with_the_same_kernels(
    test_models, golden, name, variant
):
    model = open_model(test_models / model_zoo.file_name(name, variant))
    got = _raw_outputs(model, golden["x"])
    if variant in INTEGER:
        kernels = DEFAULT_INT8_KERNELS[model.runtime.name]
        expected = golden[model_zoo.golden_key(name, variant, kernels)]
        np.testing.assert_array_equal(
            got, expected, err_msg=f"{model.runtime.describe()} vs TF {kernels}"
        )
        # ... and within one step of the other kernels' reference, on a few percent of outputs.
        other = golden[model_zoo.golden_key(name, variant)]
        diff = np.abs(got.astype(np.int32) - other.astype(np.int32))
        assert diff.max() <= 1 and (diff > 0).mean() < 0.06
    else:
        np.testing.assert_allclose(
            got, golden[model_zoo.golden_key(name, variant)], atol=FLOAT_ATOL[variant], rtol=0
        )


@pytest.mark.parametrize(("name", "variant"), FILES, ids=[f"{m}_{v}" for m, v in FILES])
def test_builtin_kernels_match_tensorflow_builtin_kernels(test_models, golden, name, variant):
    model = open_model(test_models / model_zoo.file_name(name, variant), kernels="builtin")
    got = _raw_outputs(model, golden["x"])
    expected = golden[model_zoo.golden_key(name, variant, "builtin")]
    if variant in INTEGER:
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, atol=FLOAT_ATOL[variant], rtol=0)


@pytest.mark.parametrize(("name", "variant"), FILES, ids=[f"{m}_{v}" for m, v in FILES])
def test_reference_kernels_are_close_but_not_a_bit_exact_anchor(test_models, golden, name, variant):
    """The reference kernels changed between 2.14 and 2.21 too (measured: one int8 output in
    2,000 differs by one step), so the built-in kernels, not these, are the exact anchor."""
    model = open_model(test_models / model_zoo.file_name(name, variant), kernels="reference")
    got = _raw_outputs(model, golden["x"][:N_REF])
    expected = golden[model_zoo.golden_key(name, variant, "reference")][:N_REF]
    if variant in INTEGER:
        diff = np.abs(got.astype(np.int32) - expected.astype(np.int32))
        assert diff.max() <= 1 and (diff > 0).mean() <= 0.01
    else:
        np.testing.assert_allclose(got, expected, atol=FLOAT_ATOL[variant], rtol=0)


@pytest.mark.parametrize("name", model_zoo.MODEL_NAMES)
def test_float_file_agrees_with_keras(test_models, golden, name):
    model = open_model(test_models / model_zoo.file_name(name, "float32"))
    probs = model.predict(golden["x"])
    np.testing.assert_allclose(probs, golden[f"{name}_keras"], atol=1e-4)


def test_a_fixed_batch_model_predicts_any_count(test_models, golden):
    """A graph whose batch cannot be resized runs a batch at a time; a short last batch is
    padded (6 images through a batch of 4), and each image reads as it does alone."""
    model = open_model(test_models / model_zoo.FIXED_BATCH_FILE)
    assert model.input_shape[0] == model_zoo.FIXED_BATCH
    x = golden["x"][:6]
    alone = _one_at_a_time(model, x)
    for got in (model.predict(x), model.predict(x[:3])):
        assert got.shape == (len(got), 10)
        np.testing.assert_allclose(got, alone[: len(got)], atol=1e-6)
    assert list(model._by_batch.values()) == [None]  # tried once, not rebuilt per call


@pytest.mark.parametrize(
    "file",
    [model_zoo.file_name(m, v) for m, v in FILES] + [model_zoo.FIXED_BATCH_FILE],
)
def test_many_digits_read_exactly_as_each_alone(test_models, golden, file):
    """predict_pixels_many (the number reader's digits of a frame) gives, bit for bit, the
    probabilities predict_pixels gives each image alone, in every mode and on a fixed batch,
    in one invoke or in seven."""
    model = open_model(test_models / file)
    # one invoke for all 7 where the input is integer and the graph resizes (the MLP's)
    assert (model._sized_for(7) is not None) == (file.startswith("mlp_int8"))
    pixels = np.rint(golden["x"][:7] * 255).astype(np.uint8)
    many = model.predict_pixels_many(pixels)
    assert many.shape == (7, 10) and many.dtype == np.float32
    np.testing.assert_array_equal(many, np.stack([model.predict_pixels(p) for p in pixels]))
    assert not np.array_equal(many[0], many[1])  # different digits, different readings


def test_predict_builds_its_batched_copy_once(test_models, golden):
    model = open_model(test_models / model_zoo.file_name("mlp", "float32"))
    x = golden["x"][:300]  # a full batch of 256 and a short one of 44
    first = model.predict(x)
    (batched,) = model._by_batch.values()
    np.testing.assert_allclose(model.predict(x), first)
    assert batched is not None and list(model._by_batch.values()) == [batched]


@pytest.mark.parametrize("variant", ["float32", "int8", "int8-uint8", "dynamic"])
def test_batched_predict_equals_one_by_one(test_models, golden, variant):
    model = open_model(test_models / model_zoo.file_name("lenet", variant))
    x = golden["x"][:300]
    batched, single = model.predict(x), _one_at_a_time(model, x)
    if variant.startswith("int8"):
        # a resized batch may pick other kernels (XNNPACK) than batch 1: one step at most
        step = model.output_params.scale
        assert np.abs(batched - single).max() <= step + 1e-7
        assert (batched.argmax(1) == single.argmax(1)).mean() >= 0.99
    else:
        np.testing.assert_allclose(batched, single, atol=1e-5)
