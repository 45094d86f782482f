"""The model wrapper every stage shares: load a ``.tflite``, feed it images, get probabilities.

The device, ``convert``'s evaluation and the benchmarks all call :class:`DigitClassifier`, so the
accuracy reported on the host is the accuracy the device gets. Images go in as float32 in [0, 1]
(white digit on black, 28x28) and are quantized here from the model's own tensor details.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.errors import ModelError
from edge.fileio import read_file
from edge.flatbuffer import Damaged, check_model
from edge.manifest import MNIST_LABELS, Manifest, check_matches, find_manifest
from edge.quantization import QuantParams, dequantize, quantize
from edge.quiet import captured_fds
from edge.runtime import Runtime, load_runtime

TFLITE_IDENTIFIER = b"TFL3"  # flatbuffer file identifier, bytes 4..8 of every .tflite
_ACCEPTED_INPUTS = ((28, 28), (28, 28, 1), (784,))  # per-image shapes a digit model may take
#: The most images :meth:`DigitClassifier.predict_pixels_many` gives one invoke (a frame's
#: digits; more go in chunks): each batch size seen keeps an interpreter, so at most this many.
MAX_PIXELS_BATCH = 16


@dataclass(frozen=True)
class ModelOptions:
    """How to load a model: which file, which interpreter (None: best available), how many threads.

    ``kernels`` picks the op resolver (see :data:`edge.runtime.KERNELS`): ``default`` is fastest,
    ``builtin``/``reference`` give results that match other runtime versions bit for bit.
    """

    path: Path
    runtime: str | None = None
    threads: int = 1
    batch_size: int = 256
    kernels: str = "default"


def check_tflite_file(path: Path) -> bytes:
    """Read a model file and make sure it is a TFLite flatbuffer before any interpreter sees it."""
    data = read_file(path, ModelError, what="model file")
    if len(data) < 8 or data[4:8] != TFLITE_IDENTIFIER:
        raise ModelError(f"{path}: not a TFLite model (no 'TFL3' flatbuffer identifier)")
    try:
        check_model(data)
    except Damaged as exc:
        raise ModelError(
            f"{path}: damaged or truncated TFLite model ({exc}; {len(data):,} bytes); copy it again"
        ) from None
    return data


class DigitClassifier:
    """A TFLite digit model: ``predict(images)`` for many images, ``predict_pixels`` for one.

    Both go through the interpreter's public API (``set_tensor``, ``invoke``, ``get_tensor``).
    """

    def __init__(self, options: ModelOptions, runtime: Runtime | None = None) -> None:
        self.options = options
        self.path = Path(options.path)
        self.model_bytes = check_tflite_file(self.path)
        self.runtime = runtime or load_runtime(options.runtime)
        self.manifest: Manifest | None = find_manifest(self.path)
        if self.manifest is not None:
            check_matches(self.manifest, self.path, self.model_bytes)
        self.labels: list[str] = list(self.manifest.labels if self.manifest else MNIST_LABELS)
        self.interpreter = self._load(batch=None)
        inputs, outputs = (
            self.interpreter.get_input_details(),
            self.interpreter.get_output_details(),
        )
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(
                f"{self.path}: expected one input and one output tensor, "
                f"found {len(inputs)} and {len(outputs)}"
            )
        self.input_details, self.output_details = inputs[0], outputs[0]
        self.input_shape = tuple(int(d) for d in self.input_details["shape"])
        if len(self.input_shape) < 2 or self.input_shape[1:] not in _ACCEPTED_INPUTS:
            raise ModelError(
                f"{self.path}: input shape {list(self.input_shape)} is not a 28x28 digit image "
                "(expected [N, 28, 28], [N, 28, 28, 1] or [N, 784])"
            )
        n_out = int(np.prod(self.output_details["shape"][1:]))
        if n_out != len(self.labels):
            raise ModelError(f"{self.path}: {n_out} outputs but {len(self.labels)} labels")
        self.input_params = QuantParams.from_details(self.input_details)
        self.output_params = QuantParams.from_details(self.output_details)
        #: Interpreters resized to each batch predict() and predict_pixels_many() have met
        #: (None: the graph's batch cannot be resized), made once each.
        self._by_batch: dict[int, Any] = {}
        #: Input value for each uint8 pixel 0..255 (pixel / 255, quantized as the model expects):
        #: one image is quantized by a lookup in it.
        self.pixel_table = quantize(np.arange(256, dtype=np.float32) / 255.0, self.input_params)

    def _load(self, batch: int | None) -> Any:
        """A new allocated interpreter for the model, its batch resized to ``batch`` if given."""
        try:
            interp = self.runtime.interpreter_class(
                model_content=self.model_bytes,
                num_threads=self.options.threads,
                **self.runtime.interpreter_kwargs(self.options.kernels),
            )
            if batch is not None:
                shape = list(interp.get_input_details()[0]["shape"])
                interp.resize_tensor_input(
                    interp.get_input_details()[0]["index"], [batch, *shape[1:]]
                )
            _allocate_quietly(interp)
        # What interpreters raise for a model they cannot load; MemoryError: a damaged tensor
        # shape asking for more than there is. tflite-runtime's messages span lines.
        except (ValueError, RuntimeError, MemoryError) as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__  # one line, not several
            if isinstance(exc, MemoryError):
                reason = f"its tensors need more memory than there is: {reason}"
            raise ModelError(
                f"{self.path}: {self.runtime.describe()} cannot load it ({reason})"
            ) from None
        return interp

    def to_input(self, images: np.ndarray) -> np.ndarray:
        """Float images (N, 28, 28) in [0, 1] -> the model's input tensor layout and dtype."""
        images = np.asarray(images, dtype=np.float32)
        batch = images.reshape((images.shape[0], *self.input_shape[1:]))
        return quantize(batch, self.input_params)

    def invoke(self, tensor: np.ndarray) -> np.ndarray:
        """Run the model on one input tensor (its own shape and dtype); return the raw output."""
        self.interpreter.set_tensor(self.input_details["index"], tensor)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output_details["index"])

    def predict_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Probabilities (10,) for one uint8 (28, 28) image: the device's single-image path."""
        tensor = cv2.LUT(pixels, self.pixel_table).reshape(1, -1)  # 2x numpy's table[pixels]
        if self.input_shape[0] != 1:  # a fixed batch: fill it with copies of the image
            tensor = np.broadcast_to(tensor, (self.input_shape[0], tensor.shape[1]))
        raw = self.invoke(tensor.reshape(self.input_shape))
        return dequantize(raw[0], self.output_params).reshape(-1)

    def predict_pixels_many(self, pixels: np.ndarray) -> np.ndarray:
        """Probabilities (N, 10) for uint8 (N, 28, 28) images, each as the single-image path
        reads it: N calls of :meth:`predict_pixels` give the same values. The table lookup and
        the dequantisation are done once for all of them; the invokes are one per image, or one
        for up to :data:`MAX_PIXELS_BATCH` where :meth:`_sized_for` has an interpreter of
        that batch (integer models whose batch convert freed: 13% less a digit at 6 for
        edgenet_int8 on tflite-runtime 2.14, docs/edge.md)."""
        tensors = cv2.LUT(pixels.reshape(len(pixels), -1), self.pixel_table)
        raw = np.empty((len(pixels), len(self.labels)), self.output_params.dtype)
        for start in range(0, len(pixels), MAX_PIXELS_BATCH):
            chunk = tensors[start : start + MAX_PIXELS_BATCH]
            raw[start : start + len(chunk)] = self._invoke_rows(chunk)
        return dequantize(raw, self.output_params)

    def _invoke_rows(self, tensors: np.ndarray) -> np.ndarray:
        """Raw outputs (N, 10) for N flat input tensors: one invoke of an interpreter resized
        to N where there is one, else one invoke each on the model's own interpreter."""
        in_index, out_index = self.input_details["index"], self.output_details["index"]
        sized = self._sized_for(len(tensors))
        if sized is not None:
            sized.set_tensor(in_index, tensors.reshape((len(tensors), *self.input_shape[1:])))
            sized.invoke()
            return sized.get_tensor(out_index).reshape(len(tensors), -1)
        set_input, invoke = self.interpreter.set_tensor, self.interpreter.invoke
        get_output = self.interpreter.get_tensor
        raw = np.empty((len(tensors), len(self.labels)), self.output_params.dtype)
        for i, tensor in enumerate(tensors):
            if self.input_shape[0] != 1:  # a fixed batch: fill it with copies of the image
                tensor = np.broadcast_to(tensor, (self.input_shape[0], tensor.shape[0]))
            set_input(in_index, tensor.reshape(self.input_shape))
            invoke()
            raw[i] = get_output(out_index)[0].reshape(-1)
        return raw

    def _sized_for(self, n: int) -> Any:
        """An interpreter resized to a batch of ``n``, made once per size; None where the
        images go one invoke each: one image; a float input (a batch is exact by construction
        only with integer kernels, and XNNPACK gains ~4% from it); a batch fixed in the graph."""
        if n == 1 or self.input_shape[0] != 1:
            return None
        if not np.issubdtype(self.input_params.dtype, np.integer):
            return None
        return self._of_batch(n)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Probabilities (N, 10) for float images (N, 28, 28) in [0, 1], in chunks of batch_size."""
        images = np.asarray(images, dtype=np.float32)
        if images.ndim == 2:
            images = images[None]
        step = max(self.options.batch_size, self.input_shape[0])
        batched = self._of_batch(step) if len(images) > self.input_shape[0] else None
        return self._run(images, batched or self.interpreter)

    def _run(self, images: np.ndarray, interp: Any) -> np.ndarray:
        """Probabilities for float images through ``interp``, a batch at a time; a short last
        batch is padded with zeros and the padding's outputs dropped (rows are independent).
        Images are converted batch_size at a time: one conversion of 10,000 images at once runs
        from memory, not cache, and costs as much as the whole int8 dense evaluation."""
        size = int(interp.get_input_details()[0]["shape"][0])
        in_index = interp.get_input_details()[0]["index"]
        out_index = interp.get_output_details()[0]["index"]
        chunk = max(size, self.options.batch_size) // size * size
        out = np.empty((len(images), len(self.labels)), dtype=np.float32)
        for begin in range(0, len(images), chunk):
            tensors = self.to_input(images[begin : begin + chunk])
            for start in range(0, len(tensors), size):
                part = tensors[start : start + size]
                n = len(part)
                if n < size:
                    pad = np.zeros((size - n, *part.shape[1:]), part.dtype)
                    part = np.concatenate([part, pad])
                interp.set_tensor(in_index, part)
                interp.invoke()
                raw = interp.get_tensor(out_index)[:n].reshape(n, -1)
                out[begin + start : begin + start + n] = dequantize(raw, self.output_params)
        return out

    def _of_batch(self, size: int) -> Any:
        """An interpreter resized to a batch of ``size``, made once per size; None where the
        graph has a fixed batch (the model's own interpreter then does the work)."""
        if size not in self._by_batch:
            resizable = all(interp is not None for interp in self._by_batch.values())
            self._by_batch[size] = self._resized(size) if resizable else None
        return self._by_batch[size]

    def _resized(self, size: int) -> Any:
        """A new interpreter resized to a batch of ``size`` and tried once, or None where the
        graph has a fixed batch (a RESHAPE to a batch of 1 refuses the resize)."""
        with contextlib.suppress(ModelError, ValueError, RuntimeError):
            interp = self._load(batch=size)
            probe = np.zeros((size, *self.input_shape[1:]), dtype=self.input_params.dtype)
            interp.set_tensor(interp.get_input_details()[0]["index"], probe)
            interp.invoke()
            if int(interp.get_output_details()[0]["shape"][0]) == size:
                return interp
        return None


def open_model(
    path: str | os.PathLike[str],
    *,
    runtime: str | None = None,
    threads: int = 1,
    kernels: str = "default",
) -> DigitClassifier:
    """Shorthand for ``DigitClassifier(ModelOptions(path, runtime, threads, kernels=kernels))``."""
    return DigitClassifier(
        ModelOptions(Path(path), runtime=runtime, threads=threads, kernels=kernels)
    )


DELEGATE_INFO = "INFO: Created TensorFlow Lite XNNPACK delegate"


def _allocate_quietly(interpreter: Any) -> None:
    """``allocate_tensors`` without the line both interpreters print on stderr when they load.

    Why: it writes ``DELEGATE_INFO`` whatever ``TF_CPP_MIN_LOG_LEVEL`` says, into every command's
    output. Anything else that reaches stderr meanwhile (another thread's warning) is passed on;
    a failure's reason travels in the exception it raises.
    """
    with captured_fds((2,)) as chatter:
        interpreter.allocate_tensors()
    kept = [line for line in chatter.text.splitlines(True) if not line.startswith(DELEGATE_INFO)]
    sys.stderr.write("".join(kept))
