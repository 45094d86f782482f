"""What a training run leaves behind, each file written atomically:

``models/<name>.keras`` (the selected model), ``models/<name>.metrics.json`` (numbers and
provenance) and ``models/<name>.curve.png`` (training curves). A crash mid-run never leaves a
half-written model for ``convert`` to pick up.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
from dataclasses import asdict
from pathlib import Path
from typing import Any

from edge import mnist
from edge.fileio import atomic_path, atomic_write_text
from train.fitting import TrainResult

PACKAGES = ("tensorflow", "tensorflow-cpu", "keras", "numpy", "opencv-python-headless")


def model_dir(out: Path) -> Path:
    return out / "models"


def package_versions() -> dict[str, str]:
    """Versions of what shaped the numbers, for the metrics JSON and reports."""
    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def metrics(result: TrainResult, data: mnist.Mnist) -> dict[str, Any]:
    """The metrics JSON: params, per-epoch history, val/test numbers, seed, data, versions."""
    model = result.model
    return {
        "model": result.spec.name,
        "params": int(model.count_params()),
        "trainable_params": int(sum(int(w.numpy().size) for w in model.trainable_weights)),
        "seed": result.seed,
        "epochs": result.recipe.epochs,
        "best_epoch": result.best_epoch,
        "val_accuracy": result.val_accuracy,
        "val_loss": result.val_loss,
        "test_accuracy": result.test_accuracy,
        "test_loss": result.test_loss,
        "wall_seconds": result.wall_seconds,
        "recipe": asdict(result.recipe),
        # temperature folded into the saved model and the default --min-confidence (validation)
        "calibration": result.calibration.as_dict() if result.calibration else None,
        "history": result.history,
        "data": {
            "source": data.source,
            "sha256": data.sha256,
            "verified_canonical_mnist": data.verified,
            "train": len(data.x_train),
            "test": len(data.x_test),
        },
        "versions": package_versions(),
    }


def save(result: TrainResult, data: mnist.Mnist, out: Path) -> dict[str, Path]:
    """Write model, metrics and curve for one result; return their paths."""
    folder = model_dir(out)
    name = result.spec.name
    paths = {
        "model": folder / f"{name}.keras",
        "metrics": folder / f"{name}.metrics.json",
        "curve": folder / f"{name}.curve.png",
    }
    with atomic_path(paths["model"]) as tmp:
        result.model.save(tmp)
    atomic_write_text(paths["metrics"], json.dumps(metrics(result, data), indent=2) + "\n")
    plot_curves(result, paths["curve"])
    return paths


def plot_curves(result: TrainResult, dest: Path) -> None:
    """Loss and accuracy per epoch, train vs validation, with the selected epoch marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in result.history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (("loss", "train"), ("val_loss", "validation")):
        ax_loss.plot(epochs, [row[key] for row in result.history], label=label)
    for key, label in (("accuracy", "train (augmented)"), ("val_accuracy", "validation")):
        ax_acc.plot(epochs, [100 * row[key] for row in result.history], label=label)
    for ax in (ax_loss, ax_acc):
        ax.axvline(result.best_epoch, color="grey", linestyle=":", label="selected epoch")
        ax.set_xlabel("epoch")
        ax.legend()
    ax_loss.set_ylabel("loss (label-smoothed)")
    ax_acc.set_ylabel("accuracy (%)")
    fig.suptitle(
        f"{result.spec.name}: test {100 * result.test_accuracy:.2f}% "
        f"(epoch {result.best_epoch} chosen by validation)"
    )
    fig.tight_layout()
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
