"""Keras model -> TFLite flatbuffer bytes, for one quantization mode, shaped for the device.

What differs from the tutorials' ``TFLiteConverter.from_keras_model(model)``:

- **Static batch of 1.** Keras 3 models have a dynamic batch dimension, so the CNN's Flatten
  becomes SHAPE/STRIDED_SLICE/PACK/RESHAPE; XNNPACK cannot take shape arithmetic and splits the
  graph in two. A clone with ``batch_shape=(1, ...)`` converts to a plain RESHAPE and is delegated
  whole. The device classifies one image at a time; evaluation loops (or resizes, where the graph
  allows it).
- **Per-tensor weights in dynamic-range dense layers.** TF 2.21 quantizes dense weights per
  channel in dynamic-range mode, which needs FULLY_CONNECTED version 12; tflite-runtime 2.14 (the
  last release, what Raspberry Pi OS users install) stops at version 11 and refuses the file.
  Per-tensor dense weights keep version 9. See docs/convert.md for the accuracy cost.
- **BatchNorm folded into the convolution before it.** The LeNet CNN (train/models.py) puts
  BatchNorm *after* MaxPool, where the converter cannot fold it: it stays as MUL + ADD, two more
  int8 requantization steps per block. A per-channel affine with a positive scale commutes with
  max, so ``BN(maxpool(conv(x))) == maxpool(conv'(x))`` with the BN folded into ``conv'``: the
  same function (float outputs within 1e-5), fewer ops, a smaller file, fewer int8 disagreements.
- **Cross-layer equalization for dynamic-range.** Per-tensor dense weights lose precision when
  one row is much larger than the rest. ReLU and max-pooling commute with a positive per-channel
  scale, so each channel can be scaled down in one layer and up in the next without changing the
  function (Nagel et al. 2019, "Data-Free Quantization"); balancing the ranges recovers what
  per-channel quantization gave. A recipe of the dynamic-range mode only (docs/convert.md:
  it does not help int8).
- **A free batch for integer files.** The static batch leaves a RESHAPE to ``[1, n]``, which
  refuses ``resize_tensor_input``. In the full-integer files its 1 becomes -1
  (:func:`free_batch`): the same graph for one image, bit for bit, and the edge can invoke all
  of a frame's digits at once, each row read exactly as alone (integer kernels), 13% less a
  digit at 6 for edgenet on tflite-runtime 2.14 (docs/edge.md). Float files keep the 1: XNNPACK
  gains little from a batch, and their evaluation stays one image per invoke.
- **Names stripped.** Tensor names, the model description and the (then nameless) signature are
  dropped; the input and output tensors are renamed ``image`` / ``probabilities``. That is
  ~1.2 kB of a 10 kB int8 CNN. Nothing the interpreter needs is touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from convert.errors import ConvertError
from convert.modes import IO_DTYPES, MODES, QuantMode, Recipe

INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"


def with_static_batch(model, batch: int = 1):
    """A clone of ``model`` whose input has a fixed batch dimension, sharing no state with it."""
    import keras

    shape = tuple(model.inputs[0].shape[1:])
    inp = keras.Input(batch_shape=(batch, *shape), name=INPUT_NAME)
    clone = keras.models.clone_model(model, input_tensors=inp)
    clone.set_weights(model.get_weights())
    return clone


#: One step of a layer walk: ``step(layers, i)`` returns the layers (each with its weights, or
#: None) that replace ``layers[i:i + consumed]`` and ``consumed``, or None to keep ``layers[i]``.
Step = Callable[[list, int], "tuple[list[tuple[object, list[np.ndarray] | None]], int] | None"]


def rewrite_layers(model, step: Step):
    """A copy of a Sequential model with ``step`` applied along its layers, and how many times
    it rewrote something; ``(model, 0)`` itself when nothing changes or it is not Sequential."""
    import keras

    if not isinstance(model, keras.Sequential):
        return model, 0
    src = list(model.layers)
    plan: list[tuple[object, list[np.ndarray] | None]] = []
    changed, i = 0, 0
    while i < len(src):
        hit = step(src, i)
        if hit is None:
            plan.append(_copy(src[i]))
            i += 1
            continue
        replacement, consumed = hit
        plan += replacement
        changed += 1
        i += consumed
    if not changed:
        return model, 0
    return _rebuild(model, plan), changed


def _copy(layer) -> tuple[object, list[np.ndarray]]:
    return layer.__class__.from_config(layer.get_config()), layer.get_weights()


def fold_batchnorm(model):
    """A copy of a Sequential model with each BatchNormalization folded into the Conv2D before
    it, directly or across a MaxPooling2D when every folded scale is positive (max commutes with
    an increasing affine map). Returns ``(model, folded_count)``."""
    from keras import layers as kl

    def step(src: list, i: int):
        layer = src[i]
        if not (isinstance(layer, kl.Conv2D) and layer.get_config().get("activation") == "linear"):
            return None
        gap = 1 if i + 1 < len(src) and isinstance(src[i + 1], kl.MaxPooling2D) else 0
        j = i + 1 + gap
        if j >= len(src) or not isinstance(src[j], kl.BatchNormalization):
            return None
        fold = _fold(layer, src[j], need_positive=bool(gap))
        if fold is None:
            return None
        conv = kl.Conv2D.from_config({**layer.get_config(), "use_bias": True})
        pool = [(kl.MaxPooling2D.from_config(src[i + 1].get_config()), None)] if gap else []
        return [(conv, fold), *pool], 2 + gap

    return rewrite_layers(model, step)


def relu_before_pool(model):
    """A copy of a Sequential model with each ``MaxPooling2D → ReLU`` swapped to ``ReLU →
    MaxPooling2D``: the same function (ReLU is monotone, so it commutes with max), but the
    converter then fuses the ReLU into the convolution before it, and int8 calibration sees that
    convolution's output only from 0 up instead of its negative half too (docs/convert.md has
    the step sizes). Returns ``(model, swaps)``."""
    from keras import layers as kl

    def step(src: list, i: int):
        if isinstance(src[i], kl.MaxPooling2D) and i + 1 < len(src) and _is_plain_relu(src[i + 1]):
            return [_copy(src[i + 1]), _copy(src[i])], 2
        return None

    return rewrite_layers(model, step)


def dense_as_conv(model):
    """A copy of a Sequential model with each ``Flatten → Dense`` that reads a (h, w, c) feature
    map replaced by ``Conv2D(units, (h, w), "valid") → Flatten`` (then the Dense's activation):
    the same sums in the same order of weights (Flatten is row-major h, w, c, which is the conv
    kernel's layout), so the same function. What changes is how dynamic-range quantization treats
    the weights: a convolution's are quantized per output channel (``CONV_2D`` v5, which
    tflite-runtime 2.14 runs), a dense layer's per tensor (``FULLY_CONNECTED`` v9; per channel
    would be v12, which it refuses). Returns ``(model, replaced)``."""
    from keras import layers as kl

    def step(src: list, i: int):
        layer = src[i]
        nxt = src[i + 1] if i + 1 < len(src) else None
        if not (
            isinstance(layer, kl.Flatten)
            and isinstance(nxt, kl.Dense)
            and len(layer.input.shape) == 4
            and None not in tuple(layer.input.shape[1:])
        ):
            return None
        h, w, c = (int(d) for d in layer.input.shape[1:])
        kernel, *bias = nxt.get_weights()
        units = kernel.shape[1]
        cfg = nxt.get_config()
        conv = kl.Conv2D(
            units, (h, w), padding="valid", use_bias=bool(bias), name=f"{nxt.name}_conv"
        )
        plan = [
            (conv, [kernel.reshape(h, w, c, units), *bias]),
            (kl.Flatten(name=layer.name), None),
        ]
        if cfg.get("activation") not in (None, "linear"):
            plan.append((kl.Activation(cfg["activation"], name=f"{nxt.name}_act"), None))
        return plan, 2

    return rewrite_layers(model, step)


def _rebuild(model, plan: list) -> object:
    """A Sequential copy of ``model`` from ``(new layer, weights or None)`` pairs, in order."""
    import keras

    clone = keras.Sequential(
        [keras.Input(shape=tuple(model.inputs[0].shape[1:]), name=INPUT_NAME)]
        + [layer for layer, _ in plan],
        name=model.name,
    )
    for layer, weights in plan:
        if weights:
            layer.set_weights(weights)
    return clone


def equalize(model, iterations: int = 3):
    """A copy of a Sequential model with weight ranges balanced across each pair of layers
    joined by ReLU / MaxPooling2D / Flatten (the function is unchanged: both commute with a
    positive per-channel scale). Returns ``(model, pairs)``; the model itself when none."""
    import keras
    from keras import layers as kl

    if not isinstance(model, keras.Sequential):
        return model, 0
    layers = list(model.layers)
    pairs = []
    for i, first in enumerate(layers):
        if not isinstance(first, kl.Conv2D | kl.Dense):
            continue
        if first.get_config().get("activation") not in ("linear", "relu"):
            continue
        flatten_channels = None
        for j in range(i + 1, len(layers)):
            layer = layers[j]
            if isinstance(layer, kl.MaxPooling2D) or _is_plain_relu(layer):
                continue
            if isinstance(layer, kl.Flatten):
                flatten_channels = int(layer.input.shape[-1])
                continue
            if isinstance(layer, kl.Conv2D | kl.Dense) and (
                first.get_config().get("activation") == "relu"
                or any(_is_plain_relu(x) for x in layers[i + 1 : j])
            ):
                pairs.append((i, j, flatten_channels))
            break
    if not pairs:
        return model, 0
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    layers = list(clone.layers)
    for _ in range(iterations):
        for i, j, flat in pairs:
            w1, *b1 = layers[i].get_weights()
            w2, *b2 = layers[j].get_weights()
            channels = w1.shape[-1]
            r1 = np.abs(w1).reshape(-1, channels).max(axis=0)
            r2 = _input_ranges(w2, conv=isinstance(layers[j], kl.Conv2D), flat=flat)
            s = np.where((r1 > 0) & (r2 > 0), np.sqrt(r1 / np.maximum(r2, 1e-12)), 1.0)
            s = s.astype(np.float32)
            layers[i].set_weights([w1 / s, *(b / s for b in b1)])
            layers[j].set_weights(
                [_scale_inputs(w2, s, conv=isinstance(layers[j], kl.Conv2D), flat=flat), *b2]
            )
    return clone, len(pairs)


def _input_ranges(w: np.ndarray, *, conv: bool, flat: int | None) -> np.ndarray:
    """Largest |weight| per input channel of a Conv2D (h, w, in, out) or Dense (in, out) kernel;
    after a Flatten of (..., flat) channels, row r of the Dense kernel is channel r % flat."""
    if conv:
        return np.abs(w).max(axis=(0, 1, 3))
    if flat:
        return np.abs(w).reshape(-1, flat, w.shape[-1]).max(axis=(0, 2))
    return np.abs(w).max(axis=1)


def _scale_inputs(w: np.ndarray, s: np.ndarray, *, conv: bool, flat: int | None) -> np.ndarray:
    """Multiply each input channel's weights by its scale (layout as in :func:`_input_ranges`)."""
    if conv:
        return w * s[None, None, :, None]
    if flat:
        return (w.reshape(-1, flat, w.shape[-1]) * s[None, :, None]).reshape(w.shape)
    return w * s[:, None]


