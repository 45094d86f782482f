"""A short real training run on a slice of MNIST: it must learn, and be bit-for-bit reproducible."""

from __future__ import annotations

import json

import numpy as np
import pytest

from train import artifacts
from train.data import Splits
from train.fitting import fit
from train.models import MODELS
from train.recipe import Recipe

SMALL = Recipe(epochs=2, batch_size=32, learning_rate=3e-3)


@pytest.fixture(scope="module")
def small_splits(mnist_data) -> Splits:
    """8,000 training, 1,000 validation, and a held-out slice of 1,000 training images as test."""
    x = mnist_data.x_train[:10_000].astype(np.float32) / 255.0
    y = mnist_data.y_train[:10_000]
    return Splits(x[:8000], y[:8000], x[8000:9000], y[8000:9000], x[9000:], y[9000:])


@pytest.fixture(scope="module")
def lenet_runs(small_splits):
    return [fit(MODELS["lenet"], small_splits, seed=7, recipe=SMALL) for _ in range(2)]


def test_lenet_learns_on_a_small_slice(lenet_runs):
    result = lenet_runs[0]
    assert result.test_accuracy > 0.90
    assert len(result.history) == 2 and result.best_epoch in (1, 2)
    assert result.val_accuracy == pytest.approx(
        result.history[result.best_epoch - 1]["val_accuracy"]
    )


def test_same_seed_gives_identical_weights(lenet_runs):
    first, second = (r.model.get_weights() for r in lenet_runs)
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert lenet_runs[0].test_loss == lenet_runs[1].test_loss


def test_another_seed_gives_other_weights(small_splits, lenet_runs):
    other = fit(MODELS["lenet"], small_splits, seed=8, recipe=Recipe(epochs=1, batch_size=64))
    assert not np.array_equal(other.model.get_weights()[0], lenet_runs[0].model.get_weights()[0])


def test_dense_learns_without_augmentation(small_splits):
    result = fit(
        MODELS["dense"],
        small_splits,
        seed=0,
        recipe=Recipe(epochs=2, batch_size=64, learning_rate=2e-3, augment=None),
    )
    assert result.test_accuracy > 0.90


def test_artifacts_are_complete(tmp_path, lenet_runs, mnist_data):
    paths = artifacts.save(lenet_runs[0], mnist_data, tmp_path)
    assert {p.name for p in (tmp_path / "models").iterdir()} == {
        "lenet.keras", "lenet.metrics.json", "lenet.curve.png",
    }  # fmt: skip
    metrics = json.loads(paths["metrics"].read_text())
    assert metrics["params"] == 6_526 and metrics["trainable_params"] == 6_482
    assert metrics["seed"] == 7 and metrics["epochs"] == 2 and len(metrics["history"]) == 2
    assert metrics["data"]["verified_canonical_mnist"] is True
    assert "tensorflow-cpu" in metrics["versions"] or "tensorflow" in metrics["versions"]
    assert paths["curve"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    import keras

    reloaded = keras.models.load_model(paths["model"])
    x = lenet_runs[0].model.inputs  # same architecture, same weights
    assert x is not None
    for a, b in zip(reloaded.get_weights(), lenet_runs[0].model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_epoch_selection_prefers_the_latest_within_noise():
    from train.fitting import select_epoch

    # a lucky mid-training peak (epoch 3) within one standard error (0.14 pp) of the end
    assert select_epoch([0.980, 0.985, 0.9898, 0.9880, 0.9889], 5000) == 5
    # a clearly better earlier epoch wins over a collapse at the end (BatchNorm swings)
    assert select_epoch([0.950, 0.985, 0.795], 5000) == 2
    assert select_epoch([0.97], 5000) == 1
