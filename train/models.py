"""The registry of trainable models: one table drives the CLI, the tests and the docs.

Each entry builds a fresh, uncompiled Keras model that takes float32 images (N, 28, 28, 1) in
[0, 1] (or (N, 784) for the dense baseline) and returns 10 softmax probabilities.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from train.augment import AugmentConfig
from train.handwriting import WritingConfig
from train.recipe import Recipe

if TYPE_CHECKING:  # Keras is imported by the builders, so listing models costs nothing
    import keras


def build_lenet() -> keras.Model:
    """The LeNet-style CNN: 6,526 parameters."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1), name="image"),
            layers.Conv2D(6, 1, name="conv1"),
            layers.MaxPooling2D(2, name="pool1"),
            layers.BatchNormalization(name="bn1"),
            layers.ReLU(name="relu1"),
            layers.Conv2D(16, 5, padding="valid", name="conv2"),
            layers.MaxPooling2D(2, name="pool2"),
            layers.BatchNormalization(name="bn2"),
            layers.ReLU(name="relu2"),
            layers.Flatten(name="flatten"),
            layers.Dense(10, activation="softmax", name="probs"),
        ],
        name="lenet",
    )


def build_dense() -> keras.Model:
    """The dense baseline: 784 -> 128 ReLU -> 10 softmax, 101,770 parameters."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input(shape=(784,), name="image"),
            layers.Dense(128, activation="relu", name="hidden"),
            layers.Dense(10, activation="softmax", name="probs"),
        ],
        name="dense",
    )


def build_edgenet() -> keras.Model:
    """A compact VGG-style CNN made for the device: 76,762 parameters, 2.9 M multiply-adds.

    Four 3x3 convolutions (16-32-64-64 channels, batch-normalised), the first two max-pooled,
    the last one unpadded to 5x5, then dropout and one dense softmax. Why this shape
    (docs/real-handwriting.md): most of its work happens at 14x14 and 7x7, where a 3x3 layer
    costs little, so it reads stroke shapes with a 4x larger receptive field than the seed's
    CNN at a cost the Pi's camera loop barely notices; the dense head keeps where in the box a
    stroke is. Pooling comes before batch norm and ReLU (as in the seed's CNN): they then work
    on a quarter of the pixels, which makes an epoch ~40% cheaper to train.
    """
    import keras
    from keras import layers

    def conv(
        name: str, channels: int, padding: str = "same", pool: bool = False
    ) -> list[layers.Layer]:
        pooling = [layers.MaxPooling2D(2, name=f"{name}_pool")] if pool else []
        return [
            layers.Conv2D(channels, 3, padding=padding, use_bias=False, name=name),
            *pooling,
            layers.BatchNormalization(name=f"{name}_bn"),
            layers.ReLU(name=f"{name}_relu"),
        ]

    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1), name="image"),
            *conv("conv1", 16, pool=True),
            *conv("conv2", 32, pool=True),
            *conv("conv3", 64),
            *conv("conv4", 64, padding="valid"),
            layers.Flatten(name="flatten"),
            layers.Dropout(0.3, name="dropout"),
            layers.Dense(10, activation="softmax", name="probs"),
        ],
        name="edgenet",
    )


def build_seed_example() -> keras.Model:
    """An illustrative builder (a ResNet-style stem) with a 10-way softmax head."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1), name="image"),
            layers.ZeroPadding2D(3, name="pad"),
            layers.Conv2D(32, 7, strides=2, name="conv"),
            layers.ReLU(name="relu"),
            layers.MaxPooling2D(2, name="pool"),
            layers.Flatten(name="flatten"),
            layers.Dense(10, activation="softmax", name="probs"),
        ],
        name="seed_example",
    )


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: how to build it, what it expects, and the counts a test pins down."""

    name: str
    build: Callable[[], keras.Model]
    input_shape: tuple[int, ...]
    params: int
    description: str
    default: bool  # trained by a plain `make train`
    recipe: Recipe


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="lenet",
            build=build_lenet,
            input_shape=(28, 28, 1),
            params=6_526,
            description="LeNet-style CNN",
            default=True,
            # Small batches and mild warps suit this 6.5k-parameter net: it underfits
            # strong augmentation and overfits none; 13 epochs read as 15 did, for less of
            # the seed's training-time budget (docs/training.md has the runs).
            recipe=Recipe(
                epochs=13,
                batch_size=64,
                learning_rate=3e-3,
                label_smoothing=0.0,
                augment=AugmentConfig(
                    max_rotation_deg=6.0,
                    scale_range=(0.94, 1.06),
                    max_shift_px=1.2,
                    max_shear=0.09,
                ),
                writing=WritingConfig(elastic=0.0, stroke=0.2, gap=0.0, lowres=0.1),
                font_digits_per_class=300,
            ),
        ),
        ModelSpec(
            name="dense",
            build=build_dense,
            input_shape=(784,),
            params=101_770,
            description="784-128-10 dense baseline",
            default=True,
            recipe=Recipe(epochs=20, batch_size=128, learning_rate=2e-3),
        ),
        ModelSpec(
            name="edgenet",
            build=build_edgenet,
            input_shape=(28, 28, 1),
            params=76_762,
            description="compact VGG-style CNN made for the device",
            default=True,
            recipe=Recipe(
                epochs=12,
                batch_size=128,
                learning_rate=3e-3,
                label_smoothing=0.0,
                augment=AugmentConfig(
                    max_rotation_deg=10.0,
                    scale_range=(0.9, 1.1),
                    max_shift_px=1.5,
                    max_shear=0.3,
                ),
                writing=WritingConfig(
                    elastic=0.35, stroke=0.45, width=0.15, flag_length=(0.2, 0.5)
                ),
                font_digits_per_class=400,
                normalize_stroke=0.0,
                epochs_in_processes=True,
            ),
        ),
        ModelSpec(
            name="seed-example",
            build=build_seed_example,
            input_shape=(28, 28, 1),
            params=17_290,
            description="an illustrative conv stem (ResNet-style)",
            default=False,
            recipe=Recipe(epochs=10, batch_size=128, learning_rate=2e-3),
        ),
    )
}
DEFAULT_MODELS: tuple[str, ...] = tuple(name for name, spec in MODELS.items() if spec.default)
