"""One exception type for every failure a user can cause: CLIs print one line, not a traceback."""

from __future__ import annotations


class DigitEdgeError(Exception):
    """A user-facing error: its message names the file (if any) and what is wrong with it."""


class DataError(DigitEdgeError):
    """A dataset file is missing, truncated or not what it claims to be."""


class ModelError(DigitEdgeError):
    """A model file is missing, not a TFLite flatbuffer, or has the wrong signature."""


class RuntimeNotFound(DigitEdgeError):
    """No TFLite interpreter package is importable."""


class InputError(DigitEdgeError):
    """An image to classify is missing, empty, truncated or not an image."""


class CameraError(DigitEdgeError):
    """A camera, video file or stream cannot be opened or stopped delivering frames."""
