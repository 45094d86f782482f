"""Pick a TFLite interpreter without importing TensorFlow unless nothing else is installed.

Order of preference: ``tflite-runtime`` (what a Raspberry Pi OS user installs), its maintained
successor ``ai-edge-litert``, and TensorFlow's own ``tf.lite`` only as a last resort.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import warnings
from dataclasses import dataclass
from typing import Any

from edge.errors import RuntimeNotFound


@dataclass(frozen=True)
class RuntimeSpec:
    """One interpreter package: CLI name, distribution name, module holding ``Interpreter``."""

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
class KernelSpec:
    """Which kernels run the graph: a CLI name, the interpreter's ``OpResolverType`` and why."""

    name: str
    op_resolver: str | None  # attribute of the runtime module's OpResolverType; None = its default
    description: str


#: The kernel choices, default first. Integer results differ between them by one quantization
#: step in a few percent of outputs: XNNPACK requantizes with a float scale (round half to even),
#: TFLite's built-in kernels with a fixed-point multiplier and shift (round half away from zero).
#: tflite-runtime 2.14's default delegate takes only float32 ops, so its int8 graphs run on the
#: built-in kernels; ai-edge-litert 2.3 and TensorFlow 2.21 delegate int8 to XNNPACK as well.
KERNELS: tuple[KernelSpec, ...] = (
    KernelSpec("default", None, "the runtime's default: XNNPACK delegate where it applies"),
    KernelSpec(
        "builtin",
        "BUILTIN_WITHOUT_DEFAULT_DELEGATES",
        "TFLite's optimized built-in kernels, no delegate",
    ),
    KernelSpec("reference", "BUILTIN_REF", "TFLite's reference kernels: slow, for debugging"),
)
KERNEL_NAMES: tuple[str, ...] = tuple(k.name for k in KERNELS)


@dataclass(frozen=True)
class Runtime:
    """A loaded interpreter class and what to report about it."""

    name: str
    version: str
    interpreter_class: Any

    def describe(self) -> str:
        return f"{self.name} {self.version}"

    def interpreter_kwargs(self, kernels: str = "default") -> dict[str, Any]:
        """Keyword arguments that make this runtime's ``Interpreter`` use ``kernels``."""
        spec = next((k for k in KERNELS if k.name == kernels), None)
        if spec is None:
            raise RuntimeNotFound(
                f"unknown kernels {kernels!r}; choose one of {', '.join(KERNEL_NAMES)}"
            )
        if spec.op_resolver is None:
            return {}
        module = importlib.import_module(self.interpreter_class.__module__)
        resolver_types = getattr(module, "OpResolverType", None)
        if resolver_types is None or not hasattr(resolver_types, spec.op_resolver):
            raise RuntimeNotFound(f"{self.describe()} cannot select {kernels!r} kernels")
        return {"experimental_op_resolver_type": getattr(resolver_types, spec.op_resolver)}


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
        # `import_module("tensorflow.lite")` returns TF's source package, which has no
        # Interpreter (the public `tf.lite` is an API alias), so go through `tensorflow`. Its
        # C++ start-up chatter on stderr is silenced unless the user asked for it.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        # ... and so is the deprecation warning each Interpreter() emits: we know, and
        # --verbose / the JSON output name the runtime in use.
        warnings.filterwarnings(
            "ignore", category=UserWarning, module="tensorflow.lite.python.interpreter"
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tf = importlib.import_module("tensorflow")
            return tf.lite.Interpreter
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
            errors.append(
                f"{spec.name}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
            )
            continue
        return Runtime(spec.name, _version(spec.distribution), cls)
    # The extra picks the interpreter that suits the Python and NumPy in use; one asked for
    # by name is its own package (`.[edge]` may install the other one).
    hint = "`pip install .[edge]`"
    if preferred is not None:
        hint = f"`pip install {candidates[0].distribution}`"
    raise RuntimeNotFound(
        f"no TFLite interpreter could be imported ({'; '.join(errors)}); install one with {hint}"
    )
