"""``python -m convert.bench``: the convert stage's speed figures, every number from one run.

- single-image latency p50/p90 of every file side by side (one thread, warm-up excluded,
  measured round-robin so all files see the same machine load), on the host interpreter and
  on tflite-runtime 2.14 (``.venv-edge``), with the int8/float32 ratio per model;
- the tutorial graph (``from_keras_model`` as is: dynamic batch, BatchNorm left, names kept;
  rows "... tutorial") beside the shipped one, with its XNNPACK partition count;
- evaluation throughputs are the best of three passes (the machine is shared);
- Keras single-image latency and the TFLite speedup over it;
- evaluation throughput over the same 10,000 test images: ``DigitClassifier.predict`` (what
  the stage uses) vs the tutorials' one-image Python loop on the raw interpreter;
- the accuracy cost of the tflite-runtime 2.14 fix: TF 2.21's default dynamic-range (per-channel
  dense weights, FULLY_CONNECTED v12: row "dynamic TF default v12") vs per-tensor (v9) without
  and with range equalization (rows "dynamic, per-tensor dense ...") vs the CNN's dense layer
  as a per-channel convolution (what ships: row "dynamic");
- int8 as the converter writes it (row "int8, converter as is") vs bias-corrected with a chosen
  logit range (what ships unless validation prefers the former: row "int8").

Not part of the tests. Reads ``<artifacts>/models/*.keras``; the files it converts live in a
temporary folder removed at the end; writes nothing else.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import click
import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


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
    from rich.console import Console
    from rich.table import Table

    from convert import compat, evaluate, flatbuf, metrics
    from convert.export import balanced_sample, convert
    from convert.modes import MODE_NAMES
    from convert.pipeline import StageOptions, find_models, load_data, load_keras
    from edge.errors import DigitEdgeError
    from edge.model import open_model
    from edge.quiet import captured_fds

    console = Console(
        width=None if os.isatty(1) else 220
    )  # files and CI logs: wide enough for every column
    try:
        with ExitStack() as stack:
            stack.enter_context(captured_fds())
            opts = StageOptions(artifacts=artifacts, data=data, models=tuple(models.split(",")))
            trained = [load_keras(n, p) for n, p in find_models(opts)]
            _, splits = load_data(data)
            x_test, y_test = splits.x_test, splits.y_test
            rep_images = splits.x_train[balanced_sample(splits.y_train, 1000, 0)]
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="digit-convert-")))
            variants: list[tuple[str, str, str, dict]] = []  # (model, label, mode, kwargs)
            for m in trained:
                for mode in MODE_NAMES:
                    variants.append((m.name, mode, mode, {}))
                for mode in ("float32", "int8"):
                    tut = {"batch": None, "fold": False, "strip": False, "refine": False}
                    variants.append((m.name, f"{mode} tutorial", mode, tut))
                variants.append((m.name, "int8, converter as is", "int8", {"refine": False}))
                per_tensor = {"conv_dense": False, "equalize_ranges": False}
                variants.append((m.name, "dynamic, per-tensor dense", "dynamic", per_tensor))
                label = "dynamic, per-tensor dense + equalize"
                variants.append((m.name, label, "dynamic", {"conv_dense": False}))
                tf_default = {"per_channel_dense": True, "equalize_ranges": False}
                variants.append((m.name, "dynamic TF default v12", "dynamic", tf_default))
            paths, blobs = [], {}
            for name, label, mode, kwargs in variants:
                model = next(t for t in trained if t.name == name).keras
                rep = evaluate.keras_inputs(model, rep_images) if mode == "int8" else None
                blob = convert(model, mode, representative=rep, **kwargs)
                path = (
                    tmp
                    / f"{name}_{label.replace(' ', '_').replace('(', '').replace(')', '')}.tflite"
                )
                path.write_bytes(blob)
                paths.append(path)
                blobs[path] = blob
            load_start = os.getloadavg()[0]
            lat = evaluate.interleaved_latency(paths, x_test[0], reps=reps)
            keras_lat = {
                m.name: evaluate.keras_latency(m.keras, x_test[0], reps=300) for m in trained
            }
            refs = {m.name: evaluate.keras_probs(m.keras, x_test) for m in trained}
            rows = []
            for (name, label, _, kwargs), path, times in zip(variants, paths, lat, strict=True):
                ev = evaluate.evaluate_file(path, x_test, check_images=0)
                clf = open_model(path)
                predict_times, loop_times, preds = [], [], None
                for _ in range(3):  # alternated, best of three: the machine is shared
                    predict_times.append(_timed(clf.predict, x_test))
                    if not kwargs:
                        preds, secs = tutorial_loop(path, x_test)
                        loop_times.append(secs)
                predict_s = min(predict_times)
                row = {
                    "model": name, "file": label, "bytes": len(blobs[path]),
                    "p50_us": float(np.percentile(times, 50)) / 1e3,
                    "p90_us": float(np.percentile(times, 90)) / 1e3,
                    "partitions": ev.partitions,
                    "ops": len(flatbuf.read_ops(blobs[path])),
                    "accuracy": metrics.accuracy(ev.probs, y_test),
                    "drift_pp": metrics.drift_pp(ev.probs, refs[name], y_test),
                    "agreement": metrics.agreement(ev.probs, refs[name]),
                    "predict_ips": len(x_test) / min(predict_s, ev.seconds),
                }  # fmt: skip
                if not kwargs:
                    row["loop_ips"] = len(x_test) / min(loop_times)
                    row["loop_agrees_with_predict"] = float(np.mean(preds == ev.probs.argmax(1)))
                rows.append(row)
            device = compat.check_on_device(
                paths, x_test[:200], python=compat.device_python(None), reps=reps // 2
            )
            for path, row in zip(paths, rows, strict=True):
                d = device.results.get(str(path), {})
                row["tflite_runtime_2_14_p50_us"] = d.get("latency_us_p50")
                row["tflite_runtime_2_14_p90_us"] = d.get("latency_us_p90")
                row["tflite_runtime_2_14_loads"] = d.get("loads")
                row["tflite_runtime_2_14_partitions"] = d.get("partitions")
            load_end = os.getloadavg()[0]
    except DigitEdgeError as exc:
        raise click.ClickException(str(exc)) from None

    summary = {}
    for m in trained:
        by = {r["file"]: r for r in rows if r["model"] == m.name}
        k50 = float(np.percentile(keras_lat[m.name], 50)) / 1e3
        dev = by["int8"]["tflite_runtime_2_14_p50_us"], by["float32"]["tflite_runtime_2_14_p50_us"]
        summary[m.name] = {
            "int8_over_float32_latency": by["int8"]["p50_us"] / by["float32"]["p50_us"],
            "int8_over_float32_latency_tflite_runtime_2_14": dev[0] / dev[1] if all(dev) else None,
            "tutorial_int8_over_float32_latency": by["int8 tutorial"]["p50_us"]
            / by["float32 tutorial"]["p50_us"],
            "keras_p50_us": k50,
            "keras_over_float32_tflite": k50 / by["float32"]["p50_us"],
            "keras_over_int8_tflite": k50 / by["int8"]["p50_us"],
            "predict_over_tutorial_loop_int8": by["int8"]["predict_ips"] / by["int8"]["loop_ips"],
            "dynamic_shipped_minus_tf_default_drift_pp": by["dynamic"]["drift_pp"]
            - by["dynamic TF default v12"]["drift_pp"],
            "dynamic_shipped_minus_tf_default_agreement_pp": 100
            * (by["dynamic"]["agreement"] - by["dynamic TF default v12"]["agreement"]),
        }
    result = {
        "host_runtime": ev.runtime,
        "device_runtime": device.runtime,
        "reps": reps,
        "loadavg": [load_start, load_end],
        "rows": rows,
        "summary": summary,
    }
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    table = Table(title=f"convert bench: single image, 1 thread, {reps} runs round-robin "
                  f"(host {ev.runtime}; device {device.runtime})")  # fmt: skip
    for col in (
        "model",
        "file",
        "bytes",
        "ops",
        "XNN",
        "p50 µs",
        "p90 µs",
        "2.14 p50",
        "2.14 p90",
        "acc %",
        "drift pp",
        "agree %",
        "predict img/s",
        "loop img/s",
    ):
        table.add_column(col, justify="left" if col in ("model", "file") else "right", no_wrap=True)
    fmt = lambda v, s: "—" if v is None else format(v, s)  # noqa: E731
    for r in rows:
        table.add_row(
            r["model"], r["file"], f"{r['bytes']:,}", str(r["ops"]),
            f"{fmt(r['partitions'], 'd')}/{fmt(r['tflite_runtime_2_14_partitions'], 'd')}",
            f"{r['p50_us']:.1f}", f"{r['p90_us']:.1f}",
            fmt(r["tflite_runtime_2_14_p50_us"], ".1f") if r["tflite_runtime_2_14_loads"]
            else "won't load", fmt(r["tflite_runtime_2_14_p90_us"], ".1f"),
            f"{100 * r['accuracy']:.2f}", f"{r['drift_pp']:+.2f}", f"{100 * r['agreement']:.2f}",
            f"{r['predict_ips']:,.0f}", fmt(r.get("loop_ips"), ",.0f"),
        )  # fmt: skip
    console.print(table)
    for name, s in summary.items():
        console.print(
            f"[bold]{name}[/]: int8/float32 latency {s['int8_over_float32_latency']:.2f}x "
            f"(tflite-runtime 2.14: "
            f"{fmt(s['int8_over_float32_latency_tflite_runtime_2_14'], '.2f')}x; "
            f"tutorial graph: {s['tutorial_int8_over_float32_latency']:.2f}x); "
            f"Keras {s['keras_p50_us']:.0f} µs = {s['keras_over_float32_tflite']:.0f}x float32 "
            f"TFLite, {s['keras_over_int8_tflite']:.0f}x int8; eval predict vs tutorial loop "
            f"{s['predict_over_tutorial_loop_int8']:.1f}x (int8); dynamic as shipped vs TF's "
            f"default (v12): drift {s['dynamic_shipped_minus_tf_default_drift_pp']:+.2f} pp, "
            f"agreement {s['dynamic_shipped_minus_tf_default_agreement_pp']:+.2f} pp",
            highlight=False,
        )
    console.print(f"load average {load_start:.2f} -> {load_end:.2f} on {os.cpu_count()} CPUs",
                  style="dim")  # fmt: skip


if __name__ == "__main__":
    main()