def _is_plain_relu(layer) -> bool:
    from keras import layers as kl

    if isinstance(layer, kl.ReLU):
        cfg = layer.get_config()
        return (
            cfg.get("max_value") is None
            and not cfg.get("negative_slope")
            and not cfg.get("threshold")
        )
    return isinstance(layer, kl.Activation) and layer.get_config().get("activation") == "relu"


def _fold(conv, bn, *, need_positive: bool) -> list[np.ndarray] | None:
    """Conv2D weights with ``bn`` folded in, or None when it cannot be (axis, sign)."""
    cfg = bn.get_config()
    if cfg.get("axis") not in (-1, [-1], 3, [3]):
        return None
    weights = {w.path.rsplit("/", 1)[-1]: np.asarray(w) for w in bn.weights}
    channels = int(conv.get_config()["filters"])
    gamma = weights.get("gamma", np.ones(channels, np.float32))
    beta = weights.get("beta", np.zeros(channels, np.float32))
    scale = gamma / np.sqrt(weights["moving_variance"] + cfg["epsilon"])
    if need_positive and not np.all(scale > 0):
        return None
    kernel, *rest = (np.asarray(w) for w in conv.get_weights())
    bias = rest[0] if rest else np.zeros(channels, np.float32)
    return [
        (kernel * scale).astype(np.float32),
        ((bias - weights["moving_mean"]) * scale + beta).astype(np.float32),
    ]


