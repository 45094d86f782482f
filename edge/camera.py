"""Read digits from a camera, a video file or a stream until the end, Ctrl-C or SIGTERM.

The loop never hangs and never dies with a traceback: a source that cannot be opened is a
one-line error, a file that ends is a normal end with a summary, and a camera or stream that
stops delivering frames is reopened a bounded number of times before it is an error.
"""

from __future__ import annotations

import collections
import contextlib
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.errors import CameraError
from edge.pipeline import DigitReader, Reading
from edge.quiet import captured_fds

#: Stream timeouts (ms) handed to OpenCV's FFmpeg backend, so a dead URL fails instead of hanging.
STREAM_TIMEOUT_MS = 5000
FPS_WINDOW = 30  # frames the displayed FPS is averaged over


@dataclass(frozen=True)
class CameraOptions:
    """How to run the loop."""

    source: str = "0"  # a camera index, a video file or a stream URL
    headless: bool = False
    max_frames: int | None = None  # stop after reading this many frames
    every: int = 1  # classify every Nth frame (the others are grabbed, not decoded)
    changes_only: bool = False  # headless: print a line only when the reading changes
    retries: int = 3  # reopen a camera or stream this many times when frames stop
    retry_delay: float = 0.5  # seconds before the first retry, doubled each time


@dataclass
class Summary:
    """What happened, printed when the loop ends for any reason."""

    source: str
    frames: int = 0
    classified: int = 0
    digits: int = 0
    seconds: float = 0.0
    ended_by: str = "end of video"
    counts: dict[str, int] = field(default_factory=dict)
    classify_ms: list[float] = field(default_factory=list)
    first_frame_at: float = 0.0  # perf_counter() when the first / last frame arrived
    last_frame_at: float = 0.0
    decode_cpu_s: float = 0.0  # CPU time of the reading thread inside cap.read()/grab()
    decoded: int = 0  # cap.read()/grab() calls that delivered a frame
    cpu_first: float = 0.0  # process_time() at the first / last frame (all threads)
    cpu_last: float = 0.0
    decode_cpu_first: float = 0.0  # decode_cpu_s when the first frame arrived
    decode_wall_s: float = 0.0  # wall time of the reading thread inside cap.read()/grab()
    decoder_waited_s: float = 0.0  # the reading thread blocked on a full queue: waiting for us
    loop_waited_s: float = 0.0  # the loop blocked on an empty queue: waiting for a frame

    def cpu_ms_per_frame(self) -> tuple[float, float]:
        """(decoding, everything else) in CPU ms per frame, first frame to last.

        Independent of the machine's load: the loop is bound by decoding when the first is the
        larger, as the two run on separate threads (OpenCV releases the GIL while decoding).
        """
        n = self.frames - 1
        if n <= 0 or self.decoded == 0:
            return 0.0, 0.0
        rest = self.cpu_last - self.cpu_first - (self.decode_cpu_s - self.decode_cpu_first)
        return self.decode_cpu_s / self.decoded * 1e3, max(0.0, rest) / n * 1e3

    def waited(self) -> tuple[float, float]:
        """(decoder waiting for the loop, loop waiting for the decoder), fractions of the run.

        Whichever side waits is not the bottleneck: a decoder that never finds the queue full
        and a loop that often finds it empty mean the loop runs at the speed of decoding.
        """
        span = self.last_frame_at - self.first_frame_at
        if self.frames <= 1 or span <= 0:
            return 0.0, 0.0
        return min(1.0, self.decoder_waited_s / span), min(1.0, self.loop_waited_s / span)

    @property
    def bound_by(self) -> str | None:
        """Which side set the pace: "decoding" when the decoder waited less for the loop than
        the loop for it, else "the loop"; None under two frames (nothing to tell)."""
        if self.frames <= 1 or self.last_frame_at <= self.first_frame_at:
            return None
        return pace_setter(*self.waited())

    @property
    def decode_ms_per_frame(self) -> float:
        """Wall ms the reading thread spent in cap.read()/grab() per frame it delivered."""
        return self.decode_wall_s / max(self.decoded, 1) * 1e3

    @property
    def fps(self) -> float:
        """Frames per second from the first frame to the last (opening the source excluded)."""
        span = self.last_frame_at - self.first_frame_at
        return (self.frames - 1) / span if self.frames > 1 and span > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        ms = np.asarray(self.classify_ms) if self.classify_ms else np.zeros(1)
        return {
            "event": "summary",
            "source": self.source,
            "frames": self.frames,
            "classified": self.classified,
            "digits": self.digits,
            "seconds": round(self.seconds, 3),
            "fps": round(self.fps, 2),
            "classify_ms_p50": round(float(np.median(ms)), 3),
            "cpu_ms_per_frame": dict(
                zip(("decode", "rest"), (round(v, 3) for v in self.cpu_ms_per_frame()), strict=True)
            ),
            "decode_ms_per_frame": round(self.decode_ms_per_frame, 3),
            "waited": dict(
                zip(
                    ("decoder_for_loop", "loop_for_decoder"),
                    (round(v, 4) for v in self.waited()),
                    strict=True,
                )
            ),
            "bound_by": self.bound_by,
            "ended_by": self.ended_by,
            "labels": dict(sorted(self.counts.items())),
        }


