"""The convert stage end to end: load, convert, evaluate, check on the device runtime, publish.

Nothing is written until everything has been computed: conversions are evaluated from a
staging folder, then every ``.tflite``, manifest, plot and report is written atomically
(``edge.fileio``). A bad input stops the stage before the first write.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from convert import calibration, compat, evaluate, flatbuf, metrics
from convert.errors import ConvertError, DriftGateError
from convert.export import applies, balanced_sample, convert
from convert.modes import IO_DTYPES, MODE_NAMES, MODES
from convert.results import (
    DeviceResult,
    FileResult,
    Gate,
    ModelResult,
    StageReport,
    build_manifest,
    drift_gate,
    incompatible_files,
    incompatible_with_litert,
)
from edge.fileio import atomic_write_bytes, sha256_file, writable_folder
from edge.manifest import manifest_path
from edge.mnist import Mnist
from edge.model import open_model
from train.data import Splits, load_mnist, split


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
    #: build a file in each of its mode's recipes (convert/modes.py) and keep the one that
    #: agrees best with Keras on the validation split
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
class StageInputs:
    """What the stage reads before any work: the models, MNIST and its split, the calibration
    images (indices into the training part) and the device-like environment's python."""

    trained: list[TrainedModel]
    data: Mnist
    splits: Splits
    rep_idx: np.ndarray
    device_python: Path | None


@dataclass
class Converted:
    """One file built, not yet evaluated; ``choice`` says how validation picked its recipe."""

    model: TrainedModel
    mode: str
    name: str
    blob: bytes
    choice: dict | None


@dataclass
class Measured:
    """The host's figures: each file's evaluation and latency, each model's Keras reference."""

    evals: dict[str, evaluate.FileEval]
    latencies: dict[str, np.ndarray]
    references: dict[str, np.ndarray]
    keras_times: dict[str, np.ndarray]


@dataclass
class StageResult:
    report: StageReport
    written: list[Path] = field(default_factory=list)


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
    calibrated = any(MODES[m].needs_representative_data for m in opts.modes)
    if calibrated and opts.representative <= 0:
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


# -- the stage: convert -> evaluate -> device check -> assemble -> publish --------------------


def run(opts: StageOptions, progress: Progress = _no_progress) -> StageResult:
    """Convert, evaluate, check and publish. Raises ConvertError (nothing written) on bad input;
    a failed gate is in the report (everything written): see :func:`gate_error`."""
    started, load_start = time.perf_counter(), os.getloadavg()
    inputs = read_inputs(opts)
    with tempfile.TemporaryDirectory(prefix="digit-convert-") as staging:
        stage_dir = Path(staging)
        converted = convert_all(opts, inputs, stage_dir, progress)
        measured = evaluate_all(opts, inputs, converted, stage_dir, progress)
        calibrated = calibrate_all(inputs, converted, measured, stage_dir, progress)
        devices = device_check(opts, inputs, converted, stage_dir, progress)
    report = assemble(opts, inputs, converted, measured, devices, load_start)
    report.calibration = calibrated
    report.timings["wall_seconds_compute"] = round(time.perf_counter() - started, 2)
    written = publish(opts, report, inputs.splits)
    report.timings["wall_seconds"] = round(time.perf_counter() - started, 2)
    return StageResult(report, written)


def read_inputs(opts: StageOptions) -> StageInputs:
    """Every input checked and loaded before any work (a bad one is a ConvertError)."""
    check_options(opts)
    python = compat.device_python(opts.device_python) if opts.device_check else None
    trained = [load_keras(name, path) for name, path in find_models(opts)]
    data, splits = load_data(opts.data)
    rep_idx = np.empty(0, dtype=np.int64)
    if any(MODES[m].needs_representative_data for m in opts.modes):
        # indices into the training part: validation never calibrates
        rep_idx = balanced_sample(splits.y_train, opts.representative, opts.seed)
    for folder in (opts.tflite_dir, opts.report_dir):  # now, not after converting
        writable_folder(folder, ConvertError)
    return StageInputs(trained, data, splits, rep_idx, python)


