"""``digit-train``: fit registered models on MNIST and save them for ``digit-convert``."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from edge.errors import EXIT_INTERRUPTED, DigitEdgeError
from train.data import ENV_VAR
from train.epoch_data import TrainingNotice
from train.host import require_host
from train.models import DEFAULT_MODELS, MODELS

# TensorFlow is imported lazily (inside _train) so `--help` and `--list` answer instantly.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-m",
    "--model",
    "models",
    multiple=True,
    type=click.Choice(list(MODELS)),
    help="Model to train (repeatable). Default: " + ", ".join(DEFAULT_MODELS) + ".",
)
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    envvar=ENV_VAR,
    show_envvar=True,
    help="MNIST as a Keras mnist.npz or a folder of the four IDX files (.gz or not). "
    "Default: ../shared/data/mnist beside the checkout, else Keras's download.",
)
@click.option(
    "--artifacts",
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("artifacts"),
    show_default=True,
    help="Folder for models/<name>.keras, .metrics.json and .curve.png.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed for weights, shuffling and augmentation.",
)
@click.option("--epochs", type=click.IntRange(min=1), help="Override the recipe's epoch count.")
@click.option("--any-size", is_flag=True, help="Accept a dataset that is not 60,000/10,000 images.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@click.option("--list", "list_models", is_flag=True, help="List the registered models and exit.")
def main(
    models: tuple[str, ...], data: Path | None, out: Path, seed: int, epochs: int | None,
    any_size: bool, as_json: bool, list_models: bool,
) -> None:  # fmt: skip
    """Train the registered models on MNIST, reproducibly, and save them for conversion.

    Each model is trained with its registered recipe (warm-up + cosine Adam, light affine
    augmentation; the CNN also sees printed digits); the epoch kept is the latest within one
    standard error of the best accuracy on the last 5,000 training images. The 10,000 test
    images give the final number only.
    """
    if list_models:
        for spec in MODELS.values():
            click.echo(f"{spec.name:14} {spec.params:>8,} params  {spec.description}")
        return
    require_host("digit-train")
    from rich.console import Console

    from edge.quiet import captured_fds, terminal_stream
    from train.progress import summary_table

    # TensorFlow's C++ runtime logs to fd 2 whatever TF_CPP_MIN_LOG_LEVEL says (absl start-up
    # lines, a tf.data warning per epoch): capture it, and draw progress on a duplicate of fd 2.
    console = Console(file=terminal_stream(2), stderr=True)
    start = time.perf_counter()
    try:
        with captured_fds() as captured, notices_kept() as notices:
            try:
                summary = _train(
                    console, models or DEFAULT_MODELS, data, out, seed, epochs, any_size
                )
            except (DigitEdgeError, KeyboardInterrupt):
                raise
            except Exception:
                console.print(captured.tail(), style="dim", markup=False, highlight=False)
                raise
    except DigitEdgeError as exc:  # one line, named like digit-convert's and digit-edge's
        click.echo(f"digit-train: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("digit-train: interrupted: nothing half-written was left behind", err=True)
        sys.exit(EXIT_INTERRUPTED)
    total = time.perf_counter() - start
    for notice in notices:
        click.echo(f"digit-train: note: {notice}", err=True)
    if as_json:
        doc = {"seed": seed, "total_seconds": round(total, 1), "models": summary}
        click.echo(json.dumps(doc, indent=2))
    else:
        Console().print(summary_table(summary, total))


@contextlib.contextmanager
def notices_kept() -> Iterator[list[str]]:
    """:class:`TrainingNotice` messages, kept to be shown after training (its stderr is
    captured), each once however many models gave it; every other warning goes where it went
    (into the captured output)."""
    kept: list[str] = []
    show = warnings.showwarning

    def keep_notices(message: Warning | str, category: type[Warning], *args: Any) -> None:
        if issubclass(category, TrainingNotice):
            if str(message) not in kept:
                kept.append(str(message))
        else:
            show(message, category, *args)

    with warnings.catch_warnings():
        warnings.simplefilter("always", TrainingNotice)
        warnings.showwarning = keep_notices
        yield kept


def _train(
    console: Any, names: tuple[str, ...], data_opt: Path | None, out: Path, seed: int,
    epochs: int | None, any_size: bool,
) -> list[dict[str, Any]]:  # fmt: skip
    """Load the data, train each model, save its artifacts; return the summary rows."""
    import dataclasses

    from edge.fileio import writable_folder
    from train import artifacts
    from train.calibration import calibrate
    from train.data import load_mnist, split
    from train.fitting import fit
    from train.progress import TrainingProgress

    writable_folder(artifacts.model_dir(out), DigitEdgeError)  # before, not after, training
    data = load_mnist(data_opt, canonical_sizes=not any_size)
    console.print(
        f"data: {data.source} ({len(data.x_train):,} train, {len(data.x_test):,} test"
        f"{', verified canonical MNIST' if data.verified else ''})"
    )
    splits = split(data)
    rows = []
    for name in names:
        spec = MODELS[name]
        recipe = dataclasses.replace(spec.recipe, epochs=epochs) if epochs else spec.recipe
        with TrainingProgress(console, spec.name, recipe) as progress:
            result = fit(
                spec, splits, seed=seed, recipe=recipe,
                on_epoch=progress.epoch_done, on_batch=progress.batch_done, on_begin=progress.begin,
            )  # fmt: skip
        result.calibration = calibrate(result.model, splits.x_val, splits.y_val)
        paths = artifacts.save(result, data, out)
        rows.append(
            {
                "model": name,
                "params": int(result.model.count_params()),
                "epochs": recipe.epochs,
                "best_epoch": result.best_epoch,
                "seconds": round(result.wall_seconds, 1),
                "val_accuracy": result.val_accuracy,
                "test_accuracy": result.test_accuracy,
                "test_loss": result.test_loss,
                "temperature": result.calibration.temperature,
                "min_confidence": result.calibration.min_confidence,
                "model_path": str(paths["model"]),
            }
        )
    return rows


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
