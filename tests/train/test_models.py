"""The registry builds exactly the registered architectures (their parameter counts pinned)."""

import numpy as np
import pytest

from train.models import DEFAULT_MODELS, MODELS


def _shapes(model):
    return [tuple(layer.output.shape[1:]) for layer in model.layers]


def test_lenet_matches_the_seed_summary():
    model = MODELS["lenet"].build()
    assert model.count_params() == 6_526
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    assert (trainable, model.count_params() - trainable) == (6_482, 44)
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv2D", "MaxPooling2D", "BatchNormalization", "ReLU",
        "Conv2D", "MaxPooling2D", "BatchNormalization", "ReLU", "Flatten", "Dense",
    ]  # fmt: skip
    assert _shapes(model) == [
        (28, 28, 6), (14, 14, 6), (14, 14, 6), (14, 14, 6),
        (10, 10, 16), (5, 5, 16), (5, 5, 16), (5, 5, 16), (400,), (10,),
    ]  # fmt: skip
    assert model.layers[0].kernel_size == (1, 1) and model.layers[4].kernel_size == (5, 5)


def test_dense_baseline():
    model = MODELS["dense"].build()
    assert model.count_params() == 101_770
    assert tuple(model.input_shape[1:]) == (784,)
    assert _shapes(model) == [(128,), (10,)]


def test_seed_example_has_a_ten_way_softmax_head():
    model = MODELS["seed-example"].build()
    assert _shapes(model) == [(34, 34, 1), (14, 14, 32), (14, 14, 32), (7, 7, 32), (1568,), (10,)]
    assert model.layers[-1].activation.__name__ == "softmax"


@pytest.mark.parametrize("name", list(MODELS))
def test_registry_entry_is_consistent(name):
    spec = MODELS[name]
    model = spec.build()
    assert model.count_params() == spec.params
    assert tuple(model.input_shape[1:]) == spec.input_shape
    assert spec.recipe.epochs >= 1


def test_edgenet_is_small_enough_for_the_device():
    model = MODELS["edgenet"].build()
    assert model.count_params() == 76_762  # int8: ~84 KB, under the 150 KB budget
    assert model.layers[-1].activation.__name__ == "softmax"  # calibration folds T into it
    macs = sum(
        int(np.prod(layer.output.shape[1:])) * int(np.prod(layer.kernel.shape[:-1]))
        for layer in model.layers
        if type(layer).__name__ in ("Conv2D", "Dense")
    )
    assert 2.5e6 < macs < 3.0e6  # multiply-adds per image: what the camera loop pays
    assert MODELS["edgenet"].recipe.normalize_stroke == 0.0  # reads strokes as drawn


def test_make_train_trains_lenet_dense_and_edgenet():
    assert DEFAULT_MODELS == ("lenet", "dense", "edgenet")
