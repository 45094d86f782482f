"""The int8 refinements (bias correction, logit range) and the function-preserving graph
rewrites (ReLU before MaxPool, dense on a feature map as a convolution)."""

from __future__ import annotations

import numpy as np
import pytest

from convert import flatbuf
from convert.export import (
    convert,
    converter_for,
    dense_as_conv,
    fold_batchnorm,
    relu_before_pool,
    with_static_batch,
)
from convert.modes import MODES, Recipe
from convert.ptq import FULLY_CONNECTED, SOFTMAX, refine_int8, run_tensors


@pytest.fixture(scope="module")
def calib(mnist_data) -> np.ndarray:
    return mnist_data.x_train[:300].reshape(-1, 28, 28, 1).astype(np.float32) / 255.0


@pytest.fixture(scope="module")
def lenet_pair(tiny_keras, calib):
    """(source model, its plain int8 file, its float32 twin), as convert() builds them."""
    import tensorflow as tf

    source = relu_before_pool(fold_batchnorm(tiny_keras["lenet"])[0])[0]
    plain = bytes(converter_for(with_static_batch(source), MODES["int8"], calib, "int8").convert())
    twin = tf.lite.TFLiteConverter.from_keras_model(with_static_batch(source)).convert()
    return source, plain, bytes(twin)


def _model(blob):
    from tensorflow.lite.tools import flatbuffer_utils as fu

    return fu.read_model_from_bytearray(bytearray(blob))


def _op(model, code):
    sg = model.subgraphs[0]
    return next(
        op for op in sg.operators if model.operatorCodes[op.opcodeIndex].builtinCode == code
    )


def _logit_error(blob, twin, images) -> np.ndarray:
    """Mean int8 − float logit per class (the FULLY_CONNECTED output) on ``images``."""
    m, f = _model(blob), _model(twin)
    ours = run_tensors(blob, images, [int(_op(m, FULLY_CONNECTED).outputs[0])])
    ref = run_tensors(twin, images, [int(_op(f, FULLY_CONNECTED).outputs[0])])
    return next(iter(ours.values())).mean(axis=0) - next(iter(ref.values())).mean(axis=0)


def test_relu_before_pool_keeps_the_function_and_starts_int8_ranges_at_zero(
    tiny_keras, calib, lenet_pair
):
    folded = fold_batchnorm(tiny_keras["lenet"])[0]
    swapped, count = relu_before_pool(folded)
    assert count == 2
    np.testing.assert_allclose(
        swapped.predict(calib, verbose=0), folded.predict(calib, verbose=0), atol=1e-5
    )
    assert relu_before_pool(tiny_keras["dense"])[1] == 0
    # the ReLU is fused into each convolution, so its int8 output range starts at 0
    model = _model(lenet_pair[1])
    convs = [op for op in model.subgraphs[0].operators if op.builtinOptions is not None]
    for op in convs[:1]:
        assert op.builtinOptions.fusedActivationFunction == 1
        assert model.subgraphs[0].tensors[op.outputs[0]].quantization.zeroPoint[0] == -128


def test_dense_as_conv_keeps_the_function_and_quantizes_per_channel_on_2_14(tiny_keras, calib):
    source = relu_before_pool(fold_batchnorm(tiny_keras["lenet"])[0])[0]
    conv, count = dense_as_conv(source)
    assert count == 1
    np.testing.assert_allclose(
        conv.predict(calib, verbose=0), source.predict(calib, verbose=0), atol=1e-5
    )
    assert dense_as_conv(tiny_keras["dense"])[1] == 0  # its dense layers read a flat vector
    blob = convert(tiny_keras["lenet"], "dynamic")
    ops = {o.name: o.version for o in flatbuf.read_ops(blob)}
    assert "FULLY_CONNECTED" not in ops
    assert flatbuf.table_verdict(flatbuf.read_ops(blob))[0] is True
    # the former dense weights (10 output channels) carry one scale per channel
    model = _model(blob)
    weights = [t for t in model.subgraphs[0].tensors if t.type == 9 and len(t.shape) == 4]
    assert any(t.shape[0] == 10 and len(t.quantization.scale) == 10 for t in weights)


