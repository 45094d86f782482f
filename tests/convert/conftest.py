"""Fixtures for the convert tests: tiny real models (tests/model_zoo.py trains them in seconds),
their conversions by this checkout's code, and one stage run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests import model_zoo
from tests.conftest import HAS_TENSORFLOW

if not HAS_TENSORFLOW:  # the convert stage lives on the host; .venv-edge only runs tests/edge
    pytest.skip("the convert tests need TensorFlow (host environment)", allow_module_level=True)

EDGE_PYTHON = Path(__file__).resolve().parents[2] / ".venv-edge" / "bin" / "python"
TINY_MODELS = ("lenet", "dense")


@pytest.fixture(scope="session")
def tiny_artifacts(tmp_path_factory, mnist_data) -> Path:
    """``artifacts/models/{lenet,dense}.keras`` + metrics, trained for one epoch on 4,000 images;
    lenet calibrated as ``digit-train`` does (on 500 held-out images), dense not."""
    from train.calibration import calibrate
    from train.models import MODELS

    root = tmp_path_factory.mktemp("artifacts")
    models = root / "models"
    models.mkdir()
    for name in TINY_MODELS:
        model = model_zoo.train_tiny(
            MODELS[name].build, mnist_data, images=4000, epochs=1, seed=1, batch_size=64
        )
        model.save(models / f"{name}.keras")
        # as train.artifacts.metrics writes them
        meta = {"seed": 1, "test_accuracy": None, "data": {"sha256": mnist_data.sha256}}
        if name == "lenet":
            x_val = mnist_data.x_train[-500:].astype(np.float32) / 255.0
            meta["calibration"] = calibrate(model, x_val, mnist_data.y_train[-500:]).as_dict()
        (models / f"{name}.metrics.json").write_text(json.dumps(meta))
    return root


@pytest.fixture(scope="session")
def tiny_keras(tiny_artifacts) -> dict:
    """The tiny Keras models, loaded."""
    import keras

    return {
        name: keras.models.load_model(tiny_artifacts / "models" / f"{name}.keras")
        for name in TINY_MODELS
    }


@pytest.fixture(scope="session")
def converted(tiny_keras, mnist_data, tmp_path_factory) -> Path:
    """Each tiny model in every one of model_zoo.VARIANTS, converted by this checkout's code."""
    out = tmp_path_factory.mktemp("converted")
    for name, model in tiny_keras.items():
        for variant, blob in model_zoo.convert_variants(model, mnist_data).items():
            (out / model_zoo.file_name(name, variant)).write_bytes(blob)
    return out


@pytest.fixture(scope="session")
def stage_run(tiny_artifacts, tmp_path_factory):
    """One full run of the stage on the tiny models (fewer timing repetitions than the default)."""
    from convert.pipeline import StageOptions, run

    root = tmp_path_factory.mktemp("stage") / "artifacts"
    shutil.copytree(tiny_artifacts, root)
    opts = StageOptions(artifacts=root, representative=200, latency_reps=100, keras_reps=10)
    return opts, run(opts)


@pytest.fixture
def artifacts_copy(tiny_artifacts, tmp_path) -> Path:
    """A private copy of the tiny artifacts a test may damage."""
    dest = tmp_path / "artifacts"
    shutil.copytree(tiny_artifacts, dest)
    return dest
