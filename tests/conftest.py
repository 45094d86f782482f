"""Fixtures shared by every test; imports no TensorFlow, so tests/edge runs in .venv-edge too."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from edge import mnist

ROOT = Path(__file__).resolve().parent.parent
TEST_MODELS = ROOT / "build" / "test-models"
HAS_TENSORFLOW = importlib.util.find_spec("tensorflow") is not None


def data_path() -> Path:
    """MNIST as the stages find it ($DIGIT_EDGE_DATA, then the offline copy)."""
    return mnist.resolve_data_path() or mnist.OFFLINE_COPY


@pytest.fixture(scope="session")
def mnist_data() -> mnist.Mnist:
    """The real MNIST (offline copy beside the checkout, or DIGIT_EDGE_DATA)."""
    path = data_path()
    if not path.exists():
        pytest.fail(f"MNIST not found at {path}: set DIGIT_EDGE_DATA to an mnist.npz or IDX folder")
    return mnist.load(path)


@pytest.fixture(scope="session")
def test_models(mnist_data: mnist.Mnist) -> Path:
    """Small real models, converted in every mode, with TensorFlow's golden outputs.

    Built once by the host environment (which has TensorFlow) into build/test-models and reused
    by the device-like environment, which cannot build them.
    """
    from tests import model_zoo  # imports TensorFlow lazily, only when it must build

    if model_zoo.is_current(TEST_MODELS):
        return TEST_MODELS
    if not HAS_TENSORFLOW:
        pytest.fail(
            f"{TEST_MODELS} is missing or stale and this environment has no TensorFlow to build "
            "it: run the host tests first (`make test` does)"
        )
    model_zoo.build(TEST_MODELS, mnist_data)
    return TEST_MODELS


@pytest.fixture(scope="session")
def golden(test_models: Path) -> dict[str, np.ndarray]:
    """Inputs and TensorFlow's reference outputs for every test model (see tests/model_zoo.py)."""
    with np.load(test_models / "golden.npz") as npz:
        return {k: npz[k] for k in npz.files}