def test_bias_correction_recovers_a_known_bias_error(lenet_pair, calib):
    """Knock channel 3 of the logits' int32 bias off by three output steps: the correction must
    put back that many bias steps more there than on the intact file, and leave the error of
    that class and the mean error smaller."""
    _, plain, twin = lenet_pair
    model = _model(plain)
    fc = _op(model, FULLY_CONNECTED)
    bias_t = model.subgraphs[0].tensors[fc.inputs[2]]
    bias = model.buffers[bias_t.buffer].data.view(np.int32)
    tensors = model.subgraphs[0].tensors
    bias_step = (
        tensors[fc.inputs[0]].quantization.scale[0] * tensors[fc.inputs[1]].quantization.scale[3]
    )
    damage = int(np.round(3 * tensors[fc.outputs[0]].quantization.scale[0] / bias_step))
    bias[3] -= damage
    from tensorflow.lite.tools import flatbuffer_utils as fu

    broken = bytes(fu.convert_object_to_bytearray(model))
    before = _logit_error(broken, twin, calib)
    fixed, info = refine_int8(broken, twin, calib, logit_range=False)
    after = _logit_error(fixed, twin, calib)
    k_fc = max(info.bias_steps)
    intact = refine_int8(plain, twin, calib, logit_range=False)[1].bias_steps[k_fc]
    shift = info.bias_steps[k_fc] - intact  # the steps subtracted because of the damage
    assert shift[3] == pytest.approx(-damage, rel=0.05)
    assert np.all(np.abs(np.delete(shift, 3)) <= 0.05 * damage)
    assert np.abs(after[3]) < 0.1 * np.abs(before[3])
    assert np.mean(np.abs(after)) < np.mean(np.abs(before))
    # only numbers change: same size, same operators
    assert len(fixed) == len(broken)
    assert flatbuf.read_ops(fixed) == flatbuf.read_ops(broken)


def test_bias_correction_reduces_the_systematic_logit_error(lenet_pair, calib):
    _, plain, twin = lenet_pair
    fixed, info = refine_int8(plain, twin, calib, logit_range=False)
    assert len(info.bias_steps) == 3  # conv1, conv2, the logits
    before, after = _logit_error(plain, twin, calib), _logit_error(fixed, twin, calib)
    assert np.mean(np.abs(after)) < np.mean(np.abs(before))


def test_logit_range_is_a_narrowing_that_lowers_the_loss(lenet_pair, calib):
    _, plain, twin = lenet_pair
    refined, info = refine_int8(plain, twin, calib, bias_correction=False)
    (lo0, hi0), (lo, hi) = info.logit_range
    step = (hi - lo) / 255  # the zero point is an integer: the ends move by up to one step
    assert lo0 - step <= lo <= 0 <= hi <= hi0 + step and hi - lo < hi0 - lo0
    assert info.loss[1] <= info.loss[0]
    model = _model(refined)
    t = model.subgraphs[0].tensors[_op(model, SOFTMAX).inputs[0]]
    assert t.quantization.scale[0] == pytest.approx((hi - lo) / 255, rel=1e-5)
    assert -128 <= t.quantization.zeroPoint[0] <= 127
    # on the calibration images: no more disagreements with the float twin than before
    out_p = int(_op(model, SOFTMAX).outputs[0])
    out_f = int(_op(_model(twin), SOFTMAX).outputs[0])
    ref = run_tensors(twin, calib, [out_f])[out_f].argmax(1)
    for blob in (plain, refined):
        assert out_p == int(_op(_model(blob), SOFTMAX).outputs[0])
    labels = [run_tensors(b, calib, [out_p])[out_p].argmax(1) for b in (plain, refined)]
    assert np.sum(labels[1] != ref) <= np.sum(labels[0] != ref)


def test_refined_int8_files_keep_format_and_size(tiny_keras, calib):
    for io_dtype in ("int8", "uint8"):
        plain = convert(tiny_keras["lenet"], "int8", calib, io_dtype, Recipe())
        refined = convert(tiny_keras["lenet"], "int8", calib, io_dtype)
        assert len(refined) == len(plain)
        assert flatbuf.read_ops(refined) == flatbuf.read_ops(plain)
        assert refined != plain  # uint8 I/O (QUANTIZE ops at the ends) is refined too


