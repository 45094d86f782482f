"""Accuracy, drift and agreement as pure functions of labels and probabilities.

Drift is in percentage points: ``100 * (accuracy(quantized) - accuracy(float))``, so -0.03 means
the quantized file gets 3 more of 10,000 test images wrong than the Keras model does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose arg-max is the label."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        raise ValueError("accuracy of an empty set")
    return float(np.mean(np.argmax(probs, axis=1) == labels))


def drift_pp(probs: np.ndarray, reference: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy of ``probs`` minus accuracy of ``reference``, in percentage points."""
    return 100.0 * (accuracy(probs, labels) - accuracy(reference, labels))


def agreement(probs: np.ndarray, reference: np.ndarray) -> float:
    """Fraction of rows where both predict the same class (whatever the truth)."""
    return float(np.mean(np.argmax(probs, axis=1) == np.argmax(reference, axis=1)))


def max_abs_prob_delta(probs: np.ndarray, reference: np.ndarray) -> float:
    """Largest |p - p_ref| over every image and class."""
    return float(np.max(np.abs(np.asarray(probs, np.float64) - np.asarray(reference, np.float64))))


def per_class_accuracy(probs: np.ndarray, labels: np.ndarray, num_classes: int = 10) -> list[float]:
    """Accuracy restricted to each true class (NaN for a class with no images)."""
    pred = np.argmax(probs, axis=1)
    labels = np.asarray(labels)
    out = []
    for c in range(num_classes):
        mask = labels == c
        out.append(float(np.mean(pred[mask] == c)) if mask.any() else float("nan"))
    return out


def per_class_drift_pp(
    probs: np.ndarray, reference: np.ndarray, labels: np.ndarray, num_classes: int = 10
) -> list[float]:
    """Per-class accuracy difference in percentage points."""
    a = per_class_accuracy(probs, labels, num_classes)
    b = per_class_accuracy(reference, labels, num_classes)
    return [100.0 * (x - y) for x, y in zip(a, b, strict=True)]


def disagreements(probs: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Indices of the rows where the predicted classes differ."""
    return np.flatnonzero(np.argmax(probs, axis=1) != np.argmax(reference, axis=1))


def percentiles_us(times_ns: np.ndarray | list[int], qs=(50, 90, 99)) -> dict[str, float]:
    """Latency percentiles in microseconds from nanosecond samples."""
    arr = np.asarray(times_ns, dtype=np.float64) / 1e3
    return {f"p{q}": float(np.percentile(arr, q)) for q in qs}


@dataclass(frozen=True)
class Comparison:
    """Everything the report says about one file's predictions against the float model's."""

    accuracy: float
    reference_accuracy: float
    drift_pp: float
    agreement: float
    disagreements: int
    max_abs_prob_delta: float
    per_class_accuracy: list[float]
    per_class_drift_pp: list[float]

    def to_dict(self) -> dict:
        return asdict(self)


def compare(probs: np.ndarray, reference: np.ndarray, labels: np.ndarray) -> Comparison:
    """All the metrics at once."""
    if probs.shape != reference.shape:
        raise ValueError(f"shapes differ: {probs.shape} vs {reference.shape}")
    return Comparison(
        accuracy=accuracy(probs, labels),
        reference_accuracy=accuracy(reference, labels),
        drift_pp=drift_pp(probs, reference, labels),
        agreement=agreement(probs, reference),
        disagreements=len(disagreements(probs, reference)),
        max_abs_prob_delta=max_abs_prob_delta(probs, reference),
        per_class_accuracy=per_class_accuracy(probs, labels),
        per_class_drift_pp=per_class_drift_pp(probs, reference, labels),
    )
