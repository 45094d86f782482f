"""The report's calibration section: how far each file's probabilities can be trusted.

Training folds a temperature into every model and chooses its default ``--min-confidence`` on
validation data (train/calibration.py, numbers in ``<model>.metrics.json``). Here, per file and
through the device's own inference code: the expected calibration error on the MNIST test set
as converted (after) and with the temperature undone (before), and what the default threshold
does (wrong answers, images left unsure) and accuracy against coverage on MNIST test, synthetic
photos of test digits and, where scikit-learn is installed, the UCI digits as scans. Test sets
only measure here; nothing is chosen on them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edge import confidence, synth, uci
from edge.model import open_model
from edge.normalize import DEFAULT_OPTIONS, normalize
from train.calibration import expected_calibration_error, with_temperature

PHOTOS = 1000  # synthetic photos of MNIST test digits (edge.synth, seed 0)


def dev_sets(
    x_test_u8: np.ndarray, y_test: np.ndarray, stroke: float
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Normalised images (``stroke``: the model's stroke target), labels and a no-digit mask
    of the non-MNIST sets; where no digit was found the image is blank and its probabilities
    are zeroed after the model, which :func:`edge.confidence.outcome` counts as wrong (as
    ``digit-edge eval`` does)."""
    options = dataclasses.replace(DEFAULT_OPTIONS, stroke=stroke)
    sources = {"photos": synth.photo_set(x_test_u8, y_test, PHOTOS, seed=0)}
    if uci.available():
        sources["uci-scans"] = uci.scan_set()
    sets = {}
    for name, samples in sources.items():
        images, labels, missing = [], [], []
        for s in samples:
            found = normalize(s.image, options).image
            images.append(found if found is not None else np.zeros((28, 28), np.float32))
            labels.append(s.label)
            missing.append(found is None)
        sets[name] = (np.stack(images), np.asarray(labels), np.asarray(missing))
    return sets


def file_section(
    probs: np.ndarray, y_test: np.ndarray, cal: dict | None, others: dict[str, np.ndarray],
    other_labels: dict[str, np.ndarray],
) -> dict[str, Any]:  # fmt: skip
    """One file: ECE before/after on MNIST test, and the threshold's effect on every set."""
    temperature = float(cal["temperature"]) if cal else 1.0
    threshold = float(cal["min_confidence"]) if cal else 0.0
    before = with_temperature(probs, 1.0 / temperature)  # the folded temperature undone
    sets = {"mnist-test": (probs, y_test)} | {k: (others[k], other_labels[k]) for k in others}
    return {
        "temperature": temperature,
        "min_confidence": threshold,
        "ece_test_before": expected_calibration_error(before, y_test),
        "ece_test_after": expected_calibration_error(probs, y_test),
        "sets": {
            name: {
                **confidence.outcome(p, y, threshold),
                "coverage": confidence.coverage_curve(p, y),
            }
            for name, (p, y) in sets.items()
        },
    }


def measure(
    files: list[tuple[str, str, Path]],
    metrics: dict[str, dict],
    strokes: dict[str, float],
    test_probs: dict[str, np.ndarray],
    x_test_u8: np.ndarray,
    y_test: np.ndarray,
    tick: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """The section for ``files`` ((model, file name, path)); ``metrics`` and the stroke target
    of the device normalisation per model."""
    sets = {s: dev_sets(x_test_u8, y_test, s) for s in set(strokes.values())}
    models = {name: m.get("calibration") for name, m in metrics.items()}
    out: dict[str, Any] = {"models": models, "files": {}}
    for model, name, path in files:
        classifier = open_model(path)
        mine = sets[strokes[model]]
        others = {k: _predict(classifier, x, no_digit) for k, (x, _, no_digit) in mine.items()}
        labels = {k: y for k, (_, y, _) in mine.items()}
        out["files"][name] = file_section(
            test_probs[name], y_test, models.get(model), others, labels
        )
        tick()
    return out


def _predict(classifier: Any, images: np.ndarray, no_digit: np.ndarray) -> np.ndarray:
    """The model's probabilities, all zero where no digit was found (a wrong answer)."""
    probs = classifier.predict(images)
    probs[no_digit] = 0.0
    return probs


def for_manifest(section: dict, model: str, file: str) -> dict[str, Any]:
    """What the device reads beside a file: the threshold and how it was chosen."""
    cal = (section.get("models") or {}).get(model)
    entry = (section.get("files") or {}).get(file)
    if not cal or not entry:
        return {}
    return {
        "temperature": cal["temperature"],
        "min_confidence": cal["min_confidence"],
        "chosen_on": "validation split (as is + with real-writing variation)",
        "ece_validation_before": cal["ece_before"],
        "ece_validation_after": cal["ece_after"],
        "ece_test_before": entry["ece_test_before"],
        "ece_test_after": entry["ece_test_after"],
    }


def markdown(section: dict) -> list[str]:
    """The report.md section: per model, then per file."""
    if not section:
        return []
    lines = ["", "## Calibration and the default `--min-confidence`", ""]
    lines += [
        "| model | temperature | ECE val before → after | default P | val wrong → at P | "
        "val unsure |",
        "|---|---|---|---|---|---|",
    ]
    for model, c in section["models"].items():
        if not c:
            lines.append(f"| {model} | not calibrated (no calibration in its metrics) |||||")
            continue
        lines.append(
            f"| {model} | {c['temperature']:.3f} | {c['ece_before']:.4f} → {c['ece_after']:.4f} | "
            f"{c['min_confidence']:.2f} | {c['wrong_without']} → {c['wrong']} | "
            f"{c['unsure']} of {c['images']} |"
        )
    names = sorted({s for f in section["files"].values() for s in f["sets"]})
    heads = " | ".join(f"{n}: wrong → at P, unsure" for n in names)
    lines += [
        "",
        f"| file | ECE test before → after | {heads} |",
        "|---|---|" + "---|" * len(names),
    ]
    for file, f in section["files"].items():
        cells = [
            f"{s['wrong_without']} → {s['wrong']}, {s['unsure_rate']:.1%}"
            for s in (f["sets"][n] for n in names)
        ]
        lines.append(
            f"| {file} | {f['ece_test_before']:.4f} → {f['ece_test_after']:.4f} | "
            + " | ".join(cells) + " |"
        )  # fmt: skip
    lines += ["", "Accuracy against coverage: `coverage.png`."]
    return lines


def plot(section: dict, dest: Path) -> Path | None:
    """Accuracy of the answered images against coverage, one panel per set, int8 files."""
    if not section:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edge.fileio import atomic_path

    files = {k: v for k, v in section["files"].items() if k.endswith("_int8.tflite")}
    files = files or section["files"]
    names = sorted({s for f in files.values() for s in f["sets"]})
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.8), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        for file, f in files.items():
            curve = f["sets"][name]["coverage"]
            ax.plot([100 * r["coverage"] for r in curve], [100 * r["accuracy"] for r in curve],
                    marker=".", label=file.removesuffix(".tflite"))  # fmt: skip
            s = f["sets"][name]
            ax.scatter([100 * (1 - s["unsure_rate"])], [100 * _answered_accuracy(s)],
                       marker="*", s=90)  # fmt: skip
        ax.set_title(name)
        ax.set_xlabel("coverage: images answered (%)")
        ax.set_ylabel("accuracy of the answered (%)")
        ax.invert_xaxis()
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle("accuracy against coverage (star: each model's default --min-confidence)")
    fig.tight_layout()
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return dest


def _answered_accuracy(s: dict) -> float:
    answered = s["count"] - s["unsure"]
    return (answered - s["wrong"]) / answered if answered else 1.0
