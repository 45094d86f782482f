"""Pick a TFLite interpreter without importing TensorFlow unless nothing else is installed.

Order of preference: ``tflite-runtime`` (what a Raspberry Pi OS user installs), its maintained
successor ``ai-edge-litert``, and TensorFlow's own ``tf.lite`` only as a last resort.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import warnings
from dataclasses import dataclass
from typing import Any

from edge.errors import RuntimeNotFound


@dataclass(frozen=True)
class RuntimeSpec:
    """One interpreter package: its CLI name, distribution name and module holding ``Interpreter``."""

    name: str
    distribution: str
    module: str


#: The single table of supported interpreters, in order of preference.
RUNTIMES: tuple[RuntimeSpec, ...] = (
    RuntimeSpec("tflite-runtime", "tflite-runtime", "tflite_runtime.interpreter"),
    RuntimeSpec("ai-edge-litert", "ai-edge-litert", "ai_edge_litert.interpreter"),
    RuntimeSpec("tensorflow", "tensorflow", "tensorflow.lite"),
)
RUNTIME_NAMES: tuple[str, ...] = tuple(r.name for r in RUNTIMES)


@dataclass(frozen=True)
class Runtime:
    """A loaded interpreter class and what to report about it."""

    name: str
    version: str
    interpreter_class: Any

    def describe(self) -> str:
        return f"{self.name} {self.version}"


def _version(distribution: str) -> str:
    for dist in (distribution, distribution + "-cpu"):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown"


def _import(spec: RuntimeSpec) -> Any:
    if spec.name == "tensorflow":
        # tf.lite.Interpreter warns that it is deprecated in favour of ai-edge-litert; we only
        # reach it when neither runtime is installed, and say so in --verbose / JSON output.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = importlib.import_module(spec.module)
            return module.Interpreter
    return importlib.import_module(spec.module).Interpreter


def load_runtime(preferred: str | None = None) -> Runtime:
    """Return the first importable interpreter, or exactly ``preferred`` when given."""
    candidates = RUNTIMES
    if preferred is not None:
        candidates = tuple(r for r in RUNTIMES if r.name == preferred)
        if not candidates:
            raise RuntimeNotFound(
                f"unknown runtime {preferred!r}; choose one of {', '.join(RUNTIME_NAMES)}"
            )
    errors = []
    for spec in candidates:
        try:
            cls = _import(spec)
        except Exception as exc:  # ImportError, or tflite-runtime's NumPy 2 ABI failure
            errors.append(f"{spec.name}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
            continue
        return Runtime(spec.name, _version(spec.distribution), cls)
    raise RuntimeNotFound(
        "no TFLite interpreter could be imported ("
        + "; ".join(errors)
        + "); install one with `pip install .[edge]`"
    )
