"""What the rules for the picture's edge (docs/edge.md, step 6 and "Reading a number") gain
and cost: digits and numbers a user cropped out of a photo, from tight to roomy, must be read;
blank paper must not be.

    python -m tests.edge.picture_edge_bench MODEL... --data MNIST [--count 400] [--json]

Crops: each synthetic photo (``edge.synth.photo_set``, seed 1: not the eval's seed 0) is read
whole as ``classify`` reads it; where a digit is found, the photo is cut to that digit's box
plus a margin (0 px, 2 px, 5% and 10% of the digit's longer side) and the crop is read again:
its strokes reach the crop's edges, and it is still a digit. Blanks: 150 photos of paper with
no ink (``edge.synth.expose``: uneven light, vignette, shadows; seed 0) at 640x480 and at
1920x1080, and how many of them the model answers for at its default ``--min-confidence``.
Numbers: synthetic 4-digit numbers (``edge.synth_numbers.number_set``, seed 11: not eval's)
read whole with ``--number``, then cut to their digits' boxes plus a margin (0, 5%, 15% and 30%
of the digits' height) and read again; exact numbers counted; and cut with half their height
of paper around them, as a strip of paper lying on a darker desk of grey 40-120, turned up
to 6 degrees (``tests.edge.helpers.strip_on_a_desk``). Notes: MNIST test digits on a light
sheet (a sticky note, a card) a third to two thirds of a 640x480 frame's width, on a darker
desk that shows all around it, then on sheets of any size, grey and tilt on a textured desk
under uneven light; digits read right counted (docs/edge.md, "polarity"). Desks: synthetic
photos (seed 5) with a grained desk beyond a slanted page edge along a side (docs/edge.md,
"The desk beyond the page").
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import cv2
import numpy as np

from edge import confidence, mnist, synth
from edge.errors import DigitEdgeError
from edge.model import open_model
from edge.number import NumberReader
from edge.pipeline import DigitReader
from edge.synth_numbers import number_set
from tests.edge.helpers import strip_on_a_desk

MARGINS: tuple[tuple[str, int, float], ...] = (  # name, pixels, fraction of the digit's side
    ("0 px", 0, 0.0),
    ("2 px", 2, 0.0),
    ("5%", 0, 0.05),
    ("10%", 0, 0.10),
)


def crop(image: np.ndarray, box: tuple[int, int, int, int], pad: int) -> np.ndarray:
    """``image`` cut to ``box`` (x, y, w, h) and ``pad`` pixels around it, within the image."""
    x, y, w, h = box
    return image[max(0, y - pad) : y + h + pad, max(0, x - pad) : x + w + pad]


def read_crops(reader: DigitReader, test: mnist.Mnist, count: int) -> dict[str, dict]:
    """Per margin: crops read, right, and "no digit"; and the whole photos for comparison."""
    counts = {name: [0, 0, 0] for name in ("whole photo", *(m[0] for m in MARGINS))}
    for sample in synth.photo_set(test.x_test, test.y_test, count, seed=1):
        whole = reader.read(sample.image)
        tally(counts["whole photo"], whole.label, whole.no_digit, sample.label)
        if whole.box is None:
            continue
        for name, pixels, fraction in MARGINS:
            pad = pixels + round(fraction * max(whole.box[2:]))
            reading = reader.read(crop(sample.image, whole.box, pad))
            tally(counts[name], reading.label, reading.no_digit, sample.label)
    return {
        name: {"count": n, "accuracy": right / max(n, 1), "no_digit": none}
        for name, (n, right, none) in counts.items()
    }


BLANK_FRAMES = 150
BLANK_SIZES: tuple[tuple[int, int], ...] = ((480, 640), (1080, 1920))  # rows, columns


def read_blanks(reader: DigitReader) -> dict[str, dict]:
    """Per frame size: blank frames answered for (a digit above the threshold), and "no digit"."""
    out = {}
    for rows, columns in BLANK_SIZES:
        rng = np.random.default_rng(0)
        paper = np.zeros((rows, columns), np.float32)  # the ink's coverage: none
        readings = [reader.read(synth.expose(paper, rng)) for _ in range(BLANK_FRAMES)]
        out[f"blank {columns}x{rows}"] = {
            "count": len(readings),
            "answered": sum(r.label is not None for r in readings),
            "no_digit": sum(r.no_digit is not None for r in readings),
        }
    return out


NUMBER_MARGINS: tuple[float, ...] = (0.0, 0.05, 0.15, 0.30)  # x the digits' height
ON_A_DESK = "number, strip on a desk"  # cut with half their height of paper, on a desk


def read_number_crops(reader: DigitReader, test: mnist.Mnist, count: int) -> dict[str, dict]:
    """Per margin: numbers cut close and read, and read exactly; the whole photos first."""
    numbers = NumberReader(reader)
    names = [f"number, {round(100 * m)}%" for m in NUMBER_MARGINS]
    counts = {name: [0, 0] for name in ("number, whole photo", *names, ON_A_DESK)}
    samples = number_set(test.x_test, test.y_test, count, seed=11, length=4, gap=(0.5, 4.0))
    rng = np.random.default_rng(7)
    for sample in samples:
        whole = numbers.read(sample.image)
        counts["number, whole photo"][0] += 1
        counts["number, whole photo"][1] += whole.number == sample.number
        if not whole.digits:
            continue
        boxes = [d.box for d in whole.digits]
        x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
        x1, y1 = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
        for name, margin in zip(names, NUMBER_MARGINS, strict=True):
            pad = round(margin * (y1 - y0))
            cut = numbers.read(crop(sample.image, (x0, y0, x1 - x0, y1 - y0), pad))
            counts[name][0] += 1
            counts[name][1] += cut.number == sample.number
        strip = crop(sample.image, (x0, y0, x1 - x0, y1 - y0), round(0.5 * (y1 - y0)))
        desk, angle = int(rng.uniform(40, 120)), rng.uniform(-6, 6)
        on_desk = numbers.read(strip_on_a_desk(strip, desk, angle))
        counts[ON_A_DESK][0] += 1
        counts[ON_A_DESK][1] += on_desk.number == sample.number
    return {name: {"count": n, "exact": exact / max(n, 1)} for name, (n, exact) in counts.items()}


NOTE_WIDTHS = (200, 320, 440)  # px, in a 640x480 frame
DESKS = (60, 120, 170)  # the desk's grey; the sheet is 225


def on_a_note(digit: np.ndarray, desk: int, width: int) -> np.ndarray:
    """An MNIST digit written (dark) on a 4:3 sheet in the middle of a 640x480 desk."""
    frame = np.full((480, 640), desk, np.float32)
    w, h = width, width * 3 // 4
    frame[240 - h // 2 : 240 + h // 2, 320 - w // 2 : 320 + w // 2] = 225
    side = width // 2
    ink = cv2.resize(digit, (side, side)).astype(np.float32) * 0.8
    frame[240 - side // 2 : 240 - side // 2 + side, 320 - side // 2 : 320 - side // 2 + side] -= ink
    return cv2.GaussianBlur(np.clip(frame, 0, 255).astype(np.uint8), (0, 0), 1.0)


def on_a_varied_sheet(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An MNIST digit on a sheet of any grey, size, place and tilt (up to 25 degrees) on a
    textured desk of any darker grey, under a light that falls off across the frame."""
    desk, paper = rng.uniform(30, 170), rng.uniform(190, 250)
    frame = np.full((480, 640), desk, np.float32) + rng.normal(0, 6, (480, 640))
    w, h = rng.uniform(140, 420), rng.uniform(110, 330)
    cx, cy = rng.uniform(0.3, 0.7) * 640, rng.uniform(0.3, 0.7) * 480
    corners = cv2.boxPoints(((cx, cy), (w, h), rng.uniform(-25, 25))).astype(np.int32)
    sheet = np.zeros((480, 640), np.uint8)
    cv2.fillConvexPoly(sheet, corners, 1)
    frame[sheet > 0] = paper
    side = int(min(w, h) * rng.uniform(0.4, 0.7))
    ink = cv2.resize(digit, (side, side)).astype(np.float32) / 255.0
    y0, x0 = int(cy - side / 2), int(cx - side / 2)
    frame[y0 : y0 + side, x0 : x0 + side] -= ink * (paper - rng.uniform(20, 60))
    light = np.linspace(rng.uniform(0.7, 1.0), rng.uniform(0.9, 1.1), 640)[None, :]
    blurred = cv2.GaussianBlur(np.clip(frame * light, 0, 255), (0, 0), rng.uniform(0.5, 1.5))
    return blurred.astype(np.uint8)


