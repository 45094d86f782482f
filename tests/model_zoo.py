"""The tests' small real models: the one tiny-model factory, and the committed device fixture.

``train_tiny`` fits a registered (or any) Keras model briefly on MNIST; the convert tests use it
for their tiny artifacts, and this module's ``main`` uses it to make the fixture the edge tests
read from ``tests/fixtures/models/`` without TensorFlow:

- ``<model>_<variant>.tflite`` for the LeNet CNN (``train.models``) and a 784-8-10 MLP, in
  float32, dynamic, float16, int8 (int8 I/O) and int8-uint8 (uint8 I/O), made by
  ``convert.export.convert`` with each mode's default recipe;
- ``wrong_shape.tflite`` (a valid model whose input is not a digit image) and
  ``fixed_batch.tflite`` (a digit model whose batch of 4 cannot be resized);
- ``golden.npz``: ``x`` (uint8 28x28 digits made from OpenCV's fonts by ``edge.synth`` and
  normalised as the device does, never MNIST), ``y``, each file's raw outputs from TensorFlow's
  interpreter with its default kernels (``<model>_<variant>``) and with TFLite's built-in and
  reference kernels (``<model>_<variant>@<kernels>``), and the Keras probabilities.
  Why several references: XNNPACK and the built-in kernels requantize int8 differently, so each
  runtime must match the reference made with the same kernels (docs/edge.md).

Regenerate it (host environment: TensorFlow and MNIST) with::

    .venv/bin/python -m tests.model_zoo [--data PATH]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edge import mnist

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "models"
GOLDEN_FILE = "golden.npz"
GOLDEN_COUNT = 40
MODEL_NAMES = ("lenet", "mlp")
#: (file variant, conversion mode, io dtype)
VARIANTS = (
    ("float32", "float32", "int8"),
    ("dynamic", "dynamic", "int8"),
    ("float16", "float16", "int8"),
    ("int8", "int8", "int8"),
    ("int8-uint8", "int8", "uint8"),
)
#: Extra references: edge.runtime kernel name -> TensorFlow's OpResolverType member.
REFERENCE_KERNELS = {
    "builtin": "BUILTIN_WITHOUT_DEFAULT_DELEGATES",
    "reference": "BUILTIN_REF",
}
#: A valid TFLite file whose input is not a digit image (4x4x3): the edge must refuse it.
WRONG_SHAPE_FILE = "wrong_shape.tflite"
#: A valid digit model with a fixed batch of FIXED_BATCH that cannot be resized.
FIXED_BATCH_FILE = "fixed_batch.tflite"
FIXED_BATCH = 4


def file_name(model: str, variant: str) -> str:
    return f"{model}_{variant}.tflite"


def golden_key(model: str, variant: str, kernels: str = "default") -> str:
    """The golden.npz key of a file's reference output computed with ``kernels``."""
    base = f"{model}_{variant}"
    return base if kernels == "default" else f"{base}@{kernels}"


def build_mlp():
    """784 -> 8 ReLU -> 10 softmax: the dense graph kind, small enough to commit."""
    import keras

    return keras.Sequential(
        [
            keras.Input(shape=(784,), name="image"),
            keras.layers.Dense(8, activation="relu", name="hidden"),
            keras.layers.Dense(10, activation="softmax", name="probs"),
        ],
        name="mlp",
    )


def train_tiny(
    build: Callable[[], Any],
    data: mnist.Mnist,
    *,
    images: int,
    epochs: int,
    seed: int,
    batch_size: int = 128,
):
    """``build()`` fitted for ``epochs`` on the first ``images`` MNIST training images; the
    seed is set first, so the weights do not depend on what ran before."""
    import keras

    keras.utils.set_random_seed(seed)
    model = build()
    shape = tuple(model.inputs[0].shape[1:])
    x = data.x_train[:images].astype(np.float32).reshape((-1, *shape)) / 255.0
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(x, data.y_train[:images], epochs=epochs, batch_size=batch_size, verbose=0)
    return model


def convert_variants(model, data: mnist.Mnist) -> dict[str, bytes]:
    """``model`` converted as each of :data:`VARIANTS`, calibrated on 200 training images."""
    from convert.export import convert

    shape = tuple(model.inputs[0].shape[1:])
    rep = data.x_train[:8000:40].astype(np.float32).reshape((-1, *shape)) / 255.0
    return {
        variant: convert(model, mode, representative=rep, io_dtype=io_dtype)
        for variant, mode, io_dtype in VARIANTS
    }


