"""One exception type for every failure a user can cause: CLIs print one line, not a traceback.

Every CLI (``digit-edge``, ``digit-train``, ``digit-convert``) exits with one rule (README,
"Exit codes"): 0 all good; 1 some input failed while the others were processed; 2 a usage
error or a bad input or configuration that stops the command before it starts; 3 the convert
stage's gate (drift or device compatibility) failed after everything was written.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INPUT_FAILED = 1
EXIT_BAD_INPUT = 2  # also click's code for usage errors
EXIT_GATE = 3
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT


class DigitEdgeError(Exception):
    """A user-facing error: its message names the file (if any) and what is wrong with it."""

    exit_code = EXIT_BAD_INPUT


class DataError(DigitEdgeError):
    """A dataset file is missing, truncated or not what it claims to be."""


class ModelError(DigitEdgeError):
    """A model file is missing, not a TFLite flatbuffer, or has the wrong signature."""


class RuntimeNotFound(DigitEdgeError):
    """No TFLite interpreter package is importable."""


class InputError(DigitEdgeError):
    """An image to classify is missing, empty, truncated or not an image."""


class CameraError(DigitEdgeError):
    """A camera, video file or stream cannot be opened or read."""


class StreamFailed(CameraError):
    """A camera or stream stopped delivering frames after the run started; ``summary`` is
    the run's until then (the camera loop sets it), which a user still wants to see."""

    exit_code = EXIT_INPUT_FAILED
    summary: object = None
