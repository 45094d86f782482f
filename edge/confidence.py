"""An honest "unsure": below a minimum confidence a reading names no digit, only its candidates.

The probabilities are calibrated when a model is trained (a temperature fitted on the
validation split and folded into its last layer, train/calibration.py), and each model's
default minimum confidence is chosen on validation data there too; convert writes both into
the manifest beside every file (its ``calibration``). ``--min-confidence P`` overrides the
default, 0 turns it off. An unsure reading keeps ``label`` None, sets ``unsure`` and lists the
top :data:`CANDIDATES` classes in ``top_k``, so a user (or a number reader) can ask again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from edge.manifest import Manifest
    from edge.model import DigitClassifier

CANDIDATES = 3  # classes an unsure reading lists


def default_min_confidence(manifest: Manifest | None) -> float:
    """The model's own threshold (chosen on validation data), 0 (off) when it has none."""
    if manifest is None:
        return 0.0
    return float(manifest.calibration.get("min_confidence", 0.0))


def resolve(option: float | None, model: DigitClassifier) -> float:
    """``--min-confidence`` as given, else the model's default."""
    return default_min_confidence(model.manifest) if option is None else float(option)


# -- measuring it ----------------------------------------------------------------------------------


def outcome(probs: np.ndarray, labels: np.ndarray, min_confidence: float) -> dict[str, Any]:
    """Wrong answers and unsure readings at ``min_confidence``, beside the wrong ones without it.

    ``probs`` rows of all zeros are images where no digit was found: wrong either way.
    """
    top = probs.max(axis=1)
    right = (probs.argmax(axis=1) == labels) & (top > 0)
    unsure = (top > 0) & (top < min_confidence)
    n = max(len(labels), 1)
    wrong_before = int((~right).sum())
    wrong = int((~right & ~unsure).sum())
    return {
        "min_confidence": min_confidence,
        "count": len(labels),
        "accuracy": float(right.mean()) if len(labels) else 0.0,
        "wrong_without": wrong_before,
        "wrong": wrong,
        "unsure": int(unsure.sum()),
        "wrong_rate": wrong / n,
        "unsure_rate": float(unsure.sum()) / n,
        "wrong_ratio": wrong / wrong_before if wrong_before else 0.0,
    }


COVERAGE_POINTS: tuple[float, ...] = (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)


def coverage_curve(
    probs: np.ndarray, labels: np.ndarray, thresholds: Sequence[float] = COVERAGE_POINTS
) -> list[dict[str, float]]:
    """Accuracy of the answered images against coverage (the share answered), per threshold."""
    top = probs.max(axis=1)
    right = probs.argmax(axis=1) == labels
    rows = []
    for t in thresholds:
        answered = top >= max(t, 1e-12)
        k = int(answered.sum())
        rows.append(
            {
                "min_confidence": float(t),
                "coverage": k / max(len(labels), 1),
                "accuracy": float(right[answered].mean()) if k else 1.0,
            }
        )
    return rows