def pace_setter(decoder_waited: float, loop_waited: float) -> str:
    """Which side set the pace, from how long each waited for the other: the one that waited
    less ("decoding" on a tie: the decoder never waiting is the decode-bound case)."""
    return "decoding" if decoder_waited <= loop_waited else "the loop"


def parse_source(source: str) -> int | str:
    """A camera index ("0") as an int, anything else (file, URL) as given."""
    return int(source) if source.strip().isdigit() else source


def is_stream(source: int | str) -> bool:
    return isinstance(source, str) and "://" in source


def open_capture(source: int | str) -> cv2.VideoCapture:
    """Open ``source`` or raise CameraError saying why (checked before OpenCV is asked)."""
    if isinstance(source, str) and not is_stream(source):
        path = Path(source).expanduser()
        if not path.exists():
            raise CameraError(f"{source}: no such video file (or use a camera index like 0)")
        if path.is_dir():
            raise CameraError(f"{source}: is a folder, expected a video file")
    params = []
    if is_stream(source):
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS,
        ]  # fmt: skip
    # OpenCV (backend by backend) and FFmpeg write their own failures to fd 2; the CameraError
    # below says it in one line, so what they write while opening is captured and dropped.
    try:
        with captured_fds((2,)):
            cap = (
                cv2.VideoCapture(source, cv2.CAP_ANY, params)
                if params
                else cv2.VideoCapture(source)
            )
    except cv2.error as exc:
        raise CameraError(
            f"{source}: cannot be opened ({str(exc).strip().splitlines()[-1]})"
        ) from None
    if not cap.isOpened():
        cap.release()
        what = f"camera {source}" if isinstance(source, int) else str(source)
        if isinstance(source, int):
            hint = " (no such camera?)"
        elif is_stream(source):
            hint = " (unreachable, or not a stream OpenCV can read)"
        else:
            hint = " (not a video OpenCV can read?)"
        raise CameraError(f"{what}: cannot be opened{hint}")
    return cap


