"""The quantization modes: one table drives the converter, the CLI, the report and the docs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QuantMode:
    """One way to convert: its CLI name, what it does, and whether it needs calibration data."""

    name: str
    description: str
    needs_representative_data: bool
    integer_io: bool

    @property
    def quantized(self) -> bool:
        """Every mode but float32 changes the numbers, so every other one is held to the gate."""
        return self.name != "float32"


MODES: dict[str, QuantMode] = {
    m.name: m
    for m in (
        QuantMode("float32", "no optimization: float weights and activations", False, False),
        QuantMode(
            "dynamic",
            "dynamic-range: int8 weights (per-tensor dense, ranges equalized), float activations",
            False,
            False,
        ),
        QuantMode("float16", "float16 weights, float32 compute", False, False),
        QuantMode("int8", "full-integer: int8 weights and activations, integer I/O", True, True),
    )
}
MODE_NAMES: tuple[str, ...] = tuple(MODES)
IO_DTYPES: tuple[str, ...] = ("int8", "uint8")  # input/output type of the int8 mode
