"""Damaged copies of the fixture models, each loaded in a fresh process: what the device does.

    python -m tests.edge.model_damage_sweep [--seed 2] [--cuts 40] [--flips 30]

Run it with the device environment's Python (``.venv-edge/bin/python``: tflite-runtime 2.14,
which does not verify a flatbuffer). Every fixture model is cut at ``--cuts`` lengths and has
4 random bytes overwritten at ``--flips`` places, alternately in its first and its last 2 KB,
where the flatbuffer's tables are (the weights between them only change what the model
answers). Each copy is loaded and run once in a child process, and counted as refused by the
bounds check (``damaged``), refused by the interpreter with one line (``error``), loaded
(``ok``), a Python traceback (``traceback``), killed by a signal (``crash``) or still running
after a minute (``hang``). The files behind the last three are kept and named. docs/edge.md,
"A damaged model file", has the figures.
"""

from __future__ import annotations

import collections
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import click

from tests import model_zoo

CHILD = """
import sys
import numpy as np
from edge.errors import ModelError
from edge.model import DigitClassifier, ModelOptions
try:
    DigitClassifier(ModelOptions(sys.argv[1])).predict_pixels(np.zeros((28, 28), np.uint8))
except ModelError as exc:
    print("damaged" if "damaged or truncated" in str(exc) else "error")
    sys.exit(2)
print("ok")
"""
TABLE_SPAN = 2048  # bytes at each end of a model where its tables lie


def damaged_copies(data: bytes, rng: random.Random, cuts: int, flips: int):
    """(kind, name, bytes): the model cut short at ``cuts`` lengths, then ``flips`` corruptions."""
    for length in range(8, len(data), max(1, len(data) // cuts)):
        yield "truncated", f"cut{length}", data[:length]
    for k in range(flips):
        start = 8 if k % 2 else max(8, len(data) - TABLE_SPAN)
        at = rng.randrange(start, min(start + TABLE_SPAN, len(data) - 4))
        copy = bytearray(data)
        copy[at : at + 4] = rng.randbytes(4)
        yield "corrupted", f"flip{k}at{at}", bytes(copy)


def outcome(path: Path) -> str:
    """What loading ``path`` in a fresh process came to."""
    try:
        child = subprocess.run(
            [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        return "hang"
    if child.returncode < 0:
        return "crash"
    words = child.stdout.split()
    return words[0] if words else "traceback"


@click.command()
@click.option("--seed", default=2, show_default=True, help="Seed of the random corruptions.")
@click.option("--cuts", default=40, show_default=True, help="Truncations per model.")
@click.option("--flips", default=30, show_default=True, help="Random corruptions per model.")
def main(seed: int, cuts: int, flips: int) -> None:
    """Cut and corrupt every fixture model; count what loading each copy on the device does."""
    rng = random.Random(seed)
    counts: collections.Counter[tuple[str, str]] = collections.Counter()
    kept = Path(tempfile.mkdtemp(prefix="model-damage-"))
    models = sorted(model_zoo.FIXTURES.glob("*.tflite"))
    with click.progressbar(models, label="models", file=sys.stderr) as bar:
        for model in bar:
            for kind, name, data in damaged_copies(model.read_bytes(), rng, cuts, flips):
                path = kept / f"{model.stem}_{name}.tflite"
                path.write_bytes(data)
                result = outcome(path)
                counts[kind, result] += 1
                if result in ("ok", "damaged", "error"):
                    path.unlink()
                else:
                    click.echo(f"{result}: {path}")
    for kind in ("truncated", "corrupted"):
        total = sum(n for (k, _), n in counts.items() if k == kind)
        parts = ", ".join(f"{r} {n}" for (k, r), n in sorted(counts.items()) if k == kind)
        click.echo(f"{kind}: {total} ({parts})")


if __name__ == "__main__":
    main()
