"""Read what a ``.tflite`` needs from an interpreter: its operators, their versions, metadata.

The device runs tflite-runtime 2.14, the last release of that package. A file loads there only
if every builtin operator's version is one 2.14 registers. The authoritative check is loading the
file in that interpreter (:mod:`convert.devicecheck`, run in ``.venv-edge``); the table below is
the fallback when that environment is absent.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

#: Highest version of each builtin that tflite-runtime 2.14.0 registers, for the operators our
#: converter emits. Measured, not copied: each file was re-written with one operator's version
#: raised step by step and loaded in tflite-runtime 2.14.0 until it answered "Didn't find op".
TFLITE_RUNTIME_2_14_MAX_VERSION: dict[str, int] = {
    "ADD": 5,
    "CONV_2D": 7,
    "DEQUANTIZE": 5,
    "FULLY_CONNECTED": 10,
    "MAX_POOL_2D": 3,
    "MUL": 7,
    "PACK": 4,
    "QUANTIZE": 3,
    "RESHAPE": 1,
    "SHAPE": 1,
    "SOFTMAX": 3,
    "STRIDED_SLICE": 8,
}


@dataclass(frozen=True)
class OpInfo:
    """One operator code of a file: its name, the version it needs, how many nodes use it."""

    name: str
    version: int
    count: int

    @property
    def label(self) -> str:
        """``CONV_2D v5 ×2``: the name, the version, and the node count where above one."""
        return f"{self.name} v{self.version}" + (f" ×{self.count}" if self.count > 1 else "")


def schema():
    """The TFLite flatbuffer schema's generated Python module (enums and readers)."""
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:  # pragma: no cover - the host has both
        from tensorflow.lite.python import schema_py_generated as schema
    return schema


def read_ops(blob: bytes) -> list[OpInfo]:
    """The operator codes of a flatbuffer, in the file's order, with node counts."""
    tfl = schema()
    names = {v: k for k, v in vars(tfl.BuiltinOperator).items() if not k.startswith("_")}
    model = tfl.Model.GetRootAsModel(blob, 0)
    counts: Counter[int] = Counter()
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
        for o in range(graph.OperatorsLength()):
            counts[graph.Operators(o).OpcodeIndex()] += 1
    ops = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = names.get(builtin, f"BUILTIN_{builtin}")
        if code.CustomCode():
            name = f"CUSTOM:{code.CustomCode().decode()}"
        ops.append(OpInfo(name, int(code.Version()), counts[i]))
    return ops


def read_metadata(blob: bytes) -> dict[str, bytes]:
    """The named metadata buffers (e.g. ``min_runtime_version``)."""
    tfl = schema()
    model = tfl.Model.GetRootAsModel(blob, 0)
    out = {}
    for i in range(model.MetadataLength()):
        meta = model.Metadata(i)
        buf = model.Buffers(meta.Buffer())
        out[meta.Name().decode()] = bytes(buf.DataAsNumpy()) if buf.DataLength() else b""
    return out


def min_runtime_version(blob: bytes) -> str | None:
    """The converter's own estimate of the oldest TFLite runtime that runs the file."""
    raw = read_metadata(blob).get("min_runtime_version")
    return raw.split(b"\0", 1)[0].decode() if raw else None


def table_verdict(ops: list[OpInfo]) -> tuple[bool | None, list[str]]:
    """From the version table alone: (runs on 2.14?, the operators that stop it).

    ``None`` when an operator is missing from the table (then only loading it can tell)."""
    too_new, unknown = [], []
    for op in ops:
        limit = TFLITE_RUNTIME_2_14_MAX_VERSION.get(op.name)
        if limit is None:
            unknown.append(op.name)
        elif op.version > limit:
            too_new.append(f"{op.name} v{op.version} (2.14 has up to v{limit})")
    if too_new:
        return False, too_new
    return (None, unknown) if unknown else (True, [])
