"""Training one model: deterministic, with the epoch kept chosen by validation accuracy.

The same seed gives the same weights on the same machine: every random choice (weights,
shuffling, augmentation) flows from the seed, and TensorFlow's op determinism is on.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import tensorflow as tf

from edge.normalize import DEFAULT_OPTIONS
from train.data import Splits
from train.epoch_data import TrainingNotice, epochs_for, one_hot
from train.recipe import Recipe

if TYPE_CHECKING:
    from train.calibration import Calibration
    from train.models import ModelSpec

STEPS_PER_EXECUTION = 16  # batches per graph call: same numbers, far less Python per step


@dataclass
class TrainResult:
    """What a training run produced: the selected model and everything to report about it."""

    model: keras.Model
    spec: ModelSpec
    recipe: Recipe
    seed: int
    history: list[dict[str, float]]
    best_epoch: int  # 1-based
    val_accuracy: float
    val_loss: float
    test_accuracy: float
    test_loss: float
    wall_seconds: float
    calibration: Calibration | None = None  # set by train.calibration.calibrate (cli)


EpochCallback = Callable[[int, dict[str, float]], None]


def set_determinism(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's kernels deterministic."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def select_epoch(val_accuracies: list[float], n_val: int) -> int:
    """The 1-based epoch to keep: the latest whose validation accuracy is within one standard
    error of the best.

    Why not simply the best: 5,000 validation images measure accuracy to about ±0.14 pp, so
    the top of 15 noisy scores is often a lucky mid-training epoch at a high learning rate
    (docs/training.md has the runs). Later epochs have the lower learning rate; an earlier one
    is kept only when it is better by more than the noise.
    """
    best = max(val_accuracies)
    standard_error = float(np.sqrt(best * (1.0 - best) / max(n_val, 1)))
    return max(i for i, acc in enumerate(val_accuracies, 1) if acc >= best - standard_error)


def with_font_digits(
    splits: Splits, per_class: int, seed: int, stroke: float = DEFAULT_OPTIONS.stroke
) -> Splits:
    """The splits with rendered printed-style digits appended to the training set only."""
    if per_class <= 0:
        return splits
    from train.font_digits import font_digits, missing_faces_notice

    notice = missing_faces_notice()
    if notice:
        warnings.warn(notice, TrainingNotice, stacklevel=2)
    x, y = font_digits(per_class, seed, stroke)
    return dataclasses.replace(
        splits,
        x_train=np.concatenate([splits.x_train, x]),
        y_train=np.concatenate([splits.y_train, y]),
    )


def compile_model(model: keras.Model, recipe: Recipe, steps_per_epoch: int):
    """Compile ``model`` for ``recipe``: warm-up then cosine decay of the learning rate (the
    schedule is returned so each epoch's rate can be logged)."""
    total_steps = steps_per_epoch * recipe.epochs
    warmup = min(steps_per_epoch, total_steps // 10)  # one epoch, or a tenth of a short run
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        decay_steps=max(1, total_steps - warmup),
        warmup_target=recipe.learning_rate,
        warmup_steps=warmup,
    )
    model.compile(
        optimizer=make_optimizer(recipe, schedule),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
        metrics=["accuracy"],
        steps_per_execution=STEPS_PER_EXECUTION,
    )
    return schedule


def fit(
    spec: ModelSpec,
    splits: Splits,
    *,
    seed: int = 0,
    recipe: Recipe | None = None,
    on_epoch: EpochCallback | None = None,
    on_batch: Callable[[int], None] | None = None,
    on_begin: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train ``spec`` on ``splits``; keep the epoch :func:`select_epoch` picks on validation."""
    recipe = recipe or spec.recipe
    set_determinism(seed)
    start = time.perf_counter()
    splits = with_font_digits(splits, recipe.font_digits_per_class, seed, recipe.normalize_stroke)
    model = spec.build()
    steps_per_epoch = int(np.ceil(len(splits.x_train) / recipe.batch_size))
    if on_begin:
        on_begin(steps_per_epoch * recipe.epochs)
    schedule = compile_model(model, recipe, steps_per_epoch)
    shape = (-1, *spec.input_shape)
    validation = batches(splits.x_val.reshape(shape), one_hot(splits.y_val), recipe.batch_size)
    batch_cb = [_BatchHook(on_batch, steps_per_epoch)] if on_batch else []

    epochs = epochs_for(splits.x_train, splits.y_train, recipe, seed)
    history, snapshots = train_epochs(
        model, epochs, validation, recipe.batch_size, schedule, batch_cb, on_epoch
    )
    best_epoch = select_epoch([row["val_accuracy"] for row in history], len(splits.y_val))
    model.set_weights(snapshots[best_epoch - 1])
    val_acc, val_loss = evaluate(model, splits.x_val.reshape(shape), splits.y_val)
    test_acc, test_loss = evaluate(model, splits.x_test.reshape(shape), splits.y_test)
    return TrainResult(
        model=model,
        spec=spec,
        recipe=recipe,
        seed=seed,
        history=history,
        best_epoch=best_epoch,
        val_accuracy=float(val_acc),
        val_loss=float(val_loss),
        test_accuracy=float(test_acc),
        test_loss=float(test_loss),
        wall_seconds=time.perf_counter() - start,
    )


def train_epochs(
    model: keras.Model,
    epochs: Iterator[tuple[np.ndarray, np.ndarray]],
    validation: tf.data.Dataset,
    batch_size: int,
    schedule: Any,
    callbacks: list[keras.callbacks.Callback],
    on_epoch: EpochCallback | None = None,
) -> tuple[list[dict[str, float]], list[list[np.ndarray]]]:
    """One ``model.fit`` call per epoch of ``epochs`` (made elsewhere: train.epoch_data), so
    every epoch's weights are kept for :func:`select_epoch`; returns each epoch's metrics and
    weights (kilobytes for these models)."""
    shape = (-1, *model.input_shape[1:])
    history: list[dict[str, float]] = []
    snapshots: list[list[np.ndarray]] = []
    for epoch, (x, y) in enumerate(epochs):
        t0 = time.perf_counter()
        h = model.fit(
            batches(x.reshape(shape), y, batch_size),
            epochs=epoch + 1,
            initial_epoch=epoch,
            shuffle=False,  # the epoch comes shuffled (and Keras warns of shuffle on a Dataset)
            validation_data=validation,
            verbose=0,
            callbacks=callbacks,
        )
        row = {k: float(v[-1]) for k, v in h.history.items()}
        row["epoch"] = epoch + 1
        row["learning_rate"] = float(schedule(model.optimizer.iterations))
        row["seconds"] = time.perf_counter() - t0
        history.append(row)
        snapshots.append(model.get_weights())
        if on_epoch:
            on_epoch(epoch + 1, row)
    return history, snapshots


def batches(x: np.ndarray, y: np.ndarray, batch_size: int) -> tf.data.Dataset:
    """``(x, y)`` in order, ``batch_size`` at a time, as ``model.fit`` would slice the arrays,
    with tf.data's autotuning off (see docs/training.md, "Speed")."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size).with_options(options)


def make_optimizer(recipe: Recipe, schedule: Any) -> keras.optimizers.Optimizer:
    """The recipe's optimizer, driven by the warm-up + cosine learning-rate schedule."""
    if recipe.optimizer == "adam":
        return keras.optimizers.Adam(schedule)
    if recipe.optimizer == "adamw":
        return keras.optimizers.AdamW(schedule, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "sgd":
        return keras.optimizers.SGD(
            schedule, momentum=0.9, nesterov=True, weight_decay=recipe.weight_decay or None
        )
    raise ValueError(f"unknown optimizer {recipe.optimizer!r}")


def evaluate(model: keras.Model, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Accuracy and plain (unsmoothed) cross-entropy, so losses compare across recipes."""
    probs = model.predict(x, batch_size=1000, verbose=0)
    return accuracy_and_loss(probs, y)


def accuracy_and_loss(probs: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Top-1 accuracy and mean negative log-likelihood of softmax outputs."""
    picked = probs[np.arange(len(labels)), labels]
    nll = -np.log(np.clip(picked, 1e-7, 1.0))
    return float(np.mean(probs.argmax(axis=1) == labels)), float(np.mean(nll))


class _BatchHook(keras.callbacks.Callback):
    """Forwards finished batches to a progress bar (several per call with steps_per_execution)."""

    def __init__(self, hook: Callable[[int], None], steps_per_epoch: int) -> None:
        super().__init__()
        self._hook, self._steps = hook, steps_per_epoch
        self._done = 0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._done = 0

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        done = min(batch + 1, self._steps)  # Keras counts a partial last call as whole
        self._hook(done - self._done)
        self._done = done
