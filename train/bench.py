"""``python -m train.bench``: training wall time and test accuracy per model, over several seeds.

Not part of the tests. The figure the project promises for ``lenet`` is a mean over three seeds
with a spread (max - min) of at most 0.2 pp; this prints exactly that, from one run. Times are
also given as a number of *plain epochs*: one epoch of the seed CNN with the plain tutorial
recipe (Adam, batch 128, no augmentation, as ../shared/tools/plain_epoch.py times it), measured
before and after the runs in the same process, so machines of different speed compare.
"""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path
from typing import Any

import click
import numpy as np

from edge.errors import DigitEdgeError
from train.data import ENV_VAR
from train.models import DEFAULT_MODELS, MODELS

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-m", "--model", "models", multiple=True, type=click.Choice(list(MODELS)))
@click.option("--data", type=click.Path(path_type=Path), envvar=ENV_VAR, show_envvar=True)
@click.option("--seeds", default="0,1,2", show_default=True, help="Comma-separated seeds.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def main(models: tuple[str, ...], data: Path | None, seeds: str, as_json: bool) -> None:
    """Train each model once per seed; report time and test accuracy, mean and spread."""
    from rich.console import Console
    from rich.table import Table

    from edge.quiet import captured_fds, terminal_stream

    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter(f"{seeds!r} is not a comma-separated list of integers") from None
    console = Console(file=terminal_stream(2), stderr=True)
    try:
        with captured_fds():  # TensorFlow's C++ log lines
            results = _run(console, models or DEFAULT_MODELS, data, seed_list)
    except DigitEdgeError as exc:
        raise click.ClickException(str(exc)) from None
    plain = statistics.median(results.pop("_plain_epoch_seconds"))
    summary = {name: aggregate(rows) for name, rows in results.items()}
    for s in summary.values():
        s["plain_epochs"] = s["median_seconds"] / plain
    if as_json:
        doc = {"runs": results, "summary": summary, "plain_epoch_seconds": plain}
        click.echo(json.dumps(doc, indent=2))
        return
    table = Table(title=f"training bench, seeds {seed_list}")
    for col in ("model", "median time", "plain epochs", "test acc mean", "min", "max", "spread"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for name, s in summary.items():
        table.add_row(
            name, f"{s['median_seconds']:.0f} s", f"{s['plain_epochs']:.1f}",
            f"{s['mean']:.2f}%", f"{s['min']:.2f}%",
            f"{s['max']:.2f}%", f"{s['spread_pp']:.2f} pp",
        )  # fmt: skip
    Console().print(table)
    click.echo(f"one plain tutorial epoch: {plain:.1f} s (median of before and after)")


def _run(
    console: Any, names: tuple[str, ...], data: Path | None, seed_list: list[int]
) -> dict[str, list[dict[str, float]]]:
    from train.data import load_mnist, split
    from train.fitting import fit

    splits = split(load_mnist(data))
    results: dict[str, list[dict[str, float]]] = {}
    with console.status("timing one plain tutorial epoch"):
        results["_plain_epoch_seconds"] = [plain_epoch_seconds(splits)]
    for name in names:
        for seed in seed_list:
            with console.status(f"training {name}, seed {seed}"):
                r = fit(MODELS[name], splits, seed=seed)
            results.setdefault(name, []).append(
                {
                    "seed": seed,
                    "seconds": r.wall_seconds,
                    "test_accuracy": r.test_accuracy,
                    "val_accuracy": r.val_accuracy,
                    "best_epoch": r.best_epoch,
                }
            )
            console.print(
                f"{name} seed {seed}: {100 * r.test_accuracy:.2f}% in {r.wall_seconds:.0f} s"
            )
    with console.status("timing one plain tutorial epoch"):
        results["_plain_epoch_seconds"].append(plain_epoch_seconds(splits))
    return results


def plain_epoch_seconds(splits: Any) -> float:
    """Wall seconds of one epoch of the seed CNN, plain tutorial recipe, on the training set
    (the time unit of the training goals; the same recipe as ../shared/tools/plain_epoch.py)."""
    import time

    import keras

    x = np.concatenate([splits.x_train, splits.x_val])[..., None]
    y = np.concatenate([splits.y_train, splits.y_val])
    keras.utils.set_random_seed(0)
    model = MODELS["lenet"].build()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:1024], y[:1024], batch_size=128, epochs=1, verbose=0)  # graph building
    start = time.perf_counter()
    model.fit(x, y, batch_size=128, epochs=1, verbose=0)
    return time.perf_counter() - start


def aggregate(rows: list[dict[str, float]]) -> dict[str, float]:
    """Mean, min, max and spread (pp) of test accuracy in percent; median wall time."""
    accs = [100 * r["test_accuracy"] for r in rows]
    return {
        "mean": statistics.fmean(accs),
        "min": min(accs),
        "max": max(accs),
        "spread_pp": max(accs) - min(accs),
        "median_seconds": statistics.median(r["seconds"] for r in rows),
    }


if __name__ == "__main__":  # pragma: no cover
    main()
