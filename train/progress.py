"""Terminal feedback for training: a progress bar per model and the summary table."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from train.recipe import Recipe


class TrainingProgress:
    """One bar over all batches of all epochs, its label showing the latest validation score."""

    def __init__(self, console: Console, name: str, recipe: Recipe) -> None:
        self.name, self.recipe = name, recipe
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._task = self._progress.add_task(
            f"{name} epoch 1/{recipe.epochs}", total=None, status="preparing data"
        )

    def __enter__(self) -> TrainingProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def begin(self, total_steps: int) -> None:
        self._progress.update(self._task, total=total_steps, status="")

    def batch_done(self, count: int = 1) -> None:
        self._progress.advance(self._task, count)

    def epoch_done(self, epoch: int, row: dict[str, float]) -> None:
        nxt = min(epoch + 1, self.recipe.epochs)
        self._progress.update(
            self._task,
            description=f"{self.name} epoch {nxt}/{self.recipe.epochs}",
            status=f"val acc {100 * row['val_accuracy']:.2f}%",
        )


def summary_table(rows: list[dict[str, Any]], total_seconds: float) -> Table:
    """Model, params, epochs, time, val acc, test acc, test loss: one row per trained model."""
    table = Table(title=f"digit-train: {len(rows)} model(s) in {total_seconds:.0f} s")
    for col in ("model", "params", "epochs (best)", "time", "val acc", "test acc", "test loss"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in rows:
        table.add_row(
            r["model"],
            f"{r['params']:,}",
            f"{r['epochs']} ({r['best_epoch']})",
            f"{r['seconds']:.0f} s",
            f"{100 * r['val_accuracy']:.2f}%",
            f"{100 * r['test_accuracy']:.2f}%",
            f"{r['test_loss']:.4f}",
        )
    return table
