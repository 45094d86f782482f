"""Keras model -> TFLite flatbuffer bytes, for one quantization mode."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import tensorflow as tf

from convert.modes import MODES


def convert(
    model: tf.keras.Model,
    mode: str,
    representative: np.ndarray | None = None,
    io_dtype: str = "int8",
) -> bytes:
    """Convert ``model`` in ``mode``; ``representative`` (float images in the model's input
    layout, from the training set) is required for int8."""
    spec = MODES[mode]
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode in ("dynamic", "float16", "int8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if spec.needs_representative_data:
        if representative is None or len(representative) == 0:
            raise ValueError("int8 conversion needs a non-empty representative dataset")

        def samples() -> Iterator[list[np.ndarray]]:
            for x in representative:
                yield [np.asarray(x, dtype=np.float32)[None]]

        converter.representative_dataset = samples
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.dtypes.as_dtype(io_dtype)
        converter.inference_output_type = tf.dtypes.as_dtype(io_dtype)
    return converter.convert()
