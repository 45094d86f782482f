"""Real conversions: every mode loads (here and in tflite-runtime 2.14), int8 I/O is integer,
the device-shaped graph is what the docs promise, BatchNorm folding changes nothing."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from convert import compat, flatbuf
from convert.bench import tf_default_dynamic
from convert.errors import ConvertError
from convert.export import balanced_sample, convert, fold_batchnorm
from convert.pipeline import gate_error
from convert.results import Gate
from edge.model import open_model
from tests import model_zoo
from tests.convert.conftest import EDGE_PYTHON, TINY_MODELS

ALL_FILES = [(m, v) for m in TINY_MODELS for v, _, _ in model_zoo.VARIANTS]
FILE_IDS = [f"{m}_{v}" for m, v in ALL_FILES]


def names(ops):
    return {o.name for o in ops}


@pytest.fixture(scope="module")
def test_images(mnist_data) -> tuple[np.ndarray, np.ndarray]:
    return mnist_data.x_test[:200].astype(np.float32) / 255.0, mnist_data.y_test[:200]


@pytest.mark.parametrize(("model", "variant"), ALL_FILES, ids=FILE_IDS)
def test_every_mode_loads_and_predicts_on_the_edge_runtime(converted, test_images, model, variant):
    clf = open_model(converted / model_zoo.file_name(model, variant))
    assert clf.input_shape[0] == 1  # static batch for the device
    x, y = test_images
    probs = clf.predict(x)
    assert probs.shape == (200, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=0.02)
    assert np.mean(probs.argmax(1) == y) > 0.85


@pytest.mark.parametrize(("model", "variant"), ALL_FILES, ids=FILE_IDS)
def test_graph_has_a_static_batch_and_fits_tflite_runtime_2_14(converted, model, variant):
    ops = flatbuf.read_ops((converted / model_zoo.file_name(model, variant)).read_bytes())
    assert not names(ops) & {"SHAPE", "STRIDED_SLICE", "PACK"}  # no dynamic-batch arithmetic
    assert flatbuf.table_verdict(ops)[0] is True


@pytest.mark.parametrize(("model", "variant"), ALL_FILES, ids=FILE_IDS)
def test_integer_files_read_a_batch_row_by_row_as_alone(converted, test_images, model, variant):
    """Integer files have their batch freed (export.free_batch): invokes of 16 and 4 digits
    give each one's outputs bit for bit; the float files keep LeNet's RESHAPE to a batch of 1
    (and the edge reads their digits one invoke each)."""
    clf = open_model(converted / model_zoo.file_name(model, variant))
    integer = variant.startswith("int8")
    assert (clf._sized_for(6) is not None) == integer
    if model == "lenet":
        assert (clf._resized(2) is not None) == integer
    pixels = np.rint(test_images[0][:20] * 255).astype(np.uint8)
    many = clf.predict_pixels_many(pixels)
    np.testing.assert_array_equal(many, np.stack([clf.predict_pixels(p) for p in pixels]))
    assert (clf._by_batch.get(16) is not None and clf._by_batch.get(4) is not None) == integer
    assert len({tuple(row) for row in many}) > 1  # different digits, different readings


@pytest.mark.parametrize(
    ("variant", "dtype", "zero_point"),
    [("int8", "int8", -128), ("int8-uint8", "uint8", 0)],
    ids=["int8-io", "uint8-io"],
)
@pytest.mark.parametrize("model", TINY_MODELS)
def test_int8_io_is_integer_with_sane_quantization(converted, model, variant, dtype, zero_point):
    clf = open_model(converted / model_zoo.file_name(model, variant))
    inp, out = clf.input_params, clf.output_params
    assert (inp.dtype.name, out.dtype.name) == (dtype, dtype)
    # pixels in [0, 1] use the whole integer range: scale 1/255, zero point at black
    assert inp.scale == pytest.approx(1 / 255, rel=1e-3) and inp.zero_point == zero_point
    # softmax output: TFLite's fixed 1/256 grid starting at probability 0
    assert out.scale == pytest.approx(1 / 256) and out.zero_point == zero_point
    q = clf.to_input(np.array([[[0.0] * 28] * 27 + [[1.0] * 28]], np.float32))
    info = np.iinfo(dtype)
    assert q.min() == info.min and q.max() == info.max


def test_cnn_int8_file_is_under_11000_bytes(converted):
    assert (converted / model_zoo.file_name("lenet", "int8")).stat().st_size <= 11_000


def test_every_file_loads_and_runs_in_tflite_runtime_2_14(converted, test_images):
    if not EDGE_PYTHON.exists():
        pytest.skip(f"{EDGE_PYTHON} does not exist (`make setup-edge` creates it)")
    files = [converted / model_zoo.file_name(m, v) for m, v in ALL_FILES]
    x = test_images[0][:100]
    report = compat.check_on_device(files, x, python=EDGE_PYTHON, reps=10)
    assert report.ran, report.reason
    assert report.runtime == "tflite-runtime 2.14.0"
    assert report.tensorflow_importable is False
    for path in files:
        result = report.results[str(path)]
        assert result["loads"], result.get("error")
        host = open_model(path).predict(x)
        assert np.mean(result["probs"].argmax(1) == host.argmax(1)) >= 0.98


def test_a_device_check_that_crashes_fails_the_stage(converted, tmp_path):
    """tflite-runtime 2.14 meets a file it cannot run with a segfault: a check that dies so
    verifies nothing, and the stage exits 3 saying so (it passed on the op table before)."""
    crashing = tmp_path / "python"
    crashing.write_text("#!/bin/sh\nkill -SEGV $$\n")
    crashing.chmod(0o755)
    files = [converted / model_zoo.file_name("lenet", "int8")]
    report = compat.check_on_device(files, np.zeros((2, 28, 28)), python=crashing, reps=0)
    assert report.failed and not report.ran
    assert report.reason == f"{crashing} failed: killed by SIGSEGV"
    gate = Gate(None, [], [], [], [report.reason])
    failure = gate_error(SimpleNamespace(report=SimpleNamespace(gate=gate)))
    assert failure is not None and failure.exit_code == 3
    assert str(failure) == f"the device check did not answer: {crashing} failed: killed by SIGSEGV"
    assert gate.to_dict()["device_checks_failed"] == [report.reason]


def test_per_channel_dynamic_range_is_what_tflite_runtime_2_14_rejects(tiny_keras, tmp_path):
    """The cause of the 'FULLY_CONNECTED version 12' failure, and the fix."""
    default = flatbuf.read_ops(convert(tiny_keras["dense"], "dynamic"))
    per_channel_blob = tf_default_dynamic(tiny_keras["dense"])
    per_channel = flatbuf.read_ops(per_channel_blob)
    fc = {o.name: o.version for o in default}["FULLY_CONNECTED"]
    assert fc <= flatbuf.TFLITE_RUNTIME_2_14_MAX_VERSION["FULLY_CONNECTED"]
    assert {o.name: o.version for o in per_channel}["FULLY_CONNECTED"] == 12
    verdict, blockers = flatbuf.table_verdict(per_channel)
    assert verdict is False and "FULLY_CONNECTED v12" in blockers[0]
    if EDGE_PYTHON.exists():  # and the interpreter itself agrees with the table
        path = tmp_path / "dense_dynamic_v12.tflite"
        path.write_bytes(per_channel_blob)
        report = compat.check_on_device([path], np.zeros((2, 28, 28)), python=EDGE_PYTHON, reps=0)
        assert report.results[str(path)]["loads"] is False
        assert "version '12'" in report.results[str(path)]["error"]


def test_batchnorm_folding_keeps_the_function(tiny_keras, mnist_data):
    model = tiny_keras["lenet"]
    folded, count = fold_batchnorm(model)
    assert count == 2
    assert not any("batch_normalization" in type(layer).__name__.lower() for layer in folded.layers)
    x = mnist_data.x_test[:300].reshape(-1, 28, 28, 1).astype(np.float32) / 255.0
    np.testing.assert_allclose(folded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    assert fold_batchnorm(tiny_keras["dense"])[1] == 0  # nothing to fold: the model itself


def test_batchnorm_with_a_negative_scale_is_not_folded_across_maxpool(tiny_keras):
    import keras

    model = keras.models.clone_model(tiny_keras["lenet"])
    model.set_weights(tiny_keras["lenet"].get_weights())
    bn = model.get_layer("bn1")
    gamma, *rest = bn.get_weights()
    gamma[0] = -abs(gamma[0]) - 0.1  # max does not commute with a decreasing map
    bn.set_weights([gamma, *rest])
    assert fold_batchnorm(model)[1] == 1  # only bn2 folds


def test_balanced_sample_is_balanced_reproducible_and_unique():
    y = np.repeat(np.arange(10), [50, 60, 70, 80, 90, 100, 110, 120, 130, 140])
    idx = balanced_sample(y, 205, seed=3)
    assert len(idx) == len(set(idx.tolist())) == 205
    counts = np.bincount(y[idx], minlength=10)
    assert counts.max() - counts.min() <= 1
    np.testing.assert_array_equal(idx, balanced_sample(y, 205, seed=3))
    with pytest.raises(ConvertError, match="positive"):
        balanced_sample(y, 0)


def test_convert_refuses_bad_requests(tiny_keras):
    with pytest.raises(ConvertError, match="non-empty representative"):
        convert(tiny_keras["dense"], "int8", representative=np.empty((0, 784), np.float32))
    with pytest.raises(ConvertError, match="unknown mode"):
        convert(tiny_keras["dense"], "int4")
    with pytest.raises(ConvertError, match="I/O type"):
        convert(tiny_keras["dense"], "int8", np.zeros((2, 784), np.float32), io_dtype="int16")


def test_range_equalization_keeps_the_function_and_balances_ranges(tiny_keras, mnist_data):
    from convert.export import equalize

    x = mnist_data.x_test[:300].astype(np.float32) / 255.0
    for name, pairs in (("lenet", 2), ("dense", 1)):
        model = fold_batchnorm(tiny_keras[name])[0]
        balanced, count = equalize(model)
        assert count == pairs and balanced is not model
        shaped = x.reshape((-1, *model.inputs[0].shape[1:]))
        np.testing.assert_allclose(
            balanced.predict(shaped, verbose=0), model.predict(shaped, verbose=0), atol=1e-5
        )
    # the hidden layer's output-channel ranges now match the next layer's input-channel ranges
    dense = equalize(tiny_keras["dense"])[0]
    w1, w2 = dense.layers[0].get_weights()[0], dense.layers[1].get_weights()[0]
    np.testing.assert_allclose(np.abs(w1).max(axis=0), np.abs(w2).max(axis=1), rtol=1e-4)
