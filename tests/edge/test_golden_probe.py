"""Temporary smoke check of the shared fixtures; replaced by the edge test suite."""

import numpy as np

from edge.model import open_model
from tests import model_zoo


def test_int8_matches_tensorflow_exactly(test_models, golden):
    for name in model_zoo.MODEL_NAMES:
        model = open_model(test_models / model_zoo.file_name(name, "int8"))
        raw = model.to_input(golden["x"])
        outs = np.stack([model.invoke(raw[i : i + 1])[0] for i in range(len(raw))])
        np.testing.assert_array_equal(outs, golden[f"{name}_int8"])
