"""Build the small real models the tests share: trained briefly on MNIST, converted in every mode.

Writes ``<dir>/<model>_<variant>.tflite`` for lenet and dense in float32, dynamic, float16, int8
(int8 I/O) and int8-uint8 (uint8 I/O), plus ``golden.npz``: the test inputs (first 500 MNIST test
images, float [0, 1]), each file's raw output from TensorFlow's own interpreter, and the Keras
probabilities. A stamp holds a hash of the code that made them, so edits rebuild them.

Golden keys: ``x``, ``y``, ``<model>_keras``, ``<model>_<variant>`` (TensorFlow's interpreter with
its default kernels: XNNPACK where it applies) and ``<model>_<variant>@<kernels>`` for each of
:data:`REFERENCE_KERNELS` (the same file run on TFLite's built-in or reference kernels, no
delegate). Why several: XNNPACK and the built-in kernels requantize int8 differently (float scale
vs fixed-point multiplier), so their int8 outputs differ by one step in a few percent of elements;
each runtime must match *the reference made with the same kernels* exactly (docs/edge.md).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from edge import mnist
from edge.fileio import atomic_path, atomic_write_bytes, atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("tests/model_zoo.py", "train/models.py", "convert/export.py", "convert/modes.py")
GOLDEN_COUNT = 500
#: (file variant, conversion mode, io dtype)
VARIANTS = (
    ("float32", "float32", "int8"),
    ("dynamic", "dynamic", "int8"),
    ("float16", "float16", "int8"),
    ("int8", "int8", "int8"),
    ("int8-uint8", "int8", "uint8"),
)
MODEL_NAMES = ("lenet", "dense")
#: Extra references: edge.runtime kernel name -> TensorFlow's OpResolverType member.
REFERENCE_KERNELS = {
    "builtin": "BUILTIN_WITHOUT_DEFAULT_DELEGATES",
    "reference": "BUILTIN_REF",
}


#: A valid TFLite file whose input is not a digit image (32x32x3): the edge must refuse it.
WRONG_SHAPE_FILE = "wrong_shape.tflite"
#: A valid digit model with a fixed batch of FIXED_BATCH that cannot be resized.
FIXED_BATCH_FILE = "fixed_batch.tflite"
FIXED_BATCH = 4


def golden_key(model: str, variant: str, kernels: str = "default") -> str:
    """The golden.npz key of a file's reference output computed with ``kernels``."""
    base = f"{model}_{variant}"
    return base if kernels == "default" else f"{base}@{kernels}"


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for rel in SOURCES:
        digest.update((ROOT / rel).read_bytes())
    return digest.hexdigest()


def is_current(out: Path) -> bool:
    stamp = out / "stamp.json"
    return stamp.is_file() and json.loads(stamp.read_text()).get("fingerprint") == _fingerprint()


def file_name(model: str, variant: str) -> str:
    return f"{model}_{variant}.tflite"


def build(out: Path, data: mnist.Mnist) -> None:
    import keras
    import tensorflow as tf

    from convert.export import convert
    from train.models import MODELS

    out.mkdir(parents=True, exist_ok=True)
    x_train = data.x_train[:8000].astype(np.float32) / 255.0
    y_train = data.y_train[:8000]
    x_gold = data.x_test[:GOLDEN_COUNT].astype(np.float32) / 255.0
    golden: dict[str, np.ndarray] = {"x": x_gold, "y": data.y_test[:GOLDEN_COUNT]}
    for name in MODEL_NAMES:
        keras.utils.set_random_seed(0)  # each model's weights independent of what ran before
        spec = MODELS[name]
        model = spec.build()
        model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
        shaped = x_train.reshape((-1, *spec.input_shape))
        model.fit(shaped, y_train, epochs=2, batch_size=128, verbose=0)
        golden[f"{name}_keras"] = model.predict(x_gold.reshape((-1, *spec.input_shape)), verbose=0)
        rep = shaped[:: len(shaped) // 200][:200]
        for variant, mode, io_dtype in VARIANTS:
            blob = convert(model, mode, representative=rep, io_dtype=io_dtype)
            path = out / file_name(name, variant)
            atomic_write_bytes(path, blob)
            golden[golden_key(name, variant)] = _reference_outputs(tf, blob, x_gold)
            for kernels, resolver in REFERENCE_KERNELS.items():
                golden[golden_key(name, variant, kernels)] = _reference_outputs(
                    tf, blob, x_gold, getattr(tf.lite.experimental.OpResolverType, resolver)
                )
    keras.utils.set_random_seed(0)
    wrong = keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")]
    )
    atomic_write_bytes(
        out / WRONG_SHAPE_FILE, tf.lite.TFLiteConverter.from_keras_model(wrong).convert()
    )
    # A digit model whose batch of 4 is baked into its reshape, so it cannot be resized.
    inputs = keras.Input((28, 28, 1), batch_size=FIXED_BATCH)
    hidden = keras.layers.Flatten()(keras.layers.Conv2D(2, 3)(inputs))
    fixed = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(hidden))
    atomic_write_bytes(
        out / FIXED_BATCH_FILE, tf.lite.TFLiteConverter.from_keras_model(fixed).convert()
    )
    with atomic_path(out / "golden.npz") as tmp:
        np.savez(tmp, **golden)
    atomic_write_text(out / "stamp.json", json.dumps({"fingerprint": _fingerprint()}))


def _reference_outputs(tf, blob: bytes, x: np.ndarray, op_resolver=None) -> np.ndarray:
    """Raw output tensors from TensorFlow's interpreter, one image at a time (the reference).

    ``op_resolver`` (a ``tf.lite.experimental.OpResolverType``) picks the kernels; None keeps
    the interpreter's default (XNNPACK where it applies).
    """
    kwargs = {} if op_resolver is None else {"experimental_op_resolver_type": op_resolver}
    interp = tf.lite.Interpreter(model_content=blob, num_threads=1, **kwargs)
    interp.allocate_tensors()
    inp, outp = interp.get_input_details()[0], interp.get_output_details()[0]
    scale, zero = inp["quantization"]
    rows = []
    for img in x:
        tensor = img.reshape(inp["shape"])
        if scale:
            info = np.iinfo(inp["dtype"])
            tensor = np.clip(np.rint(tensor / scale) + zero, info.min, info.max)
        interp.set_tensor(inp["index"], tensor.astype(inp["dtype"]))
        interp.invoke()
        rows.append(interp.get_tensor(outp["index"])[0].copy())
    return np.stack(rows)
