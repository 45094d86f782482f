"""``python -m convert.bench``: the convert stage's speed figures, every number from one run.

- single-image latency p50/p90 of every file side by side (one thread, warm-up excluded,
  measured round-robin so all files see the same machine load), on the host interpreter and
  on tflite-runtime 2.14 (``.venv-edge``), with the int8/float32 ratio per model;
- the tutorial graph (``from_keras_model`` as is: dynamic batch, BatchNorm left, names kept;
  rows "... tutorial") beside the shipped one;
- evaluation throughputs are the best of three passes (the machine is shared);
- Keras single-image latency and the TFLite speedup over it;
- evaluation throughput over the same 10,000 test images: ``DigitClassifier.predict`` (what
  the stage uses) vs the tutorials' one-image Python loop on the raw interpreter;
- the accuracy cost of the tflite-runtime 2.14 fix: TF 2.21's default dynamic-range (per-channel
  dense weights, FULLY_CONNECTED v12: row "dynamic TF default v12") vs per-tensor (v9) without
  and with range equalization (rows "dynamic, per-tensor dense ...") vs the CNN's dense layer
  as a per-channel convolution (row "dynamic");
- int8 as the converter writes it (row "int8, converter as is") vs refined (row "int8").

The shipped rows use each mode's default recipe (convert/modes.py); the stage may pick another
on the validation split. Not part of the tests. Reads ``<artifacts>/models/*.keras``; the files
it converts live in a temporary folder removed at the end; writes nothing else.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@dataclass(frozen=True)
class Variant:
    """One file the bench builds: which model, its row label, its mode, how to build it."""

    model: str
    label: str
    mode: str
    build: Callable[[Any, np.ndarray | None], bytes]  # (Keras model, calibration) -> bytes
    shipped: bool = False  # what the stage builds by default (also timed as the tutorial loop)


def tutorial_file(model, mode: str, rep: np.ndarray | None) -> bytes:
    """The tutorials' conversion: ``from_keras_model`` on the model as it is (dynamic batch,
    BatchNorm where training put it, names kept), no refinement."""
    from convert.export import converter_for
    from convert.modes import MODES

    return bytes(converter_for(model, MODES[mode], rep, "int8").convert())


def tf_default_dynamic(model) -> bytes:
    """Dynamic range as TF 2.21 does it by default: per-channel dense weights (FULLY_CONNECTED
    v12, which tflite-runtime 2.14 refuses), on the same rewritten graph as the shipped file."""
    from convert.export import converter_for, rewrite, strip_names
    from convert.modes import MODES, Recipe

    spec = dataclasses.replace(MODES["dynamic"], per_tensor_dense=False)
    return strip_names(bytes(converter_for(rewrite(model, Recipe()), spec, None, "int8").convert()))


def variants(names: list[str]) -> list[Variant]:
    """Per model: every mode as shipped, then the comparisons the module docstring lists."""
    from convert.export import convert
    from convert.modes import MODE_NAMES, Recipe

    def recipe(mode: str, r: Recipe | None) -> Callable:
        return lambda m, rep: convert(m, mode, rep, recipe=r)  # None: the mode's default

    out = []
    for name in names:
        for mode in MODE_NAMES:
            out.append(Variant(name, mode, mode, recipe(mode, None), shipped=True))
        for mode in ("float32", "int8"):
            tut = lambda m, rep, mode=mode: tutorial_file(m, mode, rep)  # noqa: E731
            out.append(Variant(name, f"{mode} tutorial", mode, tut))
        out += [
            Variant(name, "int8, converter as is", "int8", recipe("int8", Recipe())),
            Variant(name, "dynamic, per-tensor dense", "dynamic", recipe("dynamic", Recipe())),
            Variant(
                name, "dynamic, per-tensor dense + equalize", "dynamic",
                recipe("dynamic", Recipe(equalize=True)),
            ),
            Variant(
                name, "dynamic TF default v12", "dynamic", lambda m, rep: tf_default_dynamic(m)
            ),
        ]  # fmt: skip
    return out


def _timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def tutorial_loop(path: Path, images: np.ndarray) -> tuple[np.ndarray, float]:
    """The tutorials' evaluation: one image at a time through the raw interpreter."""
    from edge.runtime import load_runtime

    interp = load_runtime().interpreter_class(model_path=str(path), num_threads=1)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    scale, zero = inp["quantization"]
    preds = np.empty(len(images), dtype=np.int64)
    t0 = time.perf_counter()
    for i, img in enumerate(images):
        x = img.reshape(inp["shape"])
        if scale:
            x = x / scale + zero
        interp.set_tensor(inp["index"], x.astype(inp["dtype"]))
        interp.invoke()
        preds[i] = np.argmax(interp.get_tensor(out["index"])[0])
    return preds, time.perf_counter() - t0


