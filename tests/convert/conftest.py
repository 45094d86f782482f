"""Fixtures for the convert tests: tiny real models, trained in seconds, and one stage run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import HAS_TENSORFLOW

if not HAS_TENSORFLOW:  # the convert stage lives on the host; .venv-edge only runs tests/edge
    pytest.skip("the convert tests need TensorFlow (host environment)", allow_module_level=True)

EDGE_PYTHON = Path(__file__).resolve().parents[2] / ".venv-edge" / "bin" / "python"


@pytest.fixture(scope="session")
def tiny_artifacts(tmp_path_factory, mnist_data) -> Path:
    """``artifacts/models/{lenet,dense}.keras`` + metrics, trained for one epoch on 4,000 images."""
    import keras

    from train.models import MODELS

    root = tmp_path_factory.mktemp("artifacts")
    models = root / "models"
    models.mkdir()
    keras.utils.set_random_seed(1)
    x = mnist_data.x_train[:4000].astype(np.float32) / 255.0
    y = mnist_data.y_train[:4000]
    for name in ("lenet", "dense"):
        spec = MODELS[name]
        model = spec.build()
        model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
        model.fit(x.reshape((-1, *spec.input_shape)), y, epochs=1, batch_size=64, verbose=0)
        model.save(models / f"{name}.keras")
        meta = {"seed": 1, "test_accuracy": None, "data_sha256": mnist_data.sha256}
        (models / f"{name}.metrics.json").write_text(json.dumps(meta))
    return root


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
