"""Epochs made in worker processes or on a thread are the epochs made in place, in order."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from train.epoch_data import epoch_data, epochs_in_processes, epochs_on_a_thread
from train.handwriting import WritingConfig
from train.recipe import Recipe

VARIED = Recipe(epochs=3, writing=WritingConfig())  # 3 epochs: two workers' second round is short


@pytest.fixture(scope="module")
def images(mnist_data) -> tuple[np.ndarray, np.ndarray]:
    return mnist_data.x_train[:600].astype(np.float32) / 255.0, mnist_data.y_train[:600]


def _in_place(images, recipe: Recipe, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    return [epoch_data(*images, recipe, seed, e) for e in range(recipe.epochs)]


def _assert_same(made, expected) -> None:
    assert len(made) == len(expected)
    for (x, y), (x0, y0) in zip(made, expected, strict=True):
        np.testing.assert_array_equal(x, x0)
        np.testing.assert_array_equal(y, y0)


def test_worker_processes_make_the_same_epochs_in_order(images):
    expected = _in_place(images, VARIED, seed=3)
    assert not np.array_equal(expected[0][0], expected[1][0])  # epochs differ from each other
    _assert_same(list(epochs_in_processes(*images, VARIED, 3, workers=2)), expected)


def test_a_thread_makes_the_same_epochs_in_order(images):
    _assert_same(list(epochs_on_a_thread(*images, VARIED, 3)), _in_place(images, VARIED, 3))


def _shared_blocks() -> set[str]:
    return {name for name in os.listdir("/dev/shm") if name.startswith("psm_")}


@pytest.mark.skipif(
    not os.path.isdir("/dev/shm"), reason="shared memory is listed in /dev/shm on Linux"
)
def test_shared_memory_is_released_when_training_stops_early(images):
    before = _shared_blocks()
    epochs = epochs_in_processes(*images, VARIED, 0, workers=2)
    next(epochs)
    assert len(_shared_blocks() - before) == 2  # one block a worker
    epochs.close()  # what a training run that fails or is interrupted does
    assert _shared_blocks() - before == set()


def test_epochs_are_made_on_a_thread_where_shared_memory_is_too_small(images, monkeypatch):
    """A Docker container's /dev/shm (64 MB) cannot hold MNIST epochs: a worker writing past
    it would die of SIGBUS, so they are made on a thread, with a notice that says why."""
    import train.epoch_data as epoch_data_module

    monkeypatch.setattr(epoch_data_module, "usable_cores", lambda: 2)
    monkeypatch.setattr(epoch_data_module, "shared_memory_free", lambda: 1 << 20)
    in_processes = dataclasses.replace(VARIED, epochs_in_processes=True)
    with pytest.warns(epoch_data_module.TrainingNotice, match=r"--shm-size") as notices:
        made = list(epoch_data_module.epochs_for(*images, in_processes, 3))
    assert "has 1 MB free and 2 epochs made at once need 3 MB" in str(notices[0].message)
    _assert_same(made, _in_place(images, in_processes, 3))