def has_dense_on_feature_map(model) -> bool:
    """Whether :func:`dense_as_conv` has a layer to rewrite in ``model`` (after the BatchNorm
    folding and ReLU reordering every recipe does first)."""
    return dense_as_conv(relu_before_pool(fold_batchnorm(model)[0])[0])[1] > 0


def applies(recipe: Recipe, model) -> bool:
    """A recipe that turns a dense layer into a convolution needs one to turn."""
    return not recipe.conv_dense or has_dense_on_feature_map(model)


def default_recipe(mode: str, model) -> Recipe:
    """The first of the mode's recipes that applies to ``model``."""
    return next(r for _, r in MODES[mode].recipes if applies(r, model))


def rewrite(model, recipe: Recipe):
    """The graph the converter sees: BatchNorm folded, ReLU before MaxPool, then the recipe's
    rewrites (all keep the function), with a static batch of 1."""
    source = relu_before_pool(fold_batchnorm(model)[0])[0]
    if recipe.conv_dense:
        source = dense_as_conv(source)[0]
    if recipe.equalize:
        source = equalize(source)[0]
    return with_static_batch(source)


def calibration_batches(model, representative: np.ndarray | None) -> np.ndarray:
    """Representative images as batches of one in ``model``'s input layout; int8 needs some."""
    if representative is None or len(representative) == 0:
        raise ConvertError("int8 conversion needs a non-empty representative dataset")
    shape = tuple(model.inputs[0].shape[1:])
    return np.asarray(representative, dtype=np.float32).reshape((-1, 1, *shape))