class StopFlag:
    """Set by SIGINT/SIGTERM while the loop runs; the previous handlers are restored after."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def __bool__(self) -> bool:
        return self.reason is not None

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopFlag]:
        def handler(signum: int, _frame: object) -> None:
            self.reason = signal.Signals(signum).name

        previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread: nothing to install
                previous[sig] = signal.signal(sig, handler)
        try:
            yield self
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)


def read_frames(
    source: int | str, options: CameraOptions, stop: StopFlag, summary: Summary
) -> Iterator[tuple[int, np.ndarray | None]]:
    """(frame number, decoded frame or None when skipped by ``every``) until the source ends.

    Skipped frames are only grabbed, not decoded, so ``--every`` saves the decoding too.
    A camera or stream that fails is reopened ``retries`` times with doubling pauses.
    """
    cap = open_capture(source)
    live = isinstance(source, int) or is_stream(source)
    thread_time, clock = time.thread_time, time.perf_counter
    failures = count = 0
    try:
        while not stop:
            if options.max_frames is not None and count >= options.max_frames:
                summary.ended_by = f"--max-frames {options.max_frames}"
                return
            c0, w0 = thread_time(), clock()
            # A file's first frame: FFmpeg writes its own complaints about a file that is not
            # a video straight to fd 2; the CameraError below says it in one line instead.
            muted = captured_fds((2,)) if count == 0 and not live else contextlib.nullcontext()
            with muted:
                if count % options.every == 0:
                    ok, frame = cap.read()
                else:
                    ok, frame = cap.grab(), None
            summary.decode_wall_s += clock() - w0
            summary.decode_cpu_s += thread_time() - c0
            if not ok:
                if not live:
                    if count == 0:  # a file OpenCV "opened" (an image, a text file) but no video
                        raise CameraError(f"{source}: no frames (not a video OpenCV can read?)")
                    summary.ended_by = "end of video"
                    return
                failures += 1
                if failures > options.retries:
                    raise CameraError(
                        f"{source}: stopped delivering frames "
                        f"(gave up after {options.retries} reopen attempts)"
                    )
                cap.release()
                time.sleep(options.retry_delay * 2 ** (failures - 1))
                if stop:
                    break
                try:
                    cap = open_capture(source)
                except CameraError:
                    cap = cv2.VideoCapture()  # not open: the next read fails and counts
                continue
            failures = 0
            count += 1
            summary.decoded += 1
            yield count, frame
    finally:
        cap.release()


_END = object()


def frames(
    source: int | str, options: CameraOptions, stop: StopFlag, summary: Summary
) -> Iterator[tuple[int, np.ndarray | None]]:
    """:func:`read_frames` on a background thread, a few frames ahead of the caller.

    OpenCV releases the GIL while it decodes, so the next frame decodes while this one is
    classified: the loop runs at the speed of the slower of the two, not of their sum.
    """
    ahead: queue.Queue[object] = queue.Queue(maxsize=4)
    done = threading.Event()
    failure: list[BaseException] = []

    def put(item: object) -> bool:
        try:
            ahead.put_nowait(item)
            return True
        except queue.Full:
            pass
        t0 = time.perf_counter()
        try:
            while not done.is_set():
                try:
                    ahead.put(item, timeout=0.05)
                    return True
                except queue.Full:
                    continue
            return False
        finally:
            summary.decoder_waited_s += time.perf_counter() - t0

    def produce() -> None:
        try:
            for item in read_frames(source, options, stop, summary):
                if not put(item):
                    return
        except BaseException as exc:  # handed to the caller's thread, raised there
            failure.append(exc)
        finally:
            put(_END)

    thread = threading.Thread(target=produce, name="digit-edge-frames", daemon=True)
    thread.start()
    try:
        while not stop:
            try:
                item = ahead.get_nowait()
            except queue.Empty:
                t0 = time.perf_counter()
                try:
                    item = ahead.get(timeout=0.05)
                except queue.Empty:
                    continue
                finally:
                    if summary.frames:  # waiting for the source to open is not the loop's pace
                        summary.loop_waited_s += time.perf_counter() - t0
            if item is _END:
                break
            summary.frames += 1
            yield item  # type: ignore[misc]
    finally:
        done.set()
        thread.join(timeout=STREAM_TIMEOUT_MS / 1000 + 1)
    if failure:
        raise failure[0]
    if stop:
        summary.ended_by = stop.reason or "signal"


def run(
    reader: DigitReader,
    options: CameraOptions,
    emit: Callable[[dict[str, Any]], None],
    on_reading: Callable[[int, np.ndarray, Reading], None] | None = None,
) -> Summary:
    """The loop: classify frames, ``emit`` a JSON-able dict per reading, return the summary.

    With a display (not ``headless``) every frame is shown with the region read, the reading
    and the FPS; ``q`` or Esc quits.
    """
    source = parse_source(options.source)
    summary = Summary(str(options.source))
    stop = StopFlag()
    recent: collections.deque[float] = collections.deque(maxlen=FPS_WINDOW)
    window = None if options.headless else _Window()
    last_label: object = object()
    start = time.perf_counter()
    # One OpenCV thread while the loop runs: the decoding thread has the other core, and
    # OpenCV's workers split the normalisation's small images only to wait for (and spin on)
    # that busy core (0.68 instead of 0.80 CPU ms per 640x480 frame when quiet, 0.80 instead of
    # 1.07 under load; same FPS with a free core, same results). Restored when the loop ends.
    cv_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    with stop.installed():
        try:
            for number, frame in frames(source, options, stop, summary):
                now = time.perf_counter()
                recent.append(now)
                if number == 1:
                    summary.first_frame_at = now
                    summary.cpu_first = time.process_time()
                    summary.decode_cpu_first = summary.decode_cpu_s
                summary.last_frame_at = now
                if frame is None:
                    continue
                reading = reader.read(frame)
                summary.classified += 1
                summary.classify_ms.append(sum(reading.timings_ms.values()))
                if reading.label is not None:
                    summary.digits += 1
                    summary.counts[reading.label] = summary.counts.get(reading.label, 0) + 1
                fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 else 0.0
                if not options.changes_only or reading.label != last_label:
                    emit(
                        {
                            "event": "frame",
                            "frame": number,
                            "fps": round(fps, 2),
                            **reading.as_dict(),
                        }
                    )
                last_label = reading.label
                if on_reading is not None:
                    on_reading(number, frame, reading)
                if window is not None and window.show(frame, reading, fps):
                    summary.ended_by = "key"
                    break
        finally:
            summary.seconds = time.perf_counter() - start
            summary.cpu_last = time.process_time()
            cv2.setNumThreads(cv_threads)
            if window is not None:
                window.close()
    return summary


class _Window:
    """The live view: the frame, the digit's box, the reading and the FPS."""

    NAME = "digit-edge"

    def show(self, frame: np.ndarray, reading: Reading, fps: float) -> bool:
        """Draw and show; True when the user pressed q or Esc."""
        view = frame if frame.ndim == 3 else cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        view = view.copy()
        if reading.box is not None:
            x, y, w, h = reading.box
            cv2.rectangle(view, (x, y), (x + w, y + h), (0, 200, 0), 2)
        text = (
            f"{reading.label}  {reading.probability:.0%}"
            if reading.label is not None
            else "no digit"
        )
        cv2.putText(view, text, (10, 32), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 0, 255), 2)
        cv2.putText(view, f"{fps:.1f} FPS", (10, 62), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 0, 0), 2)
        try:
            cv2.imshow(self.NAME, view)
            key = cv2.waitKey(1) & 0xFF
        except cv2.error:
            raise CameraError(
                "this OpenCV has no display support (opencv-python-headless): use --headless"
            ) from None
        return key in (ord("q"), 27)

    def close(self) -> None:
        with contextlib.suppress(cv2.error):
            cv2.destroyAllWindows()
