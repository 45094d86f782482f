"""Run converted files through the edge runtime (the device's own code) and the Keras model.

Every TFLite number in the report comes from :class:`edge.model.DigitClassifier`: its input
quantization, its interpreter choice, its output dequantization.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from convert.errors import ConvertError
from edge.model import open_model

#: Batched and one-at-a-time outputs of one file come from the same kernels; only the order of
#: float sums can differ. Labels must agree exactly, probabilities this closely.
SINGLE_VS_BATCH_TOLERANCE = 1e-4


@dataclass
class FileEval:
    """One file's predictions on the test set and how they were obtained."""

    path: Path
    probs: np.ndarray
    seconds: float  # wall time of the batched pass over every test image
    runtime: str
    input: dict
    output: dict
    single_check: dict = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return len(self.probs) / self.seconds if self.seconds > 0 else float("nan")


def tensor_info(details: dict) -> dict:
    """The input/output facts a manifest and a deployer need."""
    scale, zero_point = details.get("quantization", (0.0, 0))
    return {
        "shape": [int(d) for d in details["shape"]],
        "dtype": np.dtype(details["dtype"]).name,
        "scale": float(scale),
        "zero_point": int(zero_point),
        "quantized": bool(scale),
    }


def evaluate_file(
    path: Path, x_test: np.ndarray, *, runtime: str | None = None, check_images: int = 10_000
) -> FileEval:
    """Predict every test image in batches, then check the first ``check_images`` one at a time
    through the device's single-image path (``predict_pixels``)."""
    clf = open_model(path, runtime=runtime)
    clf.predict(x_test[:8])  # build the batched interpreter outside the timed pass
    t0 = time.perf_counter()
    probs = clf.predict(x_test)
    seconds = time.perf_counter() - t0
    n = min(check_images, len(x_test))
    pixels = np.rint(np.asarray(x_test[:n], np.float32) * np.float32(255.0)).astype(np.uint8)
    single = np.stack([clf.predict_pixels(p) for p in pixels]) if n else probs[:0]
    same = np.argmax(single, axis=1) == np.argmax(probs[:n], axis=1)
    delta = float(np.max(np.abs(single - probs[:n]))) if n else 0.0
    check = {"images": n, "label_mismatches": int(np.sum(~same)), "max_abs_prob_delta": delta}
    if n and (not same.all() or delta > SINGLE_VS_BATCH_TOLERANCE):
        raise ConvertError(
            f"{path.name}: batched and one-at-a-time predictions differ "
            f"({check['label_mismatches']} labels, max |Δp| {delta:.2g}) — the evaluation "
            "would not be the device's"
        )
    return FileEval(
        path=Path(path),
        probs=probs,
        seconds=seconds,
        runtime=clf.runtime.describe(),
        input=tensor_info(clf.input_details),
        output=tensor_info(clf.output_details),
        single_check=check,
    )


def interleaved_latency(
    paths: list[Path], image: np.ndarray, *, reps: int, runtime: str | None = None, warmup: int = 0
) -> list[np.ndarray]:
    """Single-image ``invoke`` latency (ns) of every file, one thread, measured round-robin so
    each file sees the same machine load; warm-up runs are excluded."""
    classifiers = [open_model(p, runtime=runtime) for p in paths]
    tensors = [c.to_input(image[None]) for c in classifiers]
    warmup = warmup or max(50, reps // 10)
    for _ in range(warmup):
        for c, t in zip(classifiers, tensors, strict=True):
            c.invoke(t)
    times = np.empty((len(paths), reps), dtype=np.int64)
    clock = time.perf_counter_ns
    for r in range(reps):
        for i, (c, t) in enumerate(zip(classifiers, tensors, strict=True)):
            t0 = clock()
            c.invoke(t)
            times[i, r] = clock() - t0
    return list(times)


def keras_inputs(model, images: np.ndarray) -> np.ndarray:
    """Float images (N, 28, 28) reshaped to the Keras model's input layout."""
    shape = tuple(model.inputs[0].shape[1:])
    return np.asarray(images, dtype=np.float32).reshape((-1, *shape))


def keras_probs(model, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """The float reference: the Keras model's own probabilities."""
    return np.asarray(
        model.predict(keras_inputs(model, images), batch_size=batch_size, verbose=0), np.float32
    )


def keras_latency(model, image: np.ndarray, *, reps: int) -> np.ndarray:
    """Single-image latency (ns) of ``model.predict_on_batch`` (Keras's fastest one-call path)."""
    x = keras_inputs(model, image[None])
    for _ in range(max(10, reps // 10)):
        model.predict_on_batch(x)
    times = np.empty(reps, dtype=np.int64)
    for r in range(reps):
        t0 = time.perf_counter_ns()
        model.predict_on_batch(x)
        times[r] = time.perf_counter_ns() - t0
    return times