def converter_for(source, spec: QuantMode, representative: np.ndarray | None, io_dtype: str):
    """A ``TFLiteConverter`` for the Keras model ``source`` set up as ``spec`` says."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(source)
    if spec.optimize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if spec.per_tensor_dense:
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    if spec.float16_weights:
        converter.target_spec.supported_types = [tf.float16]
    if spec.needs_representative_data:
        rep = calibration_batches(source, representative)

        def samples() -> Iterator[list[np.ndarray]]:
            for x in rep:
                yield [x]

        converter.representative_dataset = samples
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.dtypes.as_dtype(io_dtype)
        converter.inference_output_type = tf.dtypes.as_dtype(io_dtype)
    return converter


def convert(
    model,
    mode: str,
    representative: np.ndarray | None = None,
    io_dtype: str = "int8",
    recipe: Recipe | None = None,
) -> bytes:
    """Convert ``model`` in ``mode`` the way ``recipe`` says (default: :func:`default_recipe`);
    ``representative`` (float images in the model's input layout, from the training set) is
    required for int8. The file's tensor names are stripped (:func:`strip_names`); an integer
    file's batch is freed (:func:`free_batch`)."""
    import tensorflow as tf

    if mode not in MODES:
        raise ConvertError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    if io_dtype not in IO_DTYPES:
        choices = ", ".join(IO_DTYPES)
        raise ConvertError(f"unknown int8 I/O type {io_dtype!r}; choose from {choices}")
    spec, recipe = MODES[mode], recipe or default_recipe(mode, model)
    source = rewrite(model, recipe)
    blob = bytes(converter_for(source, spec, representative, io_dtype).convert())
    if spec.needs_representative_data and recipe.refine:
        from convert.ptq import refine_int8

        twin = tf.lite.TFLiteConverter.from_keras_model(source).convert()
        rep = calibration_batches(source, representative)
        blob = refine_int8(blob, bytes(twin), rep, rounding=recipe.rounding)[0]
    if spec.integer_io:
        blob = free_batch(blob)
    return strip_names(blob)


def free_batch(blob: bytes) -> bytes:
    """The file with each RESHAPE to a constant shape that starts with the batch of 1 reshaping
    to -1 there instead: one image runs exactly as before, and the input can be resized to a
    batch (the module docstring says why only integer files)."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(blob))
    for subgraph in model.subgraphs:
        for op in subgraph.operators:
            code = model.operatorCodes[op.opcodeIndex].builtinCode
            if code != schema.BuiltinOperator.RESHAPE or len(op.inputs) < 2:
                continue
            buffer = model.buffers[subgraph.tensors[op.inputs[1]].buffer]
            if buffer.data is None:  # a shape computed in the graph: nothing static to free
                continue
            shape = np.frombuffer(bytes(buffer.data), np.int32).copy()
            if shape.size and shape[0] == 1:
                shape[0] = -1
                buffer.data = np.frombuffer(shape.tobytes(), np.uint8)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def strip_names(blob: bytes) -> bytes:
    """Drop non-essential strings (TensorFlow's ``flatbuffer_utils.strip_strings``), then name
    the input and output tensors so a person inspecting the file still sees what is what."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(blob))
    flatbuffer_utils.strip_strings(model)
    for subgraph in model.subgraphs:
        for index in subgraph.inputs:
            subgraph.tensors[index].name = INPUT_NAME
        for index in subgraph.outputs:
            subgraph.tensors[index].name = OUTPUT_NAME
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def balanced_sample(y: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """Indices of ``count`` images with labels ``y``, drawn evenly across the classes present
    (the remainder spread over the first classes), without replacement, reproducibly."""
    if count <= 0:
        raise ConvertError(f"representative set size must be positive, got {count}")
    classes = np.unique(y)
    if len(classes) == 0:
        raise ConvertError("representative set is empty: no training images")
    rng = np.random.default_rng(seed)
    per, extra = divmod(count, len(classes))
    picks = []
    for i, c in enumerate(classes):
        pool = np.flatnonzero(y == c)
        want = min(per + (1 if i < extra else 0), len(pool))
        picks.append(rng.choice(pool, size=want, replace=False))
    idx = np.concatenate(picks)
    rng.shuffle(idx)  # calibration sees the classes interleaved, not in blocks
    return idx
