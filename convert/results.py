"""What the convert stage found, as types: one :class:`FileResult` per ``.tflite``, one
:class:`ModelResult` per Keras model, and the :class:`StageReport` around them.

The manifests, ``report.json``, the Markdown and terminal reports and the drift gate all read
these attributes; ``to_dict`` gives the ``report.json`` form (schema: docs/convert.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convert import calibration
from convert.flatbuf import OpInfo
from convert.metrics import Comparison
from convert.modes import MODES
from edge.manifest import MNIST_LABELS, MNIST_PREPROCESSING, Manifest

REPORT_FORMAT = "digit-edge-convert-report/2"
DEVICE_RUNTIME_LABEL = "tflite-runtime 2.14"


@dataclass
class DeviceResult:
    """One file on the device's interpreter (tflite-runtime 2.14 in ``.venv-edge``).

    ``runs`` is the answer: the interpreter's own where it was asked (``checked``), else the
    op-version table's (``table_verdict``; None where the table does not know an operator).
    """

    runs: bool | None
    table_verdict: bool | None
    table_blockers: list[str]
    checked: bool
    runtime: str | None
    reason: str | None = None  # why it was not checked
    loads: bool | None = None
    error: str | None = None
    latency_us_p50: float | None = None
    latency_us_p90: float | None = None
    images: int | None = None
    accuracy: float | None = None
    drift_pp: float | None = None
    agreement: float | None = None
    agreement_with_host: float | None = None
    max_abs_prob_delta_vs_host: float | None = None


@dataclass
class FileResult:
    """One converted file: how it was made, what it predicts, how fast, where it runs."""

    model: str
    mode: str
    file: str
    io_dtype: str
    sha256: str
    input: dict[str, Any]
    output: dict[str, Any]
    comparison: Comparison  # against the Keras model on the test set
    latency_us: dict[str, float]
    latency_reps: int
    throughput_ips: float
    eval_seconds: float
    batched_vs_single: dict[str, Any]
    host_runtime: str
    ops: list[OpInfo]
    validation_choice: dict[str, Any] | None
    min_runtime_version: str | None
    device: DeviceResult
    litert: DeviceResult | None = None  # the same on ai-edge-litert (Pi OS trixie's interpreter)
    size_ratio_vs_float32: float | None = None
    blob: bytes = field(default=b"", repr=False)  # the file's bytes
    probs: np.ndarray | None = field(default=None, repr=False)  # host probabilities, test set

    @property
    def bytes(self) -> int:
        return len(self.blob)

    @property
    def quantized(self) -> bool:
        return MODES[self.mode].quantized

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "mode": self.mode,
            "file": self.file,
            "io_dtype": self.io_dtype,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "size_ratio_vs_float32": self.size_ratio_vs_float32,
            "input": self.input,
            "output": self.output,
            **self.comparison.to_dict(),
            "latency_us": self.latency_us,
            "latency_reps": self.latency_reps,
            "throughput_ips": self.throughput_ips,
            "eval_seconds": self.eval_seconds,
            "batched_vs_single": self.batched_vs_single,
            "host_runtime": self.host_runtime,
            "ops": [{"name": o.name, "version": o.version, "count": o.count} for o in self.ops],
            "validation_choice": self.validation_choice,
            "min_runtime_version": self.min_runtime_version,
            "tflite_runtime_2_14": asdict(self.device),
            "ai_edge_litert": asdict(self.litert) if self.litert else None,
        }


@dataclass
class ModelResult:
    """One Keras model: the float reference every file of it is compared with."""

    keras_file: str
    keras_sha256: str
    keras_bytes: int
    params: int
    keras_accuracy: float
    keras_latency_us: dict[str, float]
    train_seed: int | None
    train_test_accuracy: float | None
    train_data_sha256: Any
    metrics_note: str
    #: the device normalisation's stroke target the model was trained for (its manifest's)
    normalize_stroke: float = 1.5
    probs: np.ndarray | None = field(default=None, repr=False)  # Keras probabilities, test set

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "probs"}
        out["keras_latency_method"] = "model.predict_on_batch, one image"
        return out


@dataclass
class Gate:
    """What fails the stage after everything is written (exit 3)."""

    max_drift_pp: float | None
    failed: list[str]  # files beyond max_drift_pp, each with its drift
    incompatible: list[str]  # files the device's tflite-runtime 2.14 cannot run
    incompatible_litert: list[str] = field(default_factory=list)  # ... ai-edge-litert cannot
    unverified: list[str] = field(default_factory=list)  # device checks that did not answer

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_drift_pp": self.max_drift_pp,
            "failed": self.failed,
            "incompatible_with_tflite_runtime_2_14": self.incompatible,
            "incompatible_with_ai_edge_litert": self.incompatible_litert,
            "device_checks_failed": self.unverified,
        }


@dataclass
class StageReport:
    """Everything ``report.json`` holds; ``header`` is the run's context (interpreters,
    versions, machine, data, calibration set, settings), the rest its results."""

    header: dict[str, Any]
    models: dict[str, ModelResult]
    files: list[FileResult]
    gate: Gate
    timings: dict[str, float] = field(default_factory=dict)  # wall_seconds_*
    #: temperatures, thresholds, ECE and coverage per file (convert/calibration.py)
    calibration: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            **self.header,
            "models": {name: m.to_dict() for name, m in self.models.items()},
            "files": [f.to_dict() for f in self.files],
            "gate": self.gate.to_dict(),
            "calibration": self.calibration,
            **self.timings,
        }


def drift_gate(files: list[FileResult], max_drift: float | None) -> list[str]:
    """The quantized files whose |drift| (host, or tflite-runtime 2.14 where measured) exceeds
    ``max_drift`` percentage points, each named with its drift; empty when no limit is set."""
    if max_drift is None:
        return []
    failures = []
    for f in files:
        if not f.quantized:
            continue
        host, device = f.comparison.drift_pp, f.device.drift_pp
        if max(abs(host), abs(device or 0.0)) > max_drift + 1e-9:
            where = f"{host:+.2f} pp"
            if device is not None and abs(device) > abs(host):
                where += f", {device:+.2f} pp on {DEVICE_RUNTIME_LABEL}"
            failures.append(f"{f.file} ({where})")
    return failures


def incompatible_files(files: list[FileResult]) -> list[str]:
    """The files the device cannot run, each with the interpreter's reason (or the table's)."""
    return [
        f"{f.file} ({f.device.error or 'op versions too new'})"
        for f in files
        if f.device.runs is False
    ]


def incompatible_with_litert(files: list[FileResult]) -> list[str]:
    """The files ai-edge-litert (Raspberry Pi OS trixie's interpreter) cannot run, and why."""
    return [f"{f.file} ({f.litert.error})" for f in files if f.litert and f.litert.runs is False]


def build_manifest(f: FileResult, report: StageReport) -> Manifest:
    """The manifest beside one file: everything the device and a deployer need."""
    header, c = report.header, f.comparison
    return Manifest(
        model=f.model,
        mode=f.mode,
        file=f.file,
        sha256=f.sha256,
        bytes=f.bytes,
        input={**f.input, "layout": "NHWC" if len(f.input["shape"]) == 4 else "N,784"},
        output={**f.output, "meaning": "class probabilities (softmax)"},
        labels=list(MNIST_LABELS),
        preprocessing={
            **MNIST_PREPROCESSING,
            "stroke": report.models[f.model].normalize_stroke,
        },
        accuracy={
            "test_accuracy": c.accuracy,
            "keras_accuracy": c.reference_accuracy,
            "drift_pp": c.drift_pp,
            "agreement": c.agreement,
            "max_abs_prob_delta": c.max_abs_prob_delta,
            "test_images": header["data"]["test_images"],
            "data_sha256": header["data"]["sha256"],
            "measured_with": f.host_runtime,
        },
        compatibility={
            "ops": f.to_dict()["ops"],
            "min_runtime_version": f.min_runtime_version,
            "tflite_runtime_2_14": f.device.runs,
            "tflite_runtime_2_14_check": "loaded and run in .venv-edge"
            if f.device.checked
            else "op-version table only",
            "ai_edge_litert": f.litert.runs if f.litert else None,
            "ai_edge_litert_version": f.litert.runtime if f.litert else None,
            "static_batch": f.input["shape"][0],
        },
        producer={
            "tool": "digit-convert",
            "versions": header["versions"],
            "quantization": MODES[f.mode].description,
            "io_dtype": f.io_dtype,
            "representative": (
                {k: header["representative"][k] for k in ("count", "seed", "drawn_from")}
                if MODES[f.mode].needs_representative_data
                else None
            ),
            "keras_sha256": report.models[f.model].keras_sha256,
        },
        calibration=calibration.for_manifest(report.calibration, f.model, f.file),
    )


def json_default(value: Any) -> Any:
    """What ``json.dumps`` cannot write by itself: NumPy scalars and paths."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
