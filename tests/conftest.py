"""Fixtures shared by every test; imports no TensorFlow and nothing of train or convert, so
tests/edge runs alone in .venv-edge (and from the Pi bundle)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from edge import mnist
from tests import model_zoo

HAS_TENSORFLOW = importlib.util.find_spec("tensorflow") is not None


@pytest.fixture(scope="session")
def mnist_path() -> Path:
    """Where MNIST is ($DIGIT_EDGE_DATA, or the offline copy beside the checkout).

    Skips where there is none and none was asked for; fails where $DIGIT_EDGE_DATA names a
    path that does not exist.
    """
    path = mnist.resolve_data_path()
    if path is None:
        pytest.skip(f"MNIST not found: set {mnist.ENV_VAR} (or put it at {mnist.OFFLINE_COPY})")
    if not path.exists():
        pytest.fail(f"{mnist.ENV_VAR}={path}: no such file or folder")
    return path


@pytest.fixture(scope="session")
def mnist_data(mnist_path: Path) -> mnist.Mnist:
    """The real MNIST, loaded once."""
    return mnist.load(mnist_path)


@pytest.fixture(scope="session")
def test_models() -> Path:
    """The committed fixture models (tests/model_zoo.py says what they are and regenerates them)."""
    return model_zoo.FIXTURES


@pytest.fixture(scope="session")
def golden(test_models: Path) -> dict[str, np.ndarray]:
    """Inputs (float [0, 1]) and TensorFlow's reference outputs for every fixture model."""
    with np.load(test_models / model_zoo.GOLDEN_FILE) as npz:
        out = {k: npz[k] for k in npz.files}
    out["x"] = out["x"].astype(np.float32) / np.float32(255.0)
    return out


@pytest.fixture(scope="session")
def int8_model(test_models: Path) -> Path:
    """The LeNet int8 file: what the device runs by default."""
    return test_models / model_zoo.file_name("lenet", "int8")


@pytest.fixture(scope="session")
def digits(test_models: Path) -> np.ndarray:
    """uint8 28x28 digits, white on black (the fixture's synthetic font digits, not MNIST)."""
    with np.load(test_models / model_zoo.GOLDEN_FILE) as npz:
        return npz["x"]