def build_files(trained: list, rep_images: np.ndarray, folder: Path) -> list[tuple[Variant, Path]]:
    """Every variant of every model, written into ``folder``."""
    from convert import evaluate

    keras_models = {t.name: t.keras for t in trained}
    files = []
    for v in variants(list(keras_models)):
        model = keras_models[v.model]
        rep = evaluate.keras_inputs(model, rep_images) if v.mode == "int8" else None
        slug = v.label.replace(" ", "_").replace(",", "")
        path = folder / f"{v.model}_{slug}.tflite"
        path.write_bytes(v.build(model, rep))
        files.append((v, path))
    return files


def measure(v: Variant, path: Path, times: np.ndarray, ref: np.ndarray, x_test, y_test) -> dict:
    """One row: size, latency, accuracy against Keras, and evaluation throughput (best of 3)."""
    from convert import evaluate, flatbuf, metrics
    from edge.model import open_model

    blob = path.read_bytes()
    ev = evaluate.evaluate_file(path, x_test, check_images=0)
    clf = open_model(path)
    predict_times, loop_times, preds = [], [], None
    for _ in range(3):  # alternated, best of three: the machine is shared
        predict_times.append(_timed(clf.predict, x_test))
        if v.shipped:
            preds, secs = tutorial_loop(path, x_test)
            loop_times.append(secs)
    row = {
        "model": v.model, "file": v.label, "bytes": len(blob),
        "p50_us": float(np.percentile(times, 50)) / 1e3,
        "p90_us": float(np.percentile(times, 90)) / 1e3,
        "ops": len(flatbuf.read_ops(blob)),
        "accuracy": metrics.accuracy(ev.probs, y_test),
        "drift_pp": metrics.drift_pp(ev.probs, ref, y_test),
        "agreement": metrics.agreement(ev.probs, ref),
        "predict_ips": len(x_test) / min(min(predict_times), ev.seconds),
        "host_runtime": ev.runtime,
    }  # fmt: skip
    if v.shipped:
        row["loop_ips"] = len(x_test) / min(loop_times)
        row["loop_agrees_with_predict"] = float(np.mean(preds == ev.probs.argmax(1)))
    return row


def add_device_columns(paths: list[Path], rows: list[dict], x_test, reps: int) -> str | None:
    """tflite-runtime 2.14's latency and whether it loads, per row; returns its version."""
    from convert import compat

    device = compat.check_on_device(
        paths, x_test[:200], python=compat.device_python(None), reps=reps // 2
    )
    for path, row in zip(paths, rows, strict=True):
        d = device.results.get(str(path), {})
        row["tflite_runtime_2_14_p50_us"] = d.get("latency_us_p50")
        row["tflite_runtime_2_14_p90_us"] = d.get("latency_us_p90")
        row["tflite_runtime_2_14_loads"] = d.get("loads")
    return device.runtime


def summarize(rows: list[dict], keras_lat: dict[str, np.ndarray]) -> dict[str, dict]:
    """The ratios per model: int8 vs float32, Keras vs TFLite, predict vs the tutorial loop,
    the shipped dynamic-range file vs TF's default."""
    summary = {}
    for name, lat in keras_lat.items():
        by = {r["file"]: r for r in rows if r["model"] == name}
        k50 = float(np.percentile(lat, 50)) / 1e3
        dev = by["int8"]["tflite_runtime_2_14_p50_us"], by["float32"]["tflite_runtime_2_14_p50_us"]
        tf_default = by["dynamic TF default v12"]
        summary[name] = {
            "int8_over_float32_latency": by["int8"]["p50_us"] / by["float32"]["p50_us"],
            "int8_over_float32_latency_tflite_runtime_2_14": dev[0] / dev[1] if all(dev) else None,
            "tutorial_int8_over_float32_latency": by["int8 tutorial"]["p50_us"]
            / by["float32 tutorial"]["p50_us"],
            "keras_p50_us": k50,
            "keras_over_float32_tflite": k50 / by["float32"]["p50_us"],
            "keras_over_int8_tflite": k50 / by["int8"]["p50_us"],
            "predict_over_tutorial_loop_int8": by["int8"]["predict_ips"] / by["int8"]["loop_ips"],
            "dynamic_shipped_minus_tf_default_drift_pp": by["dynamic"]["drift_pp"]
            - tf_default["drift_pp"],
            "dynamic_shipped_minus_tf_default_agreement_pp": 100
            * (by["dynamic"]["agreement"] - tf_default["agreement"]),
        }
    return summary


