"""What the number reader's polarity vote (docs/edge.md, "Reading a number", rule 1) gets right:
single digits read with ``--number`` as ``classify`` reads them alone, bold marker digits, and
the polarity of every number set ``eval --numbers`` reads.

    python -m tests.edge.number_polarity_bench MODEL --data MNIST [--count 1000] [--json]

Single digits: ``edge.synth`` photos, font digits and pages (seed 0, ``count`` each), read by
a ``NumberReader`` (right: the number is the label) and by the ``DigitReader`` alone. Markers:
the ten digits half a 320x240 frame tall with strokes of 12, 16 and 20 px
(``tests.edge.helpers.marker_digit``), read with ``--number``. Polarity: the share of each
number set's images (``count`` // 2 each; all dark ink on light paper) voted dark ink, and of
the same images inverted voted light ink.
"""

from __future__ import annotations

import json

import click

from edge import mnist, synth, synth_numbers, usps
from edge.errors import DigitEdgeError
from edge.model import open_model
from edge.normalize import to_gray, to_work_scale
from edge.number import NumberReader
from edge.number_ink import thin_ink_is_dark
from edge.pipeline import DigitReader
from tests.edge.helpers import marker_digit

MARKER_STROKES = (12, 16, 20)


def single_digits(reader: DigitReader, test: mnist.Mnist, count: int) -> dict[str, dict]:
    """Each synthetic set read with --number and alone: % right."""
    numbers = NumberReader(reader)
    sets = {
        "photos": synth.photo_set(test.x_test, test.y_test, count, 0),
        "fonts": synth.font_set(count, 0),
        "pages": synth.page_set(test.x_test, test.y_test, count, 0),
    }
    out = {}
    for name, samples in sets.items():
        as_number = alone = 0
        for s in samples:
            as_number += numbers.read(s.image).number == str(s.label)
            alone += reader.read(s.image).label == str(s.label)
        out[name] = {"number": 100 * as_number / count, "alone": 100 * alone / count}
    return out


def markers(reader: DigitReader) -> dict[str, dict]:
    """The ten marker digits per stroke width read with --number: how many right, and what."""
    numbers = NumberReader(reader)
    out = {}
    for stroke in MARKER_STROKES:
        read = [numbers.read(marker_digit(d, stroke)).number for d in range(10)]
        out[f"{stroke} px"] = {"right": sum(r == str(d) for d, r in enumerate(read)), "read": read}
    return out


def polarity(test: mnist.Mnist, usps_archive: str | None, count: int) -> dict[str, dict]:
    """% of each number set's images voted dark ink, and of them inverted voted light."""
    sets = {
        n: (test.x_test, test.y_test, seed, kw)
        for n, (seed, kw, _) in synth_numbers.NUMBER_SETS.items()
    }
    if usps_archive:
        name, seed, kw, _ = synth_numbers.USPS_SET
        sets[name] = (*usps.as_mnist(usps_archive), seed, kw)
    out = {}
    for name, (x, y, seed, kw) in sets.items():
        dark = light = 0
        for s in synth_numbers.number_set(x, y, count, seed, **kw):
            work, _ = to_work_scale(to_gray(s.image), 320)
            dark += thin_ink_is_dark(work)
            light += not thin_ink_is_dark(255 - work)
        out[name] = {"dark": 100 * dark / count, "inverted light": 100 * light / count}
    return out


@click.command()
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.option("--data", required=True, help="MNIST (mnist.npz or the IDX folder).")
@click.option("--usps", "usps_archive", envvar="DIGIT_EDGE_USPS", help="Adds usps-10.")
@click.option("--count", type=click.IntRange(10), default=1000, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def main(model: str, data: str, usps_archive: str | None, count: int, as_json: bool) -> None:
    try:
        reader = DigitReader(open_model(model))
        test = mnist.load(data)
        result = {
            "model": model,
            "single digits": single_digits(reader, test, count),
            "markers": markers(reader),
            "polarity": polarity(test, usps_archive, count // 2),
        }
    except DigitEdgeError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(result))
        return
    for name, r in result["single digits"].items():
        click.echo(f"{name:8s} --number {r['number']:.1f}%  alone {r['alone']:.1f}%")
    for stroke, r in result["markers"].items():
        click.echo(f"marker {stroke}: {r['right']} of 10 right, read {r['read']}")
    for name, r in result["polarity"].items():
        click.echo(
            f"{name:8s} voted dark {r['dark']:.1f}%, "
            f"inverted voted light {r['inverted light']:.1f}%"
        )


if __name__ == "__main__":
    main()
