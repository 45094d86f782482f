"""The device runtime imports no TensorFlow, and the device-like environment has none to import."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from edge.runtime import RUNTIME_NAMES, load_runtime
from tests.conftest import HAS_TENSORFLOW
from tests.edge.helpers import DEVICE_ENV, ROOT

EDGE_MODULES = (
    "edge", "edge.cli", "edge.camera", "edge.pipeline", "edge.normalize", "edge.imageio",
    "edge.model", "edge.runtime", "edge.bench", "edge.evaluate", "edge.synth", "edge.mnist",
)  # fmt: skip


@pytest.mark.skipif(not DEVICE_ENV, reason="only the device-like environment lacks TensorFlow")
def test_tensorflow_is_not_importable_in_the_device_environment():
    assert not HAS_TENSORFLOW
    with pytest.raises(ImportError):
        importlib.import_module("tensorflow")


def test_device_environment_has_the_pi_versions():
    import numpy as np

    runtime = load_runtime()
    if DEVICE_ENV:
        assert runtime.name == "tflite-runtime" and runtime.version == "2.14.0"
        assert np.__version__.startswith("1.24")
    else:
        assert runtime.name == "ai-edge-litert"


def test_edge_imports_no_tensorflow_and_no_other_stage():
    code = (
        "import sys\n"
        f"for m in {EDGE_MODULES!r}: __import__(m)\n"
        "from edge.runtime import load_runtime; load_runtime()\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'train', 'convert'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == ""


def test_runtime_table_order():
    assert RUNTIME_NAMES == ("tflite-runtime", "ai-edge-litert", "tensorflow")


@pytest.mark.skipif(not HAS_TENSORFLOW, reason="the last-resort runtime needs TensorFlow")
def test_tensorflow_last_resort_runtime_loads_and_reads(test_models, golden):
    from edge.model import open_model
    from tests import model_zoo

    model = open_model(test_models / model_zoo.file_name("lenet", "int8"), runtime="tensorflow")
    assert model.runtime.name == "tensorflow"
    tensors = model.to_input(golden["x"][:20])
    got = [model.invoke(tensors[i : i + 1])[0] for i in range(20)]
    assert (golden["lenet_int8"][:20] == got).all()  # TF's own interpreter: the reference itself


def test_a_missing_runtime_asked_for_by_name_names_its_own_package():
    """`.[edge]` installs whichever interpreter suits this Python and NumPy, not always the
    one asked for, so the hint names the package of the runtime that is missing."""
    from edge.errors import RuntimeNotFound

    for name in RUNTIME_NAMES:
        try:
            load_runtime(name)
        except RuntimeNotFound as exc:
            assert f"`pip install {name}`" in str(exc) and f"{name}: " in str(exc)
            return
    pytest.skip("every runtime imports here")