def run(artifacts: Path, data: str | None, models: tuple[str, ...], reps: int) -> dict:
    """Build every variant, time and evaluate it on the host and the device; the result."""
    from convert import evaluate
    from convert.export import balanced_sample
    from convert.pipeline import StageOptions, find_models, load_data, load_keras

    opts = StageOptions(artifacts=artifacts, data=data, models=models)
    trained = [load_keras(n, p) for n, p in find_models(opts)]
    _, splits = load_data(data)
    x_test, y_test = splits.x_test, splits.y_test
    rep_images = splits.x_train[balanced_sample(splits.y_train, 1000, 0)]
    with tempfile.TemporaryDirectory(prefix="digit-convert-") as tmp:
        files = build_files(trained, rep_images, Path(tmp))
        paths = [p for _, p in files]
        load_start = os.getloadavg()[0]
        lat = evaluate.interleaved_latency(paths, x_test[0], reps=reps)
        keras_lat = {m.name: evaluate.keras_latency(m.keras, x_test[0], reps=300) for m in trained}
        refs = {m.name: evaluate.keras_probs(m.keras, x_test) for m in trained}
        rows = [
            measure(v, path, times, refs[v.model], x_test, y_test)
            for (v, path), times in zip(files, lat, strict=True)
        ]
        device_runtime = add_device_columns(paths, rows, x_test, reps)
    return {
        "host_runtime": rows[0]["host_runtime"],
        "device_runtime": device_runtime,
        "reps": reps,
        "loadavg": [load_start, os.getloadavg()[0]],
        "rows": rows,
        "summary": summarize(rows, keras_lat),
    }


COLUMNS = ("model", "file", "bytes", "ops", "p50 µs", "p90 µs", "2.14 p50", "2.14 p90", "acc %",
           "drift pp", "agree %", "predict img/s", "loop img/s")  # fmt: skip


def _fmt(v, spec: str) -> str:
    return "—" if v is None else format(v, spec)


def table_row(r: dict) -> list[str]:
    return [
        r["model"], r["file"], f"{r['bytes']:,}", str(r["ops"]),
        f"{r['p50_us']:.1f}", f"{r['p90_us']:.1f}",
        _fmt(r["tflite_runtime_2_14_p50_us"], ".1f") if r["tflite_runtime_2_14_loads"]
        else "won't load", _fmt(r["tflite_runtime_2_14_p90_us"], ".1f"),
        f"{100 * r['accuracy']:.2f}", f"{r['drift_pp']:+.2f}", f"{100 * r['agreement']:.2f}",
        f"{r['predict_ips']:,.0f}", _fmt(r.get("loop_ips"), ",.0f"),
    ]  # fmt: skip


def summary_line(name: str, s: dict) -> str:
    return (
        f"[bold]{name}[/]: int8/float32 latency {s['int8_over_float32_latency']:.2f}x "
        f"(tflite-runtime 2.14: "
        f"{_fmt(s['int8_over_float32_latency_tflite_runtime_2_14'], '.2f')}x; "
        f"tutorial graph: {s['tutorial_int8_over_float32_latency']:.2f}x); "
        f"Keras {s['keras_p50_us']:.0f} µs = {s['keras_over_float32_tflite']:.0f}x float32 "
        f"TFLite, {s['keras_over_int8_tflite']:.0f}x int8; eval predict vs tutorial loop "
        f"{s['predict_over_tutorial_loop_int8']:.1f}x (int8); dynamic as shipped vs TF's "
        f"default (v12): drift {s['dynamic_shipped_minus_tf_default_drift_pp']:+.2f} pp, "
        f"agreement {s['dynamic_shipped_minus_tf_default_agreement_pp']:+.2f} pp"
    )


def render(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if os.isatty(1) else 220)  # files and CI logs: every column
    title = (
        f"convert bench: single image, 1 thread, {result['reps']} runs round-robin "
        f"(host {result['host_runtime']}; device {result['device_runtime']})"
    )
    table = Table(title=title)
    for col in COLUMNS:
        table.add_column(col, justify="left" if col in ("model", "file") else "right", no_wrap=True)
    for r in result["rows"]:
        table.add_row(*table_row(r))
    console.print(table)
    for name, s in result["summary"].items():
        console.print(summary_line(name, s), highlight=False)
    start, end = result["loadavg"]
    console.print(f"load average {start:.2f} -> {end:.2f} on {os.cpu_count()} CPUs", style="dim")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data", metavar="PATH", help="MNIST npz or IDX folder (as digit-convert)")
@click.option(
    "--artifacts",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("artifacts"),
    show_default=True,
)
@click.option("--models", default="lenet,dense", show_default=True)
@click.option(
    "--reps", type=int, default=3000, show_default=True, help="timed single-image runs per file"
)
@click.option("--json", "as_json", is_flag=True, help="print the results as JSON")
def main(data, artifacts, models, reps, as_json) -> None:  # fmt: skip
    """Latency, throughput and speedups of the converted files, measured in one run."""
    from edge.errors import DigitEdgeError
    from edge.quiet import captured_fds

    try:
        with ExitStack() as stack:
            stack.enter_context(captured_fds())
            result = run(artifacts, data, tuple(models.split(",")), reps)
    except DigitEdgeError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        render(result)


if __name__ == "__main__":
    main()
