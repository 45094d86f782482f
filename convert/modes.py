"""The quantization modes: one table drives the converter, the CLI, the report and the docs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Recipe:
    """How a file is built beyond its mode's converter settings (convert/export.py)."""

    #: a Flatten -> Dense on a feature map becomes a Conv2D (per-channel dynamic-range weights)
    conv_dense: bool = False
    #: cross-layer equalization of weight ranges
    equalize: bool = False
    #: int8: bias correction and a chosen logit range (convert/ptq.py)
    refine: bool = False
    #: int8, with ``refine``: weights re-rounded by output error
    rounding: bool = False


@dataclass(frozen=True)
class QuantMode:
    """One way to convert: its CLI name, what it does, and the converter settings it takes."""

    name: str
    description: str
    needs_representative_data: bool  # full-integer: calibration images, integer kernels
    integer_io: bool  # the input and output tensors are int8 (or uint8)
    optimize: bool = True  # TFLiteConverter.optimizations = [Optimize.DEFAULT]
    float16_weights: bool = False
    #: dynamic-range dense weights per tensor: FULLY_CONNECTED v9, which tflite-runtime 2.14
    #: runs (per channel, the converter's default, needs v12)
    per_tensor_dense: bool = False
    #: the ways to build the file, by name: the first that applies is the default; with more
    #: than one, the stage keeps the one that agrees best with Keras on the validation split
    recipes: tuple[tuple[str, Recipe], ...] = (("plain", Recipe()),)

    @property
    def quantized(self) -> bool:
        """Every mode but float32 changes the numbers, so every other one is held to the gate."""
        return self.name != "float32"


MODES: dict[str, QuantMode] = {
    m.name: m
    for m in (
        QuantMode(
            name="float32",
            description="no optimization: float weights and activations",
            needs_representative_data=False,
            integer_io=False,
            optimize=False,
        ),
        QuantMode(
            name="dynamic",
            description="dynamic-range: int8 weights (per-tensor dense; the recipe each "
            "model got is in the report), float activations",
            needs_representative_data=False,
            integer_io=False,
            per_tensor_dense=True,
            recipes=(
                ("conv per-channel", Recipe(conv_dense=True)),
                ("per-tensor + equalize", Recipe(equalize=True)),
                ("per-tensor", Recipe()),
            ),
        ),
        QuantMode(
            name="float16",
            description="float16 weights, float32 compute",
            needs_representative_data=False,
            integer_io=False,
            float16_weights=True,
        ),
        QuantMode(
            name="int8",
            description="full-integer: int8 weights and activations, integer I/O",
            needs_representative_data=True,
            integer_io=True,
            recipes=(
                ("refined", Recipe(refine=True, rounding=True)),
                ("bias + range", Recipe(refine=True)),
                ("converter", Recipe()),
            ),
        ),
    )
}
MODE_NAMES: tuple[str, ...] = tuple(MODES)
IO_DTYPES: tuple[str, ...] = ("int8", "uint8")  # input/output type of the int8 mode