def read_notes(reader: DigitReader, test: mnist.Mnist, count: int) -> dict[str, dict]:
    """Per desk and sheet: digits on a sheet read right; then on varied sheets (seed 5)."""
    rng = np.random.default_rng(5)
    varied = sum(
        reader.read(on_a_varied_sheet(digit, rng)).label == str(label)
        for digit, label in zip(test.x_test[: 5 * count], test.y_test[: 5 * count], strict=True)
    )
    out = {"varied sheets": {"count": 5 * count, "accuracy": varied / (5 * count)}}
    for desk in DESKS:
        for width in NOTE_WIDTHS:
            right = sum(
                reader.read(on_a_note(digit, desk, width)).label == str(label)
                for digit, label in zip(test.x_test[:count], test.y_test[:count], strict=True)
            )
            out[f"note {width} px on desk {desk}"] = {"count": count, "accuracy": right / count}
    return out


def desk_grain(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A desk of grey 40-150 with a wood-like grain (wavering stripes 3-12 px apart, 5-25
    grey levels deep, in any direction) and noise, float32."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    waver = rng.normal(0, 0.5, (h, w)).cumsum(axis=1) * 0.02
    grain = np.sin((np.cos(angle) * xx + np.sin(angle) * yy) / rng.uniform(3, 12) + waver)
    desk = rng.uniform(40, 150) + rng.uniform(5, 25) * grain + rng.normal(0, 6, (h, w))
    return desk.astype(np.float32)


def beyond_a_slanted_edge(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``photo`` (BGR) with a grained desk beyond the page's straight edge along a random
    side, 3-20% of the picture deep in its middle, sloped up to 15 degrees, its edge blurred."""
    h, w = photo.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    side = int(rng.integers(4))
    depth, slope = rng.uniform(0.03, 0.2), np.tan(np.radians(rng.uniform(-15, 15)))
    sides = [(yy, xx, h), (h - 1 - yy, xx, h), (xx, yy, w), (w - 1 - xx, yy, w)]
    across, along, extent = sides[side]
    desk = (across < depth * extent + slope * (along - along.mean())).astype(np.float32)
    desk = cv2.GaussianBlur(desk, (0, 0), rng.uniform(0.5, 1.5))[..., None]
    grain = desk_grain((h, w), rng)[..., None]
    return np.clip(photo * (1 - desk) + grain * desk, 0, 255).astype(np.uint8)


DESK_PHOTOS = "photo, desk beyond a slanted edge"


def read_desks(reader: DigitReader, test: mnist.Mnist, count: int) -> dict[str, dict]:
    """Synthetic photos (seed 5) with a grained desk beyond a slanted page edge: read right,
    and "no digit" (docs/edge.md, "The desk beyond the page")."""
    counts = [0, 0, 0]
    rng = np.random.default_rng(11)
    for sample in synth.photo_set(test.x_test, test.y_test, count, seed=5):
        reading = reader.read(beyond_a_slanted_edge(sample.image, rng))
        tally(counts, reading.label, reading.no_digit, sample.label)
    n, right, none = counts
    return {DESK_PHOTOS: {"count": n, "accuracy": right / max(n, 1), "no_digit": none}}


def read_model(path: Path, test: mnist.Mnist, count: int) -> dict[str, dict]:
    model = open_model(path)
    threshold = confidence.default_min_confidence(model.manifest)
    blanks = read_blanks(DigitReader(model, min_confidence=threshold))
    crops = read_crops(DigitReader(model), test, count)
    numbers = read_number_crops(DigitReader(model), test, count // 2)
    notes = read_notes(DigitReader(model), test, count // 10)
    return {**crops, **blanks, **numbers, **notes, **read_desks(DigitReader(model), test, count)}


def tally(counts: list[int], label: str | None, no_digit: str | None, truth: int) -> None:
    counts[0] += 1
    counts[1] += label is not None and int(label) == truth
    counts[2] += no_digit is not None


@click.command()
@click.argument("models", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--data", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--count", type=click.IntRange(1), default=400, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def main(models: tuple[Path, ...], data: Path, count: int, as_json: bool) -> None:
    try:
        test = mnist.load(data, canonical_sizes=False)
        results = {str(p): read_model(p, test, count) for p in models}
    except DigitEdgeError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(results, indent=2))
        return
    for path, rows in results.items():
        for name, r in rows.items():
            if "answered" in r:
                line = f"answered {r['answered']} of {r['count']}, no digit {r['no_digit']}"
            elif "exact" in r:
                line = f"{r['exact']:.1%} of {r['count']} exact"
            elif "no_digit" not in r:
                line = f"{r['accuracy']:.1%} of {r['count']}"
            else:
                line = f"{r['accuracy']:.1%} of {r['count']}, no digit {r['no_digit']}"
            click.echo(f"{path}  {name}: {line}")


if __name__ == "__main__":
    main()