def convert_all(
    opts: StageOptions, inputs: StageInputs, stage_dir: Path, progress: Progress
) -> list[Converted]:
    """Every model in every mode, written into ``stage_dir`` for the evaluation."""
    rep_images = inputs.splits.x_train[inputs.rep_idx]
    jobs = [(m, mode) for m in inputs.trained for mode in opts.modes]
    tick = progress("Converting", len(jobs))
    converted = []
    for m, mode in jobs:
        name = f"{m.name}_{mode}.tflite"
        rep = None
        if MODES[mode].needs_representative_data:
            rep = evaluate.keras_inputs(m.keras, rep_images)
        try:
            blob, choice = build_file(opts, m, mode, rep, inputs.splits.x_val, stage_dir)
        except ConvertError:
            raise
        except Exception as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ConvertError(f"{m.path}: {mode} conversion failed ({reason[:200]})") from None
        (stage_dir / name).write_bytes(blob)
        converted.append(Converted(m, mode, name, blob, choice))
        tick()
    return converted


def build_file(
    opts: StageOptions,
    m: TrainedModel,
    mode: str,
    rep: np.ndarray | None,
    x_val: np.ndarray,
    folder: Path,
) -> tuple[bytes, dict | None]:
    """One file in ``mode``: its default recipe, or, where the mode has several and validation
    images exist, the recipe :func:`choose_on_validation` keeps (and its figures)."""
    recipes = [(key, r) for key, r in MODES[mode].recipes if applies(r, m.keras)]
    if not (opts.choose_on_validation and len(MODES[mode].recipes) > 1 and len(x_val)):
        return convert(m.keras, mode, rep, opts.io_dtype, recipes[0][1]), None
    candidates: dict[str, bytes] = {}
    for key, recipe in recipes:
        blob = convert(m.keras, mode, rep, opts.io_dtype, recipe)
        if blob not in candidates.values():  # e.g. nothing to rewrite
            candidates[key] = blob
    return choose_on_validation(candidates, m.keras, x_val, folder, f"{m.name}_{mode}.tflite")


def evaluate_all(
    opts: StageOptions,
    inputs: StageInputs,
    converted: list[Converted],
    stage_dir: Path,
    progress: Progress,
) -> Measured:
    """Keras references, every file through the edge runtime, single-image latencies."""
    x_test = inputs.splits.x_test
    tick = progress("Keras reference", len(inputs.trained))
    references = {}
    for m in inputs.trained:
        references[m.name] = evaluate.keras_probs(m.keras, x_test)
        tick()
    tick = progress("Evaluating (10,000 images)", len(converted))
    evals = {}
    for c in converted:
        evals[c.name] = evaluate.evaluate_file(
            stage_dir / c.name, x_test, runtime=opts.runtime, check_images=opts.check_images
        )
        tick()
    tick = progress("Timing (single image)", 1)
    paths = [stage_dir / c.name for c in converted]
    times = evaluate.interleaved_latency(
        paths, x_test[0], reps=opts.latency_reps, runtime=opts.runtime
    )
    latencies = {c.name: t for c, t in zip(converted, times, strict=True)}
    tick()
    tick = progress("Timing Keras", len(inputs.trained))
    keras_times = {}
    for m in inputs.trained:
        keras_times[m.name] = evaluate.keras_latency(m.keras, x_test[0], reps=opts.keras_reps)
        tick()
    return Measured(evals, latencies, references, keras_times)


def calibrate_all(
    inputs: StageInputs,
    converted: list[Converted],
    measured: Measured,
    stage_dir: Path,
    progress: Progress,
) -> dict:
    """The calibration section: temperatures and thresholds from training (validation data),
    ECE before/after and the threshold's effect per file (convert/calibration.py)."""
    tick = progress("Calibration and coverage", len(converted))
    return calibration.measure(
        [(c.model.name, c.name, stage_dir / c.name) for c in converted],
        {m.name: m.metrics for m in inputs.trained},
        {m.name: normalize_stroke(m.metrics) for m in inputs.trained},
        {c.name: measured.evals[c.name].probs for c in converted},
        inputs.data.x_test,
        inputs.splits.y_test,
        tick,
    )


def normalize_stroke(metrics: dict) -> float:
    """The stroke target of the device normalisation the model was trained for (its recipe);
    models trained before recipes had one were trained for the default."""
    from edge.normalize import DEFAULT_OPTIONS

    stroke = (metrics.get("recipe") or {}).get("normalize_stroke")
    return DEFAULT_OPTIONS.stroke if stroke is None else float(stroke)


