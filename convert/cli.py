"""``digit-convert``: quantize every trained model to TFLite, evaluate each file through the edge
runtime, check it on tflite-runtime 2.14, and write the report.

Examples::

    digit-convert                          # every model in artifacts/models, every mode
    digit-convert --models lenet --modes int8,float32 --max-drift 0.05
    digit-convert --json | jq '.files[] | {file, bytes, drift_pp}'
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import click

from convert.modes import IO_DTYPES, MODE_NAMES, MODES
from convert.results import json_default
from edge.errors import EXIT_INTERRUPTED, DigitEdgeError
from edge.runtime import RUNTIME_NAMES
from train.host import require_host


def _split(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))  # once each


MODES_HELP = "; ".join(f"{m.name}: {m.description}" for m in MODES.values())


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--data",
    metavar="PATH",
    help="MNIST npz or IDX folder [default: $DIGIT_EDGE_DATA, "
    "then ../shared/data/mnist beside the checkout, then Keras's download]",
)
@click.option(
    "--artifacts",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("artifacts"),
    show_default=True,
    help="reads <dir>/models/*.keras; writes <dir>/tflite/ and <dir>/report/",
)
@click.option(
    "--models",
    "models",
    metavar="A,B",
    help="models to convert [default: every trained model found]",
)
@click.option(
    "--modes",
    "modes",
    metavar="A,B",
    default=",".join(MODE_NAMES),
    show_default=True,
    help=f"quantization modes. {MODES_HELP}",
)
@click.option(
    "--io-dtype",
    type=click.Choice(IO_DTYPES),
    default="int8",
    show_default=True,
    help="input/output type of the int8 files (uint8: TF tutorial / many accelerators)",
)
@click.option(
    "--representative",
    type=int,
    default=1000,
    show_default=True,
    metavar="N",
    help="int8 calibration images, from the training split, balanced across classes",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="seed for drawing the calibration images"
)
@click.option(
    "--max-drift",
    type=float,
    metavar="PP",
    help="exit 3 naming the files whose "
    "accuracy drifts more than PP percentage points from the Keras model",
)
@click.option(
    "--latency-reps",
    type=int,
    default=2000,
    show_default=True,
    help="timed single-image runs per file",
)
@click.option(
    "--runtime",
    type=click.Choice(RUNTIME_NAMES),
    help="host interpreter for evaluation [default: the edge runtime's own choice]",
)
@click.option(
    "--device-python",
    metavar="PATH",
    help="python of the device-like environment "
    "[default: $DIGIT_EDGE_DEVICE_PYTHON, then .venv-edge/bin/python]",
)
@click.option(
    "--no-device-check",
    is_flag=True,
    help="skip loading the files in tflite-runtime 2.14 and ai-edge-litert, the Pi's "
    "interpreters (2.14's compatibility then comes from the op-version table)",
)
@click.option("--no-plots", is_flag=True, help="skip the PNG plots")
@click.option("--json", "as_json", is_flag=True, help="print report.json to stdout, no table")
def main(data, artifacts, models, modes, io_dtype, representative, seed, max_drift, latency_reps,
         runtime, device_python, no_device_check, no_plots, as_json) -> None:  # fmt: skip
    """Quantize trained Keras models to TFLite and report what each mode costs and buys."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    require_host("digit-convert")
    from rich.console import Console

    from edge.quiet import captured_fds, terminal_stream

    # On a terminal the progress bars draw on a duplicate of stderr, so they still show while
    # stderr itself is captured (TensorFlow's chatter); elsewhere plain sys.stderr.
    err = Console(file=terminal_stream(2) if sys.stderr.isatty() else sys.stderr, stderr=True)
    out = Console() if sys.stdout.isatty() else Console(width=170)
    t0 = time.perf_counter()
    captured = None
    try:
        from convert.pipeline import StageOptions, gate_error, run

        opts = StageOptions(
            artifacts=artifacts,
            data=data,
            models=_split(models),
            modes=_split(modes),
            io_dtype=io_dtype,
            representative=representative,
            seed=seed,
            max_drift=max_drift,
            latency_reps=latency_reps,
            runtime=runtime,
            device_check=not no_device_check,
            device_python=device_python,
            plots=not no_plots,
        )
        with ExitStack() as stack:
            progress = _progress(stack, err, enabled=err.is_terminal)
            captured = stack.enter_context(captured_fds())
            result = run(opts, progress)
    except DigitEdgeError as exc:
        err.print(f"digit-convert: error: {exc}", style="red", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("digit-convert: interrupted; files already written are intact", style="red")
        sys.exit(EXIT_INTERRUPTED)
    except Exception:
        if captured is not None and captured.text:
            err.print(captured.tail(), style="dim", highlight=False, markup=False)
        raise
    wall = time.perf_counter() - t0
    result.report.timings["wall_seconds_total"] = round(wall, 2)
    if as_json:
        click.echo(json.dumps(result.report.to_dict(), indent=2, default=json_default))
    else:
        from convert.report import render_terminal

        render_terminal(result.report, out)
        out.print(
            f"wrote {len(result.written)} files to {opts.tflite_dir}/ and {opts.report_dir}/ "
            f"in {wall:.1f} s",
            highlight=False,
        )
    failure = gate_error(result)
    if failure is not None:
        err.print(f"digit-convert: {failure}", style="bold red", highlight=False, soft_wrap=True)
        sys.exit(failure.exit_code)


def _progress(stack: ExitStack, console, *, enabled: bool) -> Callable:
    """Rich progress bars on stderr (only on a terminal), one bar per phase."""
    if not enabled:
        return lambda description, total: lambda: None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bars = stack.enter_context(
        Progress(TextColumn("{task.description:<32}"), BarColumn(), MofNCompleteColumn(),
                 TimeElapsedColumn(), console=console, transient=False)
    )  # fmt: skip

    def start(description: str, total: int) -> Callable[[], None]:
        task = bars.add_task(description, total=total)
        return lambda: bars.advance(task)

    return start
