"""How reliably `--number --decimal-point` reads a decimal point, and how often it invents one.

    python -m tests.edge.decimal_point_bench MODEL --data MNIST [--count 500] [--seed-offset 0]

Numbers with a point (edge.synth_numbers, ``point=True``: a dot 1-2 strokes across on the
baseline after a random digit but the last) on plain paper and on a page (lines, specks of
dirt, a broken stroke): the share whose point is read in its place, exact numbers, per
character. Numbers without one (the three sets of `eval --numbers`): how many get a point
with the option on, and whether anything else in their reading changes (it must not). A
``--seed-offset`` reads sets no rule was chosen on.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from edge import mnist
from edge.model import open_model
from edge.number import NumberReader
from edge.pipeline import DigitReader
from edge.synth_numbers import NUMBER_SETS, NumberAccuracy, number_set

#: Numbers with a point: name -> (seed, number_set arguments); the first is eval's own set.
POINT_SETS = {
    "point, 2-10 digits": NUMBER_SETS["decimal"][:2],
    "point, 4-6 digits": (4, {"point": True, "length": (4, 6), "gap": (0.5, 4.0)}),
    "point, on a page": (5, {"point": True, "page": True, "gap": (0.5, 4.0)}),
}


def point_place(number: str) -> int | None:
    """How many digits come before the point, or None without one."""
    return number.index(".") if "." in number else None


@click.command()
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--data", required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--count", type=click.IntRange(1), default=500, show_default=True)
@click.option("--seed-offset", type=int, default=0, show_default=True)
def main(model: Path, data: Path, count: int, seed_offset: int) -> None:
    test = mnist.load(data)
    base = DigitReader(open_model(model))
    plain, points = NumberReader(base), NumberReader(base, decimal_point=True)
    report: dict[str, dict[str, float]] = {}
    for name, (seed, kwargs) in POINT_SETS.items():
        found, accuracy = 0, NumberAccuracy(name)
        for s in number_set(test.x_test, test.y_test, count, seed + seed_offset, **kwargs):
            got = points.read(s.image).number.replace("\n", "")
            found += point_place(got) == point_place(s.number)
            accuracy.add(s.number, got, 0.0)
        figures = accuracy.as_dict()
        report[name] = {"point_in_place": found / count, "exact": figures["exact"],
                        "per_character": figures["per_digit"]}  # fmt: skip
    for name, (seed, kwargs, _) in NUMBER_SETS.items():
        if kwargs.get("point"):
            continue
        invented = changed = 0
        for s in number_set(test.x_test, test.y_test, count, seed + seed_offset, **kwargs):
            with_points = points.read(s.image).number
            invented += "." in with_points
            changed += with_points.replace(".", "") != plain.read(s.image).number
        report[f"no point: {name}"] = {"invented": invented / count, "otherwise_changed": changed}
    click.echo(json.dumps({"model": str(model), "count": count, "seed_offset": seed_offset,
                           "sets": report}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
