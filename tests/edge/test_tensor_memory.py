"""Zero-copy tensor memory: the arrays are the interpreter's own, and nothing else changes."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from edge.model import open_model
from edge.pipeline import DigitReader
from edge.runtime import KERNEL_NAMES
from edge.tensor_memory import tensor_memory
from tests import model_zoo

VARIANTS = [v for v, _, _ in model_zoo.VARIANTS]


@pytest.mark.parametrize("kernels", list(KERNEL_NAMES))
@pytest.mark.parametrize("name", model_zoo.MODEL_NAMES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_converted_file_gets_zero_copy_memory(test_models, name, variant, kernels):
    """The fast path is not silently lost: every file convert makes, on every op resolver."""
    model = open_model(test_models / model_zoo.file_name(name, variant), kernels=kernels)
    assert model.memory is not None
    assert model.memory.input.dtype == model.input_params.dtype
    assert model.memory.input.shape == model.input_shape
    assert model.memory.output.shape == (10,)


def test_memory_is_what_the_interpreter_reads_and_writes(test_models, mnist_data):
    model = open_model(test_models / model_zoo.file_name("lenet", "int8"))
    memory, interp = model.memory, model.interpreter
    images = mnist_data.x_test[:20].astype(np.float32) / 255.0
    for image in images:
        memory.input[...] = model.to_input(image[None])
        memory.invoke()
        np.testing.assert_array_equal(interp.get_tensor(model._input_index), memory.input)
        np.testing.assert_array_equal(interp.get_tensor(model._output_index)[0], memory.output)
    # and the other way: what set_tensor writes, the arrays show
    interp.set_tensor(model._input_index, model.to_input(images[:1]))
    interp.invoke()  # the public invoke still runs: the arrays do not pin the interpreter
    np.testing.assert_array_equal(memory.input, model.to_input(images[:1]))
    np.testing.assert_array_equal(memory.output, interp.get_tensor(model._output_index)[0])


def test_fast_path_and_the_public_api_interleave(test_models, mnist_data):
    """The hot path, model.invoke and predict share one interpreter without stepping on each
    other: each reading is made from its own image, never from what another call left behind."""
    model = open_model(test_models / model_zoo.file_name("dense", "float32"))
    reader = DigitReader(model, preprocess="none")
    x = mnist_data.x_test[:30]
    want = model.predict_one_by_one(x.astype(np.float32) / 255.0)
    for i, img in enumerate(x):
        other = x[(i + 7) % len(x)]
        model.invoke(model.to_input(other[None].astype(np.float32) / 255.0))  # leaves `other`
        reading = reader.read(img)
        assert reading.label == str(int(want[i].argmax()))
        assert reading.probability == pytest.approx(float(want[i].max()), abs=1e-6)
        np.testing.assert_allclose(model.invoke_pixels(img), want[i], atol=1e-6)
    np.testing.assert_allclose(model.predict(x.astype(np.float32) / 255.0), want, atol=1e-6)


def test_memory_keeps_its_interpreter_alive(test_models, mnist_data):
    """The arrays hold the interpreter, so they never point at freed memory."""
    model = open_model(test_models / model_zoo.file_name("lenet", "float32"))
    img = mnist_data.x_test[0].astype(np.float32) / 255.0
    want = model.predict_one_by_one(img[None])[0]
    memory = model.memory
    del model
    gc.collect()
    memory.input[...] = img.reshape(memory.input.shape)
    memory.invoke()
    np.testing.assert_allclose(memory.output, want, atol=1e-6)


def test_no_memory_for_an_interpreter_without_the_pieces():
    class Bare:  # an interpreter-like object with no C++ wrapper to invoke directly
        def tensor(self, index):
            raise AssertionError("not reached")

    assert tensor_memory(Bare(), 0, 1) is None