def golden_digits(count: int = GOLDEN_COUNT, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 28x28 digits from OpenCV's fonts on synthetic paper, normalised by the edge."""
    from edge import synth
    from edge.normalize import normalize

    x, y = [], []
    for sample in synth.font_set(count * 2, seed=seed):
        image = normalize(sample.image).image
        if image is not None:
            x.append(np.rint(image * 255).astype(np.uint8))
            y.append(sample.label)
        if len(x) == count:
            break
    return np.stack(x), np.asarray(y, np.uint8)


def reference_outputs(blob: bytes, x: np.ndarray, op_resolver=None) -> np.ndarray:
    """Raw output tensors from TensorFlow's interpreter, one image at a time (the reference);
    ``op_resolver`` (a ``tf.lite.experimental.OpResolverType``) picks the kernels."""
    import tensorflow as tf

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


def golden_outputs(name: str, variant: str, blob: bytes, x: np.ndarray) -> dict[str, np.ndarray]:
    """One file's references: default kernels, then each of :data:`REFERENCE_KERNELS`."""
    import tensorflow as tf

    out = {golden_key(name, variant): reference_outputs(blob, x)}
    for kernels, resolver in REFERENCE_KERNELS.items():
        op_resolver = getattr(tf.lite.experimental.OpResolverType, resolver)
        out[golden_key(name, variant, kernels)] = reference_outputs(blob, x, op_resolver)
    return out


def odd_models() -> dict[str, bytes]:
    """The two files the edge must handle specially: a wrong input shape, a fixed batch."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    wrong = keras.Sequential(
        [keras.Input((4, 4, 3)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")]
    )
    # a digit model whose batch of 4 is baked into its reshape, so it cannot be resized
    inputs = keras.Input((28, 28, 1), batch_size=FIXED_BATCH)
    hidden = keras.layers.Flatten()(keras.layers.Conv2D(1, 4, strides=4)(inputs))
    fixed = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(hidden))
    convert = tf.lite.TFLiteConverter.from_keras_model
    return {
        WRONG_SHAPE_FILE: bytes(convert(wrong).convert()),
        FIXED_BATCH_FILE: bytes(convert(fixed).convert()),
    }


def build_fixture(out: Path, data: mnist.Mnist) -> None:
    """Write every fixture file into ``out`` (see the module docstring)."""
    from edge.fileio import atomic_path, atomic_write_bytes
    from train.models import MODELS

    out.mkdir(parents=True, exist_ok=True)
    x_uint8, y = golden_digits()
    x = x_uint8.astype(np.float32) / 255.0
    golden: dict[str, np.ndarray] = {"x": x_uint8, "y": y}
    builders = {"lenet": MODELS["lenet"].build, "mlp": build_mlp}
    for name in MODEL_NAMES:
        model = train_tiny(builders[name], data, images=8000, epochs=2, seed=0)
        shape = tuple(model.inputs[0].shape[1:])
        golden[f"{name}_keras"] = model.predict(x.reshape((-1, *shape)), verbose=0)
        for variant, blob in convert_variants(model, data).items():
            atomic_write_bytes(out / file_name(name, variant), blob)
            golden.update(golden_outputs(name, variant, blob, x))
    for file, blob in odd_models().items():
        atomic_write_bytes(out / file, blob)
    with atomic_path(out / GOLDEN_FILE) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **golden)


def main() -> None:
    parser = argparse.ArgumentParser(description="Regenerate the edge tests' fixture models.")
    parser.add_argument("--data", help="MNIST npz or IDX folder [default: as the stages find it]")
    parser.add_argument("--out", type=Path, default=FIXTURES)
    args = parser.parse_args()
    path = mnist.resolve_data_path(args.data)
    if path is None:
        parser.error("MNIST not found: pass --data or set DIGIT_EDGE_DATA")
    build_fixture(args.out, mnist.load(path))
    total = sum(p.stat().st_size for p in args.out.iterdir())
    print(f"wrote {len(list(args.out.iterdir()))} files, {total:,} bytes, to {args.out}")


if __name__ == "__main__":
    main()
