"""The convert stage's user-facing error: one line naming the file or option and the problem."""

from __future__ import annotations

from edge.errors import EXIT_GATE, DigitEdgeError


class ConvertError(DigitEdgeError):
    """A trained model, option or dataset the convert stage cannot work with."""


class DriftGateError(ConvertError):
    """A quantized file drifted further from the float model than ``--max-drift`` allows, or
    the device's interpreter cannot run a file; raised after everything is written."""

    exit_code = EXIT_GATE
