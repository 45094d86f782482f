"""The convert stage end to end: load, convert, evaluate, check on the device runtime, publish.

Nothing is written until everything has been computed: conversions are evaluated from a
staging folder, then every ``.tflite``, manifest, plot and report is written atomically
(``edge.fileio``). A bad input stops the stage before the first write.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from convert import compat, evaluate, flatbuf, metrics
from convert.errors import ConvertError, DriftGateError
from convert.export import balanced_sample, convert
from convert.modes import IO_DTYPES, MODE_NAMES, MODES
from edge.fileio import atomic_write_bytes, sha256_file
from edge.manifest import MNIST_LABELS, MNIST_PREPROCESSING, Manifest, manifest_path
from edge.mnist import Mnist
from edge.model import open_model
from train.data import Splits, load_mnist, split

REPORT_FORMAT = "digit-edge-convert-report/1"

#: Ways to build a file whose merit depends on the trained weights, as ``convert`` keyword
#: arguments, the default first; the stage keeps the one that agrees best with the Keras model
#: on the validation split (docs/convert.md has the measurements behind each).
VALIDATION_CANDIDATES: dict[str, dict[str, dict]] = {
    "int8": {
        "refined": {},  # weight rounding + bias correction + logit range (convert/ptq.py)
        "bias + range": {"rounding": False},  # nearest-rounded weights
        "converter": {"refine": False},
    },
    "dynamic": {
        "conv per-channel": {"conv_dense": True, "equalize_ranges": False},
        "per-tensor + equalize": {"conv_dense": False, "equalize_ranges": True},
        "per-tensor": {"conv_dense": False, "equalize_ranges": False},
    },
}


@dataclass
class StageOptions:
    """Everything ``digit-convert`` can be asked; the defaults are what ``make convert`` runs."""

    artifacts: Path = Path("artifacts")
    data: str | None = None
    models: tuple[str, ...] = ()  # empty: every trained model found
    modes: tuple[str, ...] = MODE_NAMES
    io_dtype: str = "int8"
    representative: int = 1000
    seed: int = 0
    max_drift: float | None = None
    latency_reps: int = 2000
    keras_reps: int = 200
    check_images: int = 10_000
    runtime: str | None = None  # host interpreter for evaluation; None: the edge default order
    device_check: bool = True
    device_python: str | None = None
    plots: bool = True
    #: build the int8 and dynamic files in each of :data:`VALIDATION_CANDIDATES`' ways and keep
    #: the one that agrees best with Keras on the validation split
    choose_on_validation: bool = True

    @property
    def models_dir(self) -> Path:
        return self.artifacts / "models"

    @property
    def tflite_dir(self) -> Path:
        return self.artifacts / "tflite"

    @property
    def report_dir(self) -> Path:
        return self.artifacts / "report"


@dataclass
class TrainedModel:
    name: str
    path: Path
    keras: object
    metrics: dict
    metrics_note: str = ""


@dataclass
class StageResult:
    report: dict
    written: list[Path] = field(default_factory=list)
    gate_failures: list[str] = field(default_factory=list)
    incompatible: list[str] = field(default_factory=list)


# Progress is reported through a callback so the CLI can draw bars and tests can stay quiet.
Progress = Callable[[str, int], Callable[[], None]]


def _no_progress(description: str, total: int) -> Callable[[], None]:
    return lambda: None


# -- validation: everything that can be wrong with the inputs, before any work ---------------


def check_options(opts: StageOptions) -> None:
    unknown = [m for m in opts.modes if m not in MODES]
    if unknown:
        raise ConvertError(f"unknown mode {unknown[0]!r}; choose from {', '.join(MODE_NAMES)}")
    if not opts.modes:
        raise ConvertError("no modes selected")
    if opts.io_dtype not in IO_DTYPES:
        raise ConvertError(
            f"unknown int8 I/O type {opts.io_dtype!r}; choose from {', '.join(IO_DTYPES)}"
        )
    if "int8" in opts.modes and opts.representative <= 0:
        raise ConvertError(
            f"empty representative set (--representative {opts.representative}): int8 needs "
            "calibration images"
        )
    if opts.max_drift is not None and opts.max_drift < 0:
        raise ConvertError(f"--max-drift must be >= 0 percentage points, got {opts.max_drift}")
    if opts.latency_reps < 1:
        raise ConvertError("--latency-reps must be at least 1")


def find_models(opts: StageOptions) -> list[tuple[str, Path]]:
    """(name, path) of the models to convert; unknown names and missing files are errors."""
    from train.models import MODELS

    folder = opts.models_dir
    if opts.models:
        found = []
        for name in opts.models:
            path = folder / f"{name}.keras"
            if not path.is_file():
                if name not in MODELS:
                    raise ConvertError(
                        f"unknown model {name!r}: no {path} and not a registered model "
                        f"({', '.join(MODELS)})"
                    )
                raise ConvertError(f"{path}: no such trained model (run `make train` first)")
            found.append((name, path))
        return found
    found = sorted((p.stem, p) for p in folder.glob("*.keras")) if folder.is_dir() else []
    if not found:
        raise ConvertError(f"{folder}: no trained models (*.keras); run `make train` first")
    order = {name: i for i, name in enumerate(MODELS)}
    return sorted(found, key=lambda item: (order.get(item[0], len(order)), item[0]))


def load_keras(name: str, path: Path) -> TrainedModel:
    """Load a ``.keras`` file and its metrics JSON; a corrupt model is a one-line error."""
    import keras

    if not zipfile.is_zipfile(path):  # Keras would say "File not found" of it
        raise ConvertError(f"{path}: not a readable Keras model (not a .keras zip archive)")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # zip errors, bad JSON config, missing weights...
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConvertError(f"{path}: not a readable Keras model ({reason[:160]})") from None
    shape = tuple(model.inputs[0].shape[1:]) if model.inputs else ()
    if int(np.prod(shape or (0,))) != 28 * 28 or int(np.prod(model.outputs[0].shape[1:])) != 10:
        raise ConvertError(f"{path}: input {shape} / output is not a 28x28 -> 10-class digit model")
    info, note = read_metrics(path.with_name(f"{name}.metrics.json"))
    return TrainedModel(name, path, model, info, note)


def read_metrics(path: Path) -> tuple[dict, str]:
    """The training metrics, defensively: missing or unreadable gives {} and a note."""
    if not path.is_file():
        return {}, f"{path.name} missing"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return {}, f"{path.name} unreadable ({exc})"
    return (raw, "") if isinstance(raw, dict) else ({}, f"{path.name} is not a JSON object")


def load_data(option: str | None) -> tuple[Mnist, Splits]:
    """MNIST and the split training made of it (train.data): validation, calibration pool, test."""
    data = load_mnist(option)
    return data, split(data)


# -- the stage ------------------------------------------------------------------------------


def run(opts: StageOptions, progress: Progress = _no_progress) -> StageResult:
    """Convert, evaluate, check and publish. Raises ConvertError (nothing written) on bad input;
    a failed drift gate is in the result (everything written): see :func:`gate_error`."""
    import keras
    import tensorflow as tf

    started = time.perf_counter()
    load_start = os.getloadavg()
    check_options(opts)
    device_python = compat.device_python(opts.device_python) if opts.device_check else None
    trained = [load_keras(name, path) for name, path in find_models(opts)]
    data, splits = load_data(opts.data)
    x_test, y_test, x_val = splits.x_test, splits.y_test, splits.x_val

    rep_idx = np.empty(0, dtype=np.int64)
    if "int8" in opts.modes:  # indices into the training part (validation never calibrates)
        rep_idx = balanced_sample(splits.y_train, opts.representative, opts.seed)
    rep_images = splits.x_train[rep_idx]

    jobs = [(m, mode) for m in trained for mode in opts.modes]
    files: list[dict] = []
    models: dict[str, dict] = {}
    blobs: dict[str, bytes] = {}
    evals: dict[str, evaluate.FileEval] = {}
    references: dict[str, np.ndarray] = {}
    choices: dict[str, dict] = {}

    with tempfile.TemporaryDirectory(prefix="digit-convert-") as staging:
        stage_dir = Path(staging)
        tick = progress("Keras reference", len(trained))
        for m in trained:
            references[m.name] = evaluate.keras_probs(m.keras, x_test)
            tick()

        tick = progress("Converting", len(jobs))
        for m, mode in jobs:
            rep = evaluate.keras_inputs(m.keras, rep_images) if mode == "int8" else None
            name = f"{m.name}_{mode}.tflite"
            try:
                if opts.choose_on_validation and mode in VALIDATION_CANDIDATES and len(x_val):
                    candidates = {}
                    for key, kwargs in VALIDATION_CANDIDATES[mode].items():
                        if kwargs.get("conv_dense") and not has_dense_on_feature_map(m.keras):
                            continue  # that candidate would be one of the others, misnamed
                        cand = convert(m.keras, mode, rep, opts.io_dtype, **kwargs)
                        if cand not in candidates.values():  # e.g. nothing to rewrite
                            candidates[key] = cand
                    blob, choices[name] = choose_on_validation(
                        candidates, m.keras, x_val, stage_dir, name
                    )
                else:
                    blob = convert(m.keras, mode, representative=rep, io_dtype=opts.io_dtype)
            except ConvertError:
                raise
            except Exception as exc:
                reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise ConvertError(f"{m.path}: {mode} conversion failed ({reason[:200]})") from None
            blobs[name] = blob
            (stage_dir / name).write_bytes(blob)
            tick()

        tick = progress("Evaluating (10,000 images)", len(jobs))
        for name in blobs:
            evals[name] = evaluate.evaluate_file(
                stage_dir / name, x_test, runtime=opts.runtime, check_images=opts.check_images
            )
            tick()

        names = list(blobs)
        tick = progress("Timing (single image)", 1)
        latencies = evaluate.interleaved_latency(
            [stage_dir / n for n in names], x_test[0], reps=opts.latency_reps, runtime=opts.runtime
        )
        tick()
        tick = progress("Timing Keras", len(trained))
        keras_times = {}
        for m in trained:
            keras_times[m.name] = evaluate.keras_latency(m.keras, x_test[0], reps=opts.keras_reps)
            tick()

        device = compat.DeviceReport(None, False, "skipped (--no-device-check)")
        if opts.device_check:
            tick = progress("Loading in tflite-runtime 2.14", 1)
            device = compat.check_on_device(
                [stage_dir / n for n in names],
                x_test,
                python=device_python,
            )
            tick()

        for m in trained:
            keras_acc = metrics.accuracy(references[m.name], y_test)
            models[m.name] = {
                "keras_file": str(m.path),
                "keras_sha256": sha256_file(m.path),
                "keras_bytes": m.path.stat().st_size,
                "params": int(m.keras.count_params()),
                "keras_accuracy": keras_acc,
                "keras_latency_us": metrics.percentiles_us(keras_times[m.name]),
                "keras_latency_method": "model.predict_on_batch, one image",
                "train_seed": m.metrics.get("seed"),
                "train_test_accuracy": _float_or_none(m.metrics.get("test_accuracy")),
                "train_data_sha256": m.metrics.get("data_sha256"),
                "metrics_note": m.metrics_note,
            }

        for (m, mode), name, times in zip(jobs, names, latencies, strict=True):
            ev, blob = evals[name], blobs[name]
            cmp = metrics.compare(ev.probs, references[m.name], y_test)
            ops = flatbuf.read_ops(blob)
            verdict, blockers = flatbuf.table_verdict(ops)
            dev = device.results.get(str(stage_dir / name), {})
            dev_entry: dict = {"checked": device.ran, "runtime": device.runtime}
            if device.ran and dev:
                dev_entry["loads"] = bool(dev.get("loads"))
                dev_entry["error"] = dev.get("error")
                dev_entry["partitions"] = dev.get("partitions")
                dev_entry["latency_us_p50"] = dev.get("latency_us_p50")
                dev_entry["latency_us_p90"] = dev.get("latency_us_p90")
                if dev.get("loads"):
                    d_probs = np.asarray(dev["probs"], dtype=np.float32)
                    d_cmp = metrics.compare(d_probs, references[m.name], y_test)
                    dev_entry["images"] = len(d_probs)
                    dev_entry["accuracy"] = d_cmp.accuracy
                    dev_entry["drift_pp"] = d_cmp.drift_pp
                    dev_entry["agreement"] = d_cmp.agreement
                    dev_entry["agreement_with_host"] = metrics.agreement(d_probs, ev.probs)
                    dev_entry["max_abs_prob_delta_vs_host"] = metrics.max_abs_prob_delta(
                        d_probs, ev.probs
                    )
            else:
                dev_entry["reason"] = device.reason
            runs_on_214 = dev_entry.get("loads") if device.ran else verdict
            files.append(
                {
                    "model": m.name,
                    "mode": mode,
                    "file": name,
                    "io_dtype": opts.io_dtype if MODES[mode].integer_io else "float32",
                    "bytes": len(blob),
                    "sha256": hashlib.sha256(blob).hexdigest(),
                    "size_ratio_vs_float32": None,
                    "input": ev.input,
                    "output": ev.output,
                    **cmp.to_dict(),
                    "latency_us": metrics.percentiles_us(times),
                    "latency_reps": len(times),
                    "throughput_ips": ev.throughput,
                    "eval_seconds": ev.seconds,
                    "batched_vs_single": ev.single_check,
                    "host_runtime": ev.runtime,
                    "host_partitions": ev.partitions,
                    "ops": [{"name": o.name, "version": o.version, "count": o.count} for o in ops],
                    "validation_choice": choices.get(name),
                    "min_runtime_version": flatbuf.min_runtime_version(blob),
                    "tflite_runtime_2_14": {
                        "runs": runs_on_214,
                        "table_verdict": verdict,
                        "table_blockers": blockers,
                        **dev_entry,
                    },
                }
            )

    by_model_f32 = {f["model"]: f["bytes"] for f in files if f["mode"] == "float32"}
    for f in files:
        if f["model"] in by_model_f32:
            f["size_ratio_vs_float32"] = f["bytes"] / by_model_f32[f["model"]]

    gate_failures = drift_gate(files, opts.max_drift)
    incompatible = [
        f"{f['file']} ({f['tflite_runtime_2_14'].get('error') or 'op versions too new'})"
        for f in files
        if f["tflite_runtime_2_14"]["runs"] is False
    ]

    host_runtimes = sorted({ev.runtime for ev in evals.values()})
    report = {
        "format": REPORT_FORMAT,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "interpreter": {
            "host": ", ".join(host_runtimes),
            "device": device.runtime,
            "device_python": str(device.python) if device.python else None,
            "device_check": device.reason if not device.ran else "ran",
            "device_has_tensorflow": device.tensorflow_importable,
            "threads": 1,
        },
        "versions": _versions(tf, keras),
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_start": [round(v, 2) for v in load_start],
            "loadavg_end": [round(v, 2) for v in os.getloadavg()],
        },
        "data": {
            "source": data.source,
            "sha256": data.sha256,
            "verified_canonical": data.verified,
            "test_images": len(y_test),
        },
        "representative": {
            "count": len(rep_idx),
            "seed": opts.seed,
            "drawn_from": f"training images 0..{len(splits.x_train) - 1} "
            "(validation split excluded), balanced across classes",
            "per_class": np.bincount(splits.y_train[rep_idx], minlength=10).tolist(),
        },
        "settings": {
            "modes": list(opts.modes),
            "int8_io_dtype": opts.io_dtype,
            "latency_reps": opts.latency_reps,
            "keras_reps": opts.keras_reps,
            "batched_vs_single_images": opts.check_images,
            "static_batch": 1,
            "max_drift_pp": opts.max_drift,
        },
        "models": models,
        "files": files,
        "gate": {
            "max_drift_pp": opts.max_drift,
            "failed": gate_failures,
            "incompatible_with_tflite_runtime_2_14": incompatible,
        },
    }
    report["wall_seconds_compute"] = round(time.perf_counter() - started, 2)

    written = publish(opts, report, blobs, evals, references, x_test, y_test)
    report["wall_seconds"] = round(time.perf_counter() - started, 2)
    return StageResult(report, written, gate_failures, incompatible)


def has_dense_on_feature_map(model) -> bool:
    """Whether :func:`convert.export.dense_as_conv` has a layer to rewrite in ``model`` (after
    the BatchNorm folding and ReLU reordering ``convert`` does first)."""
    from convert.export import dense_as_conv, fold_batchnorm, relu_before_pool

    return dense_as_conv(relu_before_pool(fold_batchnorm(model)[0])[0])[1] > 0


def choose_on_validation(
    candidates: dict[str, bytes], keras_model, x_val: np.ndarray, folder: Path, name: str
) -> tuple[bytes, dict]:
    """The candidate file that agrees best with the Keras model on the validation images (the
    last 5,000 training images; never the test set): fewest disagreements, then the lowest mean
    Σ|Δp|, then the first listed. Returns its bytes and every candidate's figures."""
    if len(candidates) == 1:
        key, blob = next(iter(candidates.items()))
        return blob, {"images": 0, "chosen": key, "candidates": {}}
    reference = evaluate.keras_probs(keras_model, x_val)
    figures: dict[str, dict] = {}
    for key, blob in candidates.items():
        path = folder / f"validation-{key}-{name}"
        path.write_bytes(blob)
        probs = open_model(path).predict(x_val)
        path.unlink()
        figures[key] = {
            "disagreements": len(metrics.disagreements(probs, reference)),
            "agreement": metrics.agreement(probs, reference),
            "mean_abs_dp": float(np.mean(np.abs(probs - reference).sum(axis=1))),
        }
    order = list(candidates)
    chosen = min(
        order,
        key=lambda k: (figures[k]["disagreements"], figures[k]["mean_abs_dp"], order.index(k)),
    )
    return candidates[chosen], {"images": len(x_val), "chosen": chosen, "candidates": figures}


