"""The convert stage's user-facing error: one line naming the file or option and the problem."""

from __future__ import annotations

from edge.errors import DigitEdgeError


class ConvertError(DigitEdgeError):
    """A trained model, option or dataset the convert stage cannot work with."""


class DriftGateError(ConvertError):
    """A quantized file drifted further from the float model than ``--max-drift`` allows."""
