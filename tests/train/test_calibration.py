"""Temperature scaling and the default minimum confidence, chosen on validation data."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from train import calibration as cal


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def _overconfident(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z), reported as softmax(3 z): calibrated by T = 3."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (n, 10))
    p = _softmax(logits).astype(np.float64)
    labels = (rng.random((n, 1)) > np.cumsum(p, axis=1)).sum(axis=1).clip(0, 9)
    return _softmax(3.0 * logits), labels


def test_ece_of_perfectly_calibrated_and_of_overconfident_predictions():
    probs = np.zeros((100, 10), np.float32)
    probs[:, 0] = 1.0
    labels = np.zeros(100, int)
    assert cal.expected_calibration_error(probs, labels) == 0.0
    labels[:30] = 1  # says 100%, right 70%
    assert cal.expected_calibration_error(probs, labels) == pytest.approx(0.3)


def test_fit_temperature_recovers_the_true_one_and_lowers_ece():
    probs, labels = _overconfident()
    t = cal.fit_temperature(probs, labels)
    assert t == pytest.approx(3.0, rel=0.12)
    after = cal.with_temperature(probs, t)
    assert (after.argmax(1) == probs.argmax(1)).all()  # ranking, so accuracy, unchanged
    ece_before = cal.expected_calibration_error(probs, labels)
    assert cal.expected_calibration_error(after, labels) < ece_before / 3


def test_folding_t_into_the_last_layer_equals_scaling_the_outputs():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(8, "relu"), keras.layers.Dense(10, "softmax")]
    )
    x = np.random.default_rng(1).normal(size=(32, 6)).astype(np.float32) * 4
    before = model.predict(x, verbose=0)
    cal.fold_temperature(model, 2.5)
    np.testing.assert_allclose(
        model.predict(x, verbose=0), cal.with_temperature(before, 2.5), atol=1e-5
    )
    plain = keras.Sequential([keras.Input((6,)), keras.layers.Dense(10)])
    with pytest.raises(ValueError, match="not a Dense softmax"):
        cal.fold_temperature(plain, 2.0)


def test_min_confidence_keeps_at_most_a_fifth_of_the_wrong_answers():
    probs, labels = _overconfident(seed=2)
    probs = cal.with_temperature(probs, cal.fit_temperature(probs, labels))
    t = cal.choose_min_confidence(probs, labels)
    wrong0, _ = cal.wrong_and_unsure(probs, labels, 0.0)
    wrong, unsure = cal.wrong_and_unsure(probs, labels, t)
    assert wrong <= cal.WRONG_KEPT * wrong0 < cal.wrong_and_unsure(probs, labels, t - 0.01)[0]
    assert unsure > 0


def test_calibrate_on_validation_digits(mnist_data):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    x = mnist_data.x_train[:2000].astype(np.float32) / 255
    model.fit(x[..., None], mnist_data.y_train[:2000], epochs=3, verbose=0)
    x_val, y_val = x[:300], mnist_data.y_train[:300].astype(np.int64)
    result = cal.calibrate(model, x_val, y_val)
    assert result.images == 600  # as they are + varied
    assert result.nll_after <= result.nll_before
    assert 0.3 <= result.min_confidence <= 0.99
    assert result.wrong <= cal.WRONG_KEPT * result.wrong_without