def drift_gate(files: list[dict], max_drift: float | None) -> list[str]:
    """The quantized files whose |drift| (host, or tflite-runtime 2.14 where measured) exceeds
    ``max_drift`` percentage points, each named with its drift; empty when no limit is set."""
    if max_drift is None:
        return []
    failures = []
    for f in files:
        if not MODES[f["mode"]].quantized:
            continue
        device_drift = f.get("tflite_runtime_2_14", {}).get("drift_pp")
        worst = max(abs(f["drift_pp"]), abs(device_drift or 0.0))
        if worst > max_drift + 1e-9:
            where = f"{f['drift_pp']:+.2f} pp"
            if device_drift is not None and abs(device_drift) > abs(f["drift_pp"]):
                where += f", {device_drift:+.2f} pp on tflite-runtime 2.14"
            failures.append(f"{f['file']} ({where})")
    return failures


def _float_or_none(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _versions(tf, keras) -> dict[str, str | None]:
    import importlib.metadata
    import platform

    def dist(name: str) -> str | None:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    return {
        "python": platform.python_version(),
        "digit-edge": dist("digit-edge"),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "ai-edge-litert": dist("ai-edge-litert"),
    }


def build_manifest(f: dict, report: dict) -> Manifest:
    """The manifest beside one file: everything the device and a deployer need."""
    return Manifest(
        model=f["model"],
        mode=f["mode"],
        file=f["file"],
        sha256=f["sha256"],
        bytes=f["bytes"],
        input={**f["input"], "layout": "NHWC" if len(f["input"]["shape"]) == 4 else "N,784"},
        output={**f["output"], "meaning": "class probabilities (softmax)"},
        labels=list(MNIST_LABELS),
        preprocessing=dict(MNIST_PREPROCESSING),
        accuracy={
            "test_accuracy": f["accuracy"],
            "keras_accuracy": f["reference_accuracy"],
            "drift_pp": f["drift_pp"],
            "agreement": f["agreement"],
            "max_abs_prob_delta": f["max_abs_prob_delta"],
            "test_images": report["data"]["test_images"],
            "data_sha256": report["data"]["sha256"],
            "measured_with": f["host_runtime"],
        },
        compatibility={
            "ops": f["ops"],
            "min_runtime_version": f["min_runtime_version"],
            "tflite_runtime_2_14": f["tflite_runtime_2_14"]["runs"],
            "tflite_runtime_2_14_check": "loaded and run in .venv-edge"
            if f["tflite_runtime_2_14"].get("checked")
            else "op-version table only",
            "xnnpack_partitions": {
                f["host_runtime"]: f["host_partitions"],
                **(
                    {
                        str(f["tflite_runtime_2_14"]["runtime"]): f["tflite_runtime_2_14"].get(
                            "partitions"
                        )
                    }
                    if f["tflite_runtime_2_14"].get("loads")
                    else {}
                ),
            },
            "static_batch": f["input"]["shape"][0],
        },
        producer={
            "tool": "digit-convert",
            "versions": report["versions"],
            "quantization": MODES[f["mode"]].description,
            "io_dtype": f["io_dtype"],
            "representative": (
                {k: report["representative"][k] for k in ("count", "seed", "drawn_from")}
                if f["mode"] == "int8"
                else None
            ),
            "keras_sha256": report["models"][f["model"]]["keras_sha256"],
        },
    )


def publish(opts, report, blobs, evals, references, x_test, y_test) -> list[Path]:
    """Write every output atomically; models and manifests first, then the report."""
    from convert import report as render

    written: list[Path] = []
    for f in report["files"]:
        dest = opts.tflite_dir / f["file"]
        atomic_write_bytes(dest, blobs[f["file"]])
        build_manifest(f, report).write(manifest_path(dest))
        written += [dest, manifest_path(dest)]
    written += render.write_all(
        opts.report_dir, report, evals, references, x_test, y_test, plots=opts.plots
    )
    return written


def gate_error(result: StageResult) -> DriftGateError | None:
    """The failure to exit with after everything is written: drift beyond ``--max-drift``, or a
    file the device's tflite-runtime 2.14 cannot load."""
    problems = []
    if result.gate_failures:
        limit = result.report["gate"]["max_drift_pp"]
        problems.append(f"drift gate ({limit} pp) failed for: {', '.join(result.gate_failures)}")
    if result.incompatible:
        problems.append(f"tflite-runtime 2.14 cannot run: {', '.join(result.incompatible)}")
    return DriftGateError("; ".join(problems)) if problems else None


__all__ = ["StageOptions", "StageResult", "gate_error", "run"]