#: One interpreter's check: its report, and its answer for each file by file name.
Checked = tuple[compat.DeviceReport, dict[str, dict]]


def device_check(
    opts: StageOptions,
    inputs: StageInputs,
    converted: list[Converted],
    stage_dir: Path,
    progress: Progress,
) -> dict[str, Checked]:
    """Every file loaded and run on each interpreter a Pi runs (``compat.DEVICE_RUNTIMES``, by
    key): tflite-runtime in the device-like environment, ai-edge-litert in this one, which pins
    the version Raspberry Pi OS trixie gets."""
    if not opts.device_check:
        skipped = compat.DeviceReport(None, False, "skipped (--no-device-check)")
        return {rt.key: (skipped, {}) for rt in compat.DEVICE_RUNTIMES}
    tick = progress("Loading in the Pi's interpreters", len(compat.DEVICE_RUNTIMES))
    paths = [stage_dir / c.name for c in converted]
    checked = {}
    for rt in compat.DEVICE_RUNTIMES:
        python = inputs.device_python if rt.in_device_env else Path(sys.executable)
        device = compat.check_on_device(paths, inputs.splits.x_test, python=python, runtime=rt.name)
        answers = {c.name: device.results.get(str(stage_dir / c.name), {}) for c in converted}
        checked[rt.key] = device, answers
        tick()
    return checked


def assemble(
    opts: StageOptions,
    inputs: StageInputs,
    converted: list[Converted],
    measured: Measured,
    devices: dict[str, Checked],
    load_start: tuple[float, float, float],
) -> StageReport:
    """The typed report: a result per model and per file, the run's context, the gate."""
    y_test = inputs.splits.y_test
    models = {
        m.name: model_result(m, measured.references[m.name], y_test, measured.keras_times[m.name])
        for m in inputs.trained
    }
    files = [file_result(opts, c, measured, devices, y_test) for c in converted]
    float_bytes = {f.model: f.bytes for f in files if f.mode == "float32"}
    for f in files:
        if f.model in float_bytes:
            f.size_ratio_vs_float32 = f.bytes / float_bytes[f.model]
    gate = Gate(
        opts.max_drift,
        drift_gate(files, opts.max_drift),
        incompatible_files(files),
        incompatible_with_litert(files),
        [device.reason for device, _ in devices.values() if device.failed],
    )
    header = run_header(opts, inputs, measured, devices, load_start)
    return StageReport(header, models, files, gate)


def model_result(
    m: TrainedModel, reference: np.ndarray, y_test: np.ndarray, keras_times: np.ndarray
) -> ModelResult:
    return ModelResult(
        keras_file=str(m.path),
        keras_sha256=sha256_file(m.path),
        keras_bytes=m.path.stat().st_size,
        params=int(m.keras.count_params()),
        keras_accuracy=metrics.accuracy(reference, y_test),
        keras_latency_us=metrics.percentiles_us(keras_times),
        train_seed=m.metrics.get("seed"),
        train_test_accuracy=_float_or_none(m.metrics.get("test_accuracy")),
        train_data_sha256=(m.metrics.get("data") or {}).get("sha256"),
        metrics_note=m.metrics_note,
        normalize_stroke=normalize_stroke(m.metrics),
        probs=reference,
    )


def file_result(
    opts: StageOptions,
    c: Converted,
    measured: Measured,
    devices: dict[str, Checked],
    y_test: np.ndarray,
) -> FileResult:
    ev, times = measured.evals[c.name], measured.latencies[c.name]
    reference = measured.references[c.model.name]
    ops = flatbuf.read_ops(c.blob)
    (device, answers), (litert, litert_answers) = (
        devices["tflite_runtime_2_14"],
        devices["ai_edge_litert"],
    )
    return FileResult(
        model=c.model.name,
        mode=c.mode,
        file=c.name,
        io_dtype=opts.io_dtype if MODES[c.mode].integer_io else "float32",
        sha256=hashlib.sha256(c.blob).hexdigest(),
        input=ev.input,
        output=ev.output,
        comparison=metrics.compare(ev.probs, reference, y_test),
        latency_us=metrics.percentiles_us(times),
        latency_reps=len(times),
        throughput_ips=ev.throughput,
        eval_seconds=ev.seconds,
        batched_vs_single=ev.single_check,
        host_runtime=ev.runtime,
        ops=ops,
        validation_choice=c.choice,
        min_runtime_version=flatbuf.min_runtime_version(c.blob),
        device=device_result(device, answers.get(c.name, {}), ops, ev.probs, reference, y_test),
        litert=device_result(
            litert, litert_answers.get(c.name, {}), None, ev.probs, reference, y_test
        ),
        blob=c.blob,
        probs=ev.probs,
    )


