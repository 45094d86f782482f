"""Does each file run on the Raspberry Pi's interpreters? Ask them: load every file in each.

A Pi runs one of two interpreters (``DEVICE_RUNTIMES``): tflite-runtime 2.14 on Raspberry Pi OS
bookworm, checked in ``.venv-edge`` (NumPy 1.x, no TensorFlow), and ai-edge-litert on trixie,
checked in the host environment, which pins the version the Pi installs. A subprocess per
interpreter runs :mod:`convert.devicecheck` on all files at once (about a second); the answers
are merged with the op-version table of :mod:`convert.flatbuf`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from convert.errors import ConvertError

REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_VAR = "DIGIT_EDGE_DEVICE_PYTHON"
DEVICE_RUNTIME = "tflite-runtime"


@dataclass(frozen=True)
class DeviceRuntime:
    """One interpreter a Raspberry Pi runs: its ``edge.runtime`` name, the key of its entry in
    each file's report, the Raspberry Pi OS that installs it (deploy/install.sh), and whether it
    is checked in the device-like environment (``.venv-edge``) or in this one."""

    name: str
    key: str
    pi_os: str
    in_device_env: bool


#: The Pi's interpreters, checked on every converted file: bookworm's, then trixie's.
DEVICE_RUNTIMES: tuple[DeviceRuntime, ...] = (
    DeviceRuntime(DEVICE_RUNTIME, "tflite_runtime_2_14", "Raspberry Pi OS bookworm", True),
    DeviceRuntime("ai-edge-litert", "ai_edge_litert", "Raspberry Pi OS trixie", False),
)


def device_python(option: str | os.PathLike[str] | None = None) -> Path | None:
    """The device-like environment's interpreter: option, then $DIGIT_EDGE_DEVICE_PYTHON, then
    ``.venv-edge/bin/python`` in the checkout; None when none exists."""
    if option and not Path(option).exists():
        raise ConvertError(f"{option}: no such python for the device check (--device-python)")
    for candidate in (option, os.environ.get(ENV_VAR), REPO_ROOT / ".venv-edge" / "bin" / "python"):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    return None


@dataclass
class DeviceReport:
    """What the device-like interpreter said about every file (``results`` keyed by path)."""

    python: Path | None
    ran: bool
    reason: str = ""
    #: The check was started and did not answer (it crashed, hung or said nothing readable):
    #: no file is verified, and a crash is how tflite-runtime 2.14 meets a file it cannot run.
    failed: bool = False
    runtime: str | None = None
    tensorflow_importable: bool | None = None
    results: dict[str, dict] = field(default_factory=dict)


def _why(proc: subprocess.CompletedProcess[str]) -> str:
    """A failed check's last words, or the signal that killed it (a segfault says nothing)."""
    if proc.returncode < 0:
        return f"killed by {signal.Signals(-proc.returncode).name}"
    return (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}, no output"])[-1]


def check_on_device(
    files: list[Path],
    images: np.ndarray,
    *,
    python: Path | None,
    runtime: str = DEVICE_RUNTIME,
    reps: int = 500,
    timeout: float = 180.0,
) -> DeviceReport:
    """Load, run and time ``files`` on ``runtime`` in the environment of ``python``; never
    raises for its failures."""
    if python is None:
        return DeviceReport(None, False, "no device environment (.venv-edge) found")
    with tempfile.TemporaryDirectory(prefix="digit-convert-device-") as tmp:
        np.save(Path(tmp) / "images.npy", np.asarray(images, dtype=np.float32))
        request = {
            "files": [str(f) for f in files],
            "images": str(Path(tmp) / "images.npy"),
            "runtime": runtime,
            "reps": reps,
            "out_dir": tmp,
        }
        (Path(tmp) / "request.json").write_text(json.dumps(request))
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
        try:
            proc = subprocess.run(
                [str(python), "-m", "convert.devicecheck", str(Path(tmp) / "request.json")],
                capture_output=True,
                text=True,
                timeout=timeout,
                env=env,
                cwd=REPO_ROOT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return DeviceReport(python, False, f"{python}: {exc}", failed=True)
        if proc.returncode != 0:
            return DeviceReport(python, False, f"{python} failed: {_why(proc)}", failed=True)
        try:
            answer = json.loads(proc.stdout)
        except json.JSONDecodeError:
            return DeviceReport(python, False, f"{python}: unreadable answer", failed=True)
        results = {r["file"]: r for r in answer["results"]}
        for r in results.values():
            if r.get("probs_file"):
                r["probs"] = np.load(r.pop("probs_file"))
    runtimes = {r.get("runtime") for r in results.values() if r.get("runtime")}
    return DeviceReport(
        python,
        True,
        runtime=", ".join(sorted(runtimes)) or None,
        tensorflow_importable=answer.get("tensorflow_importable"),
        results=results,
    )