def test_refine_leaves_a_graph_it_does_not_recognise(lenet_pair, tiny_keras, calib):
    import tensorflow as tf

    _, plain, _ = lenet_pair
    other = tf.lite.TFLiteConverter.from_keras_model(
        with_static_batch(tiny_keras["dense"])
    ).convert()
    blob, info = refine_int8(plain, bytes(other), calib)
    assert blob == plain and "differ" in info.skipped


def test_stage_keeps_the_candidate_that_agrees_best_on_validation(stage_run):
    _, result = stage_run
    seen = set()
    for f in result.report.files:
        choice, recipes = f.validation_choice, dict(MODES[f.mode].recipes)
        if len(recipes) == 1:
            assert choice is None
            continue
        seen.add(f.mode)
        figures = choice["candidates"]
        if not figures:  # one distinct candidate: nothing to choose
            continue
        assert choice["images"] == 5000
        assert set(figures) <= set(recipes)
        order = list(figures)
        best = min(order, key=lambda k: (figures[k]["disagreements"], figures[k]["mean_abs_dp"]))
        assert choice["chosen"] == best
        for c in figures.values():
            assert c["agreement"] == pytest.approx(1 - c["disagreements"] / 5000)
    assert seen == {"int8", "dynamic"}
    assert any("validation images" in line for line in _header(result.report))


def _header(report):
    from convert.report import header_lines

    return header_lines(report)


def test_weight_rounding_lowers_the_output_error_of_a_known_layer():
    from convert.ptq import _gptq

    rng = np.random.default_rng(0)
    mix = rng.normal(size=(40, 40))
    x = rng.normal(size=(4000, 40)) @ mix  # strongly correlated inputs
    w = rng.normal(size=(8, 40))
    scale = np.abs(w).max(axis=1) / 7  # a coarse grid, so rounding matters
    nearest = np.clip(np.round(w / scale[:, None]), -127, 127)
    chosen = _gptq(w, scale, x)
    assert chosen.dtype == np.int64 and np.abs(chosen).max() <= 127

    def error(q):
        return float(np.mean((x @ (w - q * scale[:, None]).T) ** 2))

    assert error(chosen) < 0.5 * error(nearest)
    # with uncorrelated inputs of equal power there is nothing to compensate: nearest rounding
    white = np.linalg.qr(rng.normal(size=(4000, 40)))[0] * np.sqrt(4000)
    np.testing.assert_array_equal(_gptq(w, scale, white, damp=0.0), nearest)


@pytest.mark.parametrize("padding,stride", [("valid", 1), ("same", 1), ("same", 2), ("valid", 2)])
def test_patches_reproduce_the_convolution(padding, stride):
    import tensorflow as tf

    from convert.ptq import _patches

    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 9, 8, 4)).astype(np.float32)
    w = rng.normal(size=(5, 3, 3, 4)).astype(np.float32)  # TFLite layout: out, kh, kw, in

    from types import SimpleNamespace

    opt = SimpleNamespace(
        strideH=stride,
        strideW=stride,
        padding=0 if padding == "same" else 1,  # tflite Padding: SAME 0, VALID 1
        dilationHFactor=1,
        dilationWFactor=1,
    )
    cols = _patches(x, SimpleNamespace(builtinOptions=opt), w.shape)
    ours = (cols @ w.reshape(5, -1).T).reshape(3, -1, 5)
    ref = tf.nn.conv2d(x, np.transpose(w, (1, 2, 3, 0)), stride, padding.upper()).numpy()
    np.testing.assert_allclose(ours, ref.reshape(3, -1, 5), atol=1e-4)


def test_refine_rerounds_conv2_and_the_logits_layer(lenet_pair, calib):
    _, plain, twin = lenet_pair
    _, info = refine_int8(plain, twin, calib, bias_correction=False, logit_range=False)
    assert len(info.rounded) == 2  # conv1 has one weight per output channel: nothing to trade
    assert all(n > 0 for n in info.rounded.values())