def device_result(
    device: compat.DeviceReport,
    answer: dict,
    ops: list[flatbuf.OpInfo] | None,
    host_probs: np.ndarray,
    reference: np.ndarray,
    y_test: np.ndarray,
) -> DeviceResult:
    """One file on one of the Pi's interpreters: the interpreter's answer where it was asked,
    else tflite-runtime 2.14's op-version table when given ``ops`` (none exists for others)."""
    verdict, blockers = flatbuf.table_verdict(ops) if ops is not None else (None, [])
    result = DeviceResult(
        runs=verdict, table_verdict=verdict, table_blockers=blockers,
        checked=device.ran, runtime=device.runtime,
    )  # fmt: skip
    if not (device.ran and answer):
        result.reason = device.reason
        return result
    result.runs = result.loads = bool(answer.get("loads"))
    result.error = answer.get("error")
    result.latency_us_p50 = answer.get("latency_us_p50")
    result.latency_us_p90 = answer.get("latency_us_p90")
    if result.loads:
        probs = np.asarray(answer["probs"], dtype=np.float32)
        cmp = metrics.compare(probs, reference, y_test)
        result.images, result.accuracy = len(probs), cmp.accuracy
        result.drift_pp, result.agreement = cmp.drift_pp, cmp.agreement
        result.agreement_with_host = metrics.agreement(probs, host_probs)
        result.max_abs_prob_delta_vs_host = metrics.max_abs_prob_delta(probs, host_probs)
    return result


def run_header(
    opts: StageOptions,
    inputs: StageInputs,
    measured: Measured,
    devices: dict[str, Checked],
    load_start: tuple[float, float, float],
) -> dict:
    """The report's context: interpreters, versions, machine, data, calibration, settings."""
    import keras
    import tensorflow as tf

    splits, rep_idx, data = inputs.splits, inputs.rep_idx, inputs.data
    device, litert = devices["tflite_runtime_2_14"][0], devices["ai_edge_litert"][0]
    return {
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "interpreter": {
            "host": ", ".join(sorted({ev.runtime for ev in measured.evals.values()})),
            "device": device.runtime,
            "device_python": str(device.python) if device.python else None,
            "device_check": device.reason if not device.ran else "ran",
            "device_has_tensorflow": device.tensorflow_importable,
            "device_trixie": litert.runtime,
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
            "test_images": len(splits.y_test),
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
    }


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


def publish(opts: StageOptions, report: StageReport, splits: Splits) -> list[Path]:
    """Write every output atomically; models and manifests first, then the report."""
    from convert import report as render

    written: list[Path] = []
    for f in report.files:
        dest = opts.tflite_dir / f.file
        atomic_write_bytes(dest, f.blob)
        build_manifest(f, report).write(manifest_path(dest))
        written += [dest, manifest_path(dest)]
    written += render.write_all(
        opts.report_dir, report, splits.x_test, splits.y_test, plots=opts.plots
    )
    return written


def gate_error(result: StageResult) -> DriftGateError | None:
    """The failure to exit with after everything is written: drift beyond ``--max-drift``, or a
    file one of the Pi's interpreters (tflite-runtime 2.14, ai-edge-litert) cannot load."""
    gate, problems = result.report.gate, []
    if gate.failed:
        problems.append(f"drift gate ({gate.max_drift_pp} pp) failed for: {', '.join(gate.failed)}")
    if gate.incompatible:
        problems.append(f"tflite-runtime 2.14 cannot run: {', '.join(gate.incompatible)}")
    if gate.incompatible_litert:
        problems.append(f"ai-edge-litert cannot run: {', '.join(gate.incompatible_litert)}")
    if gate.unverified:
        problems.append(f"the device check did not answer: {'; '.join(gate.unverified)}")
    return DriftGateError("; ".join(problems)) if problems else None


__all__ = ["StageOptions", "StageResult", "gate_error", "run"]
