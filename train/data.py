"""Where MNIST comes from, and how it is split for training.

Order: ``--data PATH``, then ``$DIGIT_EDGE_DATA``, then the offline copy beside the checkout
(``../shared/data/mnist``), then Keras's own download where a network exists. Parsing and
validation live in :mod:`edge.mnist`, shared with the device's ``eval`` command.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge import mnist
from edge.errors import DataError
from edge.fileio import sha256_file
from edge.mnist import ENV_VAR, resolve_data_path

VALIDATION_SIZE = 5_000  # the last 5,000 training images: model selection, never test
VALIDATION_FRACTION = 10  # a smaller (--any-size) training set holds out a tenth instead


def load_mnist(
    option: str | os.PathLike[str] | None = None, *, canonical_sizes: bool = True
) -> mnist.Mnist:
    """Load and validate MNIST from the resolved path, or download it with Keras."""
    path = resolve_data_path(option)
    if path is not None:
        return mnist.load(path, canonical_sizes=canonical_sizes)
    return _download_with_keras(canonical_sizes=canonical_sizes)


def _download_with_keras(*, canonical_sizes: bool) -> mnist.Mnist:
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as exc:  # no network, proxy refusal, corrupt cache
        raise DataError(
            f"no MNIST path given (--data or ${ENV_VAR}) and Keras could not download it ({exc})"
        ) from None
    cached = Path(os.environ.get("KERAS_HOME", "~/.keras")).expanduser() / "datasets/mnist.npz"
    data = mnist.Mnist(
        x_train,
        y_train.astype(np.uint8),
        x_test,
        y_test.astype(np.uint8),
        source="keras.datasets.mnist",
        sha256={"mnist.npz": sha256_file(cached)} if cached.is_file() else {},
    )
    mnist.validate(data, canonical_sizes=canonical_sizes)
    return data


@dataclass(frozen=True)
class Splits:
    """Train / validation / test arrays as float32 in [0, 1], images (N, 28, 28)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def split(data: mnist.Mnist, validation_size: int | None = None) -> Splits:
    """Carve the validation set from the end of the training set; the test set stays untouched."""
    n = len(data.x_train)
    if validation_size is None:
        validation_size = min(VALIDATION_SIZE, n // VALIDATION_FRACTION)
    if not 0 < validation_size < n:
        raise DataError(f"{data.source}: cannot hold out {validation_size} of {n} training images")
    x = data.x_train.astype(np.float32) / 255.0
    cut = n - validation_size
    return Splits(
        x[:cut],
        data.y_train[:cut],
        x[cut:],
        data.y_train[cut:],
        data.x_test.astype(np.float32) / 255.0,
        data.y_test,
    )
