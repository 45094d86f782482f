"""Where the camera loop's frames come from: one ``--source`` string, one kind of source each.

Every source offers what the loop needs of ``cv2.VideoCapture``: ``read() -> (ok, frame)``,
``grab() -> ok`` (skip a frame without decoding it where the source can), ``release()``, and
``skipped``: frames it received but could not decode (a truncated JPEG on standard input).
:data:`SOURCE_KINDS` is the one table the CLI's help and the docs are written from.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import cv2
import numpy as np

from edge.errors import CameraError
from edge.quiet import captured_fds

#: Stream timeouts (ms) handed to OpenCV's FFmpeg backend, so a dead URL fails instead of hanging.
STREAM_TIMEOUT_MS = 5000
#: The picamera2 frame size when ``picamera2`` names none: plenty for one digit, cheap on a Pi.
PICAMERA2_SIZE = (640, 480)
#: picamera2 buffers: the fewest that keep the camera streaming while one frame is read.
PICAMERA2_BUFFERS = 3
#: An MJPEG frame on standard input larger than this has lost its end marker: dropped, counted.
MAX_JPEG_BYTES = 16 * 1024 * 1024

SOURCE_KINDS: dict[str, str] = {
    "v4l2": "0, 1, ... or /dev/videoN: a USB webcam through OpenCV's V4L2 backend",
    "picamera2": "picamera2 or picamera2:WIDTHxHEIGHT: the Raspberry Pi camera module "
    "through picamera2 (Pi OS package python3-picamera2)",
    "gstreamer": "a GStreamer pipeline (contains '!', ends in appsink) through OpenCV's "
    "GStreamer backend (Debian's/Pi OS's python3-opencv; PyPI's wheels have none)",
    "stdin": "-: an MJPEG stream on standard input (rpicam-vid -t 0 -n --codec mjpeg -o -)",
    "file": "a video file, or a stream URL (rtsp://, http://) through OpenCV's FFmpeg",
    "auto": "auto: the camera module when picamera2 finds one, else /dev/video0",
}


class FrameSource(Protocol):
    """What the camera loop reads (``cv2.VideoCapture`` is one)."""

    def read(self) -> tuple[bool, np.ndarray | None]: ...

    def grab(self) -> bool: ...

    def release(self) -> None: ...


@dataclass(frozen=True)
class SourceSpec:
    """A parsed ``--source``: its kind (a key of :data:`SOURCE_KINDS`) and what to open."""

    text: str  # as the user gave it
    kind: str
    target: int | str  # a device index or path, a file, a URL or a pipeline
    size: tuple[int, int] | None = None  # picamera2's frame size

    @property
    def live(self) -> bool:
        """A camera or network stream: reopened when it stops, never "ended" by itself."""
        if self.kind == "gstreamer":  # a pipeline reading a file ends like the file
            return not str(self.target).lstrip().startswith(("filesrc", "multifilesrc"))
        return self.kind in ("v4l2", "picamera2", "auto") or is_url(self.target)

    @property
    def end_text(self) -> str:
        return "end of input" if self.kind == "stdin" else "end of video"


def is_url(target: int | str) -> bool:
    return isinstance(target, str) and "://" in target


_DEVICE = re.compile(r"/dev/video\d+")
_SIZE = re.compile(r"(\d{2,5})x(\d{2,5})")


def parse_source(text: str) -> SourceSpec:
    """Which kind of source ``text`` names; CameraError for a malformed picamera2 size."""
    stripped = text.strip()
    if not stripped:
        raise CameraError(
            "--source is empty: give a camera index (0), auto, picamera2, a video file, a URL "
            "or a GStreamer pipeline"
        )
    if stripped.isdigit():
        return SourceSpec(text, "v4l2", int(stripped))
    if _DEVICE.fullmatch(stripped):
        return SourceSpec(text, "v4l2", stripped)
    if stripped == "-":
        return SourceSpec(text, "stdin", "-")
    if stripped == "auto":
        return SourceSpec(text, "auto", "auto")
    if stripped == "picamera2" or stripped.startswith("picamera2:"):
        size = PICAMERA2_SIZE
        if ":" in stripped:
            match = _SIZE.fullmatch(stripped.split(":", 1)[1])
            if not match:
                raise CameraError(f"{text}: expected picamera2:WIDTHxHEIGHT (e.g. 640x480)")
            size = (int(match.group(1)), int(match.group(2)))
        return SourceSpec(text, "picamera2", "picamera2", size)
    if "!" in stripped:
        return SourceSpec(text, "gstreamer", stripped)
    return SourceSpec(text, "file", text)


def open_source(spec: SourceSpec) -> FrameSource:
    """Open the source or raise CameraError saying why, in one line."""
    if spec.kind == "auto":
        resolved, why_not_module = resolve_auto(spec)
        try:
            return open_source(resolved)
        except CameraError as exc:  # neither: say why the camera module was not taken either
            raise CameraError(f"{exc}; auto: {why_not_module}") from None
    if spec.kind == "picamera2":
        return Picamera2Source(spec.size or PICAMERA2_SIZE)
    if spec.kind == "stdin":
        return MjpegReader(sys.stdin.buffer)
    if spec.kind == "gstreamer":
        return open_gstreamer(str(spec.target))
    return open_capture(spec.target)


def resolve_auto(spec: SourceSpec) -> tuple[SourceSpec, str]:
    """The camera module when picamera2 is installed and sees one, else /dev/video0 (a USB
    webcam) and why not the camera module: on a Pi whose module libcamera cannot open,
    "/dev/video0 cannot be opened" alone points at the wrong device."""
    webcam = SourceSpec(spec.text, "v4l2", "/dev/video0")
    try:
        picamera2 = importlib.import_module("picamera2")
    except ModuleNotFoundError:
        return webcam, "picamera2 is not installed (sudo apt install python3-picamera2)"
    except Exception as exc:  # its import loads libcamera's bindings, which can fail
        return webcam, f"picamera2 cannot be imported ({_first_line(exc)})"
    try:
        cameras = picamera2.Picamera2.global_camera_info()
    except Exception as exc:  # libcamera failed
        return webcam, f"picamera2 failed ({_first_line(exc)})"
    if not cameras:
        return webcam, "picamera2 found no camera module"
    return SourceSpec(spec.text, "picamera2", "picamera2", PICAMERA2_SIZE), ""


# -- OpenCV: V4L2 devices, files, URLs, GStreamer pipelines ---------------------------------------


def open_capture(source: int | str) -> cv2.VideoCapture:
    """A device index/path, file or URL through ``cv2.VideoCapture``, checked first."""
    device = isinstance(source, int) or bool(_DEVICE.fullmatch(str(source)))
    if isinstance(source, str) and not is_url(source) and not device:
        path = Path(source).expanduser()
        if not path.exists():
            raise CameraError(f"{source}: no such video file (or use a camera index like 0)")
        if path.is_dir():
            raise CameraError(f"{source}: is a folder, expected a video file")
    params = []
    if is_url(source):
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS,
        ]  # fmt: skip
    cap = _video_capture(source, cv2.CAP_ANY, params)
    if not cap.isOpened():
        cap.release()
        if device:
            what = f"camera {source}"
            hint = " (no such camera?)"
        elif is_url(source):
            what, hint = str(source), " (unreachable, or not a stream OpenCV can read)"
        else:
            what, hint = str(source), " (not a video OpenCV can read?)"
        raise CameraError(f"{what}: cannot be opened{hint}")
    return cap


def has_gstreamer() -> bool:
    """Whether this OpenCV was built with its GStreamer backend (PyPI's wheels are not)."""
    return bool(cv2.videoio_registry.hasBackend(cv2.CAP_GSTREAMER))


def open_gstreamer(pipeline: str) -> cv2.VideoCapture:
    if not has_gstreamer():
        raise CameraError(
            "this OpenCV has no GStreamer backend (PyPI's opencv-python wheels do not): use "
            "Debian's or Raspberry Pi OS's python3-opencv, in a venv made with "
            "--system-site-packages"
        )
    if not pipeline.rstrip().split("!")[-1].strip().startswith("appsink"):
        raise CameraError(f"{pipeline}: a GStreamer pipeline for OpenCV must end in appsink")
    cap = _video_capture(pipeline, cv2.CAP_GSTREAMER, [])
    if not cap.isOpened():
        cap.release()
        raise CameraError(
            f"{pipeline}: GStreamer cannot start this pipeline (`gst-launch-1.0 -v` it to see why)"
        )
    return cap


def _video_capture(source: int | str, api: int, params: list[int]) -> cv2.VideoCapture:
    # OpenCV (backend by backend), FFmpeg and GStreamer write their own failures to fd 2; the
    # CameraError says it in one line, so what they write while opening is captured and dropped.
    try:
        with captured_fds((2,)):
            if params:
                return cv2.VideoCapture(source, api, params)
            return cv2.VideoCapture(source, api)
    except cv2.error as exc:
        raise CameraError(
            f"{source}: cannot be opened ({str(exc).strip().splitlines()[-1]})"
        ) from None


# -- standard input: an MJPEG stream --------------------------------------------------------------

_SOI, _EOI = b"\xff\xd8", b"\xff\xd9"


class MjpegReader:
    """JPEG frames one after the other on a byte stream (``rpicam-vid --codec mjpeg -o -``).

    A frame is the bytes from a start-of-image marker to the next end-of-image marker (inside a
    JPEG's compressed data 0xFF is always escaped, so both are unambiguous). A frame cut short
    (the next start comes first, the stream ends, or it outgrows ``MAX_JPEG_BYTES``) or one
    OpenCV cannot decode is skipped and counted in ``skipped``, never fatal.
    """

    CHUNK = 1 << 16

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.buffer = bytearray()
        self.skipped = 0
        self.ended = False

    def _fill(self) -> bool:
        if self.ended:
            return False
        chunk = self._read_chunk()
        if not chunk:
            self.ended = True
            return False
        self.buffer += chunk
        return True

    def _read_chunk(self) -> bytes:
        try:
            return os.read(self.stream.fileno(), self.CHUNK)
        except (AttributeError, OSError, ValueError):  # not a real file (a test's BytesIO)
            return self.stream.read(self.CHUNK)

    def next_jpeg(self) -> bytes | None:
        """The next complete JPEG's bytes, or None at the end of the stream."""
        while True:
            start = self.buffer.find(_SOI)
            if start < 0:
                del self.buffer[: max(0, len(self.buffer) - 1)]  # keep a possible 0xFF
            else:
                end = self.buffer.find(_EOI, start + 2)
                restart = self.buffer.find(_SOI, start + 2)
                if restart >= 0 and (end < 0 or restart < end):  # cut short: a new frame began
                    self.skipped += 1
                    del self.buffer[:restart]
                    continue
                if end >= 0:
                    jpeg = bytes(self.buffer[start : end + 2])
                    del self.buffer[: end + 2]
                    return jpeg
                if len(self.buffer) - start > MAX_JPEG_BYTES:
                    self.skipped += 1
                    self.buffer.clear()
            if not self._fill():
                if self.buffer.find(_SOI) >= 0:  # the stream ended inside a frame
                    self.skipped += 1
                self.buffer.clear()
                return None

    def read(self) -> tuple[bool, np.ndarray | None]:
        while (jpeg := self.next_jpeg()) is not None:
            frame = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            if frame is not None:
                return True, frame
            self.skipped += 1
        return False, None

    def grab(self) -> bool:
        return self.next_jpeg() is not None

    def release(self) -> None:
        self.buffer.clear()


# -- the Raspberry Pi camera module: picamera2 -----------------------------------------------------


class Picamera2Source:
    """The camera module through picamera2 (libcamera), headless, grey from the lores Y plane.

    A video configuration with a small buffer count; the loop reads the lores stream in YUV420,
    whose first ``height`` rows are the luma: a grey frame without any colour conversion, which
    is all the digit normalisation uses. Written from picamera2's documented API and tested
    against a stand-in of it (tests/edge/standins/picamera2): untested on a real camera.
    """

    def __init__(self, size: tuple[int, int], module: Any = None) -> None:
        picamera2 = module or _import_picamera2()
        self.size = size
        try:
            cameras = picamera2.Picamera2.global_camera_info()
        except Exception as exc:
            raise CameraError(f"picamera2: libcamera failed ({_first_line(exc)})") from None
        if not cameras:
            raise CameraError(
                "picamera2: no camera found (is the ribbon cable seated? "
                "`rpicam-hello --list-cameras` lists what libcamera sees)"
            )
        try:
            self.camera = picamera2.Picamera2()
        except (RuntimeError, IndexError) as exc:
            raise CameraError(_open_failure(exc)) from None
        try:
            config = self.camera.create_video_configuration(
                main={"size": size},
                lores={"size": size, "format": "YUV420"},
                buffer_count=PICAMERA2_BUFFERS,
                display=None,
                encode=None,
            )
            self.camera.configure(config)
            self.camera.start()
        except Exception as exc:
            self.camera.close()
            raise CameraError(f"picamera2: cannot start the camera ({_first_line(exc)})") from None

    def read(self) -> tuple[bool, np.ndarray | None]:
        try:
            yuv = self.camera.capture_array("lores")
        except Exception:  # the camera went away: the loop reopens it or gives up
            return False, None
        width, height = self.size
        return True, yuv[:height, :width]

    def grab(self) -> bool:
        return self.read()[0]

    def release(self) -> None:
        try:
            self.camera.stop()
        finally:
            self.camera.close()


def _import_picamera2() -> Any:
    try:
        return importlib.import_module("picamera2")
    except ImportError:
        raise CameraError(
            "picamera2 is not installed: on Raspberry Pi OS `sudo apt install python3-picamera2` "
            "(a venv sees it only if made with --system-site-packages)"
        ) from None


def _open_failure(exc: BaseException) -> str:
    # picamera2 re-raises "Camera __init__ sequence did not complete." while handling the
    # acquire failure ("Failed to acquire camera: Device or resource busy", or "camera.acquire()
    # returned unexpected code: -16" in older releases): the reason is in the chain.
    chain, cause = [], exc
    while cause is not None and len(chain) < 5:
        chain.append(str(cause))
        cause = cause.__cause__ or cause.__context__
    text = " ".join(chain)
    if isinstance(exc, IndexError):
        return "picamera2: no camera found"
    if "busy" in text.lower() or "acquire" in text.lower() or "-16" in text:
        return (
            "picamera2: camera busy: another process holds it "
            "(another digit-edge, rpicam-*, or the service: `sudo systemctl stop digit-edge`)"
        )
    return f"picamera2: cannot open the camera ({_first_line(exc)})"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__
