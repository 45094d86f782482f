"""Read digits from a camera, a video file or a stream until the end, Ctrl-C or SIGTERM.

The loop never hangs and never dies with a traceback: a source that cannot be opened is a
one-line error, a file that ends is a normal end with a summary, and a camera or stream that
stops delivering frames is reopened a bounded number of times before it is an error.

Where frames come from is :mod:`edge.sources`; where readings go is a list of consumers, each a
callable taking a :class:`FrameReading` (the JSON lines on stdout, the window, the web server's
hub, ...), so a new output is one more consumer, not a branch in the loop.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import json
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO, TypeVar

import cv2
import numpy as np

from edge import overlay
from edge.errors import CameraError, StreamFailed
from edge.number import FoundNumber, NumberReader
from edge.pipeline import DigitReader, Reading
from edge.quiet import captured_fds
from edge.sources import STREAM_TIMEOUT_MS, FrameSource, SourceSpec, open_source, parse_source

FPS_WINDOW = 30  # frames the displayed FPS is averaged over
FRAMES_AHEAD = 4  # frames the decoding thread may be ahead of the loop
#: Frames waiting for the loop that make the decoding thread take the first look at a number's
#: digits (fewer: the loop reads the whole number), and that make it segment them whole.
FIRST_LOOK_BEHIND = 1
LOOP_BEHIND = 2
#: A video file's frame rate when it names none (or an implausible one), for ``realtime``.
DEFAULT_FILE_FPS = 30.0
#: Python's thread switch interval while the loop runs (seconds; Python's default is 0.005).
#: Each OpenCV call lets go of the GIL, but the thread that made it takes it back before a
#: thread woken for it can run, so that thread can wait for the whole interval; 0.3 ms caps
#: the wait (docs/edge.md, "Two threads for a number": the decoding thread and the loop).
SWITCH_INTERVAL_S = 0.0003


@dataclass(frozen=True)
class CameraOptions:
    """How to run the loop."""

    source: str = "0"  # what --source takes: see edge.sources.SOURCE_KINDS
    max_frames: int | None = None  # stop after reading this many frames
    every: int = 1  # classify every Nth frame (the others are grabbed, not decoded)
    retries: int = 3  # reopen a camera or stream this many times when frames stop
    retry_delay: float = 0.5  # seconds before the first retry, doubled each time
    loop: bool = False  # a video file starts again at its end instead of ending the loop
    realtime: bool = False  # a video file plays at its own frame rate (as a camera would)
    # --number: the decoding thread takes the first look at a frame for its digits, or all of
    # its segmentation, when the loop is behind (edge.camera.frame_items); off: the loop
    # reads it all.
    find_ahead: bool = True


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
    skipped: int = 0  # frames the source received but could not decode (a truncated JPEG)
    # What the frame side is called when it sets the pace: decoding a file as fast as it goes,
    # a camera's (or stream's) frame rate, or a video file played at its own frame rate.
    source_pace: str = "decoding"

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
        """Which side set the pace: the source (``source_pace``: "decoding" for a file) when
        the decoder waited less for the loop than the loop for it, else "the loop"; None under
        two frames (nothing to tell)."""
        if self.frames <= 1 or self.last_frame_at <= self.first_frame_at:
            return None
        side = pace_setter(*self.waited())
        return self.source_pace if side == "decoding" else side

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
            "skipped": self.skipped,
            "ended_by": self.ended_by,
            "labels": dict(sorted(self.counts.items())),
        }


def pace_setter(decoder_waited: float, loop_waited: float) -> str:
    """Which side set the pace, from how long each waited for the other: the one that waited
    less ("decoding" on a tie: the decoder never waiting is the decode-bound case)."""
    return "decoding" if decoder_waited <= loop_waited else "the loop"


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
    spec: SourceSpec, options: CameraOptions, stop: StopFlag, summary: Summary
) -> Iterator[tuple[int, np.ndarray | None]]:
    """(frame number, decoded frame or None when skipped by ``every``) until the source ends.

    Skipped frames are only grabbed, not decoded, so ``--every`` saves the decoding too.
    A camera or stream that fails is reopened ``retries`` times with doubling pauses.
    """
    cap = open_source(spec)
    live = spec.live
    summary.source_pace = "the camera" if live else "decoding"
    if spec.kind == "stdin":  # a pipe's pace is its writer's (rpicam-vid, ffmpeg)
        summary.source_pace = "the source"
    pace = _FilePace(cap) if options.realtime and spec.kind == "file" and not live else None
    if pace is not None:
        summary.source_pace = "the video's frame rate"
    thread_time, clock = time.thread_time, time.perf_counter
    failures = count = 0
    try:
        while not stop:
            if options.max_frames is not None and count >= options.max_frames:
                summary.ended_by = f"--max-frames {options.max_frames}"
                return
            if pace is not None:
                pace.wait()
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
            summary.skipped = getattr(cap, "skipped", 0)
            if not ok:
                if not live:
                    if count == 0:  # a file OpenCV "opened" (an image, a text file) but no video
                        raise CameraError(f"{spec.text}: no frames ({_no_frames_hint(spec)})")
                    if options.loop and spec.kind == "file":
                        cap.release()
                        cap = open_source(spec)
                        continue
                    summary.ended_by = spec.end_text
                    return
                failures += 1
                if failures > options.retries:
                    raise StreamFailed(
                        f"{spec.text}: stopped delivering frames "
                        f"(gave up after {options.retries} reopen attempts)"
                    )
                cap = _reopen(cap, spec, options.retry_delay * 2 ** (failures - 1), stop)
                continue
            failures = 0
            count += 1
            summary.decoded += 1
            yield count, frame
    finally:
        cap.release()


def check_source(spec: SourceSpec) -> None:
    """Open the source, read a file's first frame, close it again: CameraError, in one line,
    for what ``camera`` fails on at its start (no such file, not a video, no frames, no such
    camera). ``serve`` checks before it listens, so a bad ``--source`` is an exit 2 with the
    reason, not a server whose page only says that the source failed. Standard input is not
    read (its frames are the loop's); a live source's frames are the loop's to retry."""
    if spec.kind == "stdin":
        return
    cap = open_source(spec)
    try:
        if not spec.live:
            with captured_fds((2,)):  # FFmpeg's own complaints, as for the loop's first frame
                ok = cap.read()[0]
            if not ok:
                raise CameraError(f"{spec.text}: no frames ({_no_frames_hint(spec)})")
    finally:
        cap.release()


def _no_frames_hint(spec: SourceSpec) -> str:
    if spec.kind == "stdin":
        return "no complete JPEG on standard input; expected an MJPEG stream"
    if spec.kind == "gstreamer":
        return "the pipeline delivered nothing"
    return "not a video OpenCV can read?"


def _reopen(cap: FrameSource, spec: SourceSpec, pause: float, stop: StopFlag) -> FrameSource:
    """Release, wait ``pause`` seconds, open again; a source that still fails is left closed
    (``cv2.VideoCapture()``: its next read fails and counts as the next failure)."""
    cap.release()
    time.sleep(pause)
    if stop:
        return cv2.VideoCapture()
    try:
        return open_source(spec)
    except CameraError:
        return cv2.VideoCapture()


class _FilePace:
    """Hands out a video file's frames at the file's own frame rate, as a camera would."""

    def __init__(self, cap: FrameSource) -> None:
        fps = float(cap.get(cv2.CAP_PROP_FPS)) if hasattr(cap, "get") else 0.0
        self.period = 1.0 / (fps if 0 < fps <= 240 else DEFAULT_FILE_FPS)
        self.due: float | None = None

    def wait(self) -> None:
        now = time.perf_counter()
        if self.due is None or now - self.due > 1.0:  # first frame, or far behind: no catch-up
            self.due = now
        elif self.due > now:
            time.sleep(self.due - now)
        self.due += self.period


_END = object()
T = TypeVar("T")


def _put(
    ahead: queue.Queue[object], item: object, done: threading.Event, waited: Callable[[float], None]
) -> bool:
    """Put ``item``, waiting while the queue is full, until it fits (True) or ``done`` is set
    (False: the consumer has gone); ``waited`` receives the seconds spent waiting."""
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
        waited(time.perf_counter() - t0)


def run_ahead(
    items: Generator[T, None, None],
    name: str,
    stop: StopFlag,
    producer_waited: Callable[[float], None] = lambda _: None,
    consumer_waited: Callable[[float], None] = lambda _: None,
    depth: int = FRAMES_AHEAD,
    ahead: queue.Queue[object] | None = None,
) -> Iterator[T]:
    """``items``, made on a background thread up to ``depth`` ahead of the caller, in order.

    Why: OpenCV and the interpreter release the GIL while they work, so the thread makes the
    next item while the caller works on this one: the two run at the speed of the slower,
    not of their sum. An exception in ``items`` is raised in the caller's thread, after the
    items made before it; when the caller stops early (or ``stop`` is set), ``items`` is
    closed on its thread. ``producer_waited`` / ``consumer_waited`` receive the seconds each
    side spent blocked on the other (a full queue, an empty one). ``ahead``: the queue to use
    instead of a new one of ``depth`` (its maxsize), for a producer that looks at how many
    items wait in it.
    """
    ahead = ahead if ahead is not None else queue.Queue(maxsize=depth)
    done = threading.Event()
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            for item in items:
                if not _put(ahead, item, done, producer_waited):
                    return
        except BaseException as exc:  # handed to the caller's thread, raised there
            failure.append(exc)
        finally:
            items.close()
            _put(ahead, _END, done, producer_waited)

    thread = threading.Thread(target=produce, name=name, daemon=True)
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
                    consumer_waited(time.perf_counter() - t0)
            if item is _END:
                break
            yield item  # type: ignore[misc]
    finally:
        done.set()
        thread.join(timeout=STREAM_TIMEOUT_MS / 1000 + 1)
    if failure:
        raise failure[0]


def frames(
    items: Generator[T, None, None],
    stop: StopFlag,
    summary: Summary,
    ahead: queue.Queue[object] | None = None,
) -> Iterator[T]:
    """:func:`frame_items` on a background thread (:func:`run_ahead`, through ``ahead`` if
    given), a few frames ahead of the caller: the next frame decodes while this one is
    classified."""

    def decoder_waited(seconds: float) -> None:
        summary.decoder_waited_s += seconds

    def loop_waited(seconds: float) -> None:
        if summary.frames:  # waiting for the source to open is not the loop's pace
            summary.loop_waited_s += seconds

    yield from run_ahead(items, "digit-edge-frames", stop, decoder_waited, loop_waited, ahead=ahead)
    if stop:
        summary.ended_by = stop.reason or "signal"


def frame_items(
    reader: DigitReader | NumberReader,
    spec: SourceSpec,
    options: CameraOptions,
    stop: StopFlag,
    summary: Summary,
    waiting: Callable[[], int],
) -> Generator[tuple[int, np.ndarray | None, FoundNumber | None], None, None]:
    """What the decoding thread makes of each frame of :func:`read_frames`: the frame, and
    for a NumberReader, as ``waiting()`` frames pile up for the loop, the first look at it for
    its digits (``NumberReader.find``) or all of its segmentation, leaving the loop only the
    model; None while the loop keeps up, which then reads the whole number itself.

    Why: a number's frame costs about 2 CPU ms besides its decoding, a single digit's 0.6.
    Which thread has more to do depends on the model and the interpreter (edgenet_int8's
    invoke costs 175 µs on tflite-runtime 2.14 here, 40 on ai-edge-litert) and on the
    machine, so the work follows the queue: a loop that waits for frames reads them whole
    (both threads looking at the same frame's digits only cost each other the GIL), a loop
    that is behind gets help. docs/edge.md, "Reading a number", has what each split gives.
    ``options.find_ahead`` off: the loop always reads the whole number itself.
    """
    find = reader.find if isinstance(reader, NumberReader) and options.find_ahead else None
    with contextlib.closing(read_frames(spec, options, stop, summary)) as decoded:
        for number, frame in decoded:
            behind = waiting() if find is not None and frame is not None else 0
            if behind < FIRST_LOOK_BEHIND:
                yield number, frame, None
                continue
            if summary.source_pace == "decoding":
                summary.source_pace = "decoding and finding the digits"
            yield number, frame, find(frame, whole=behind >= LOOP_BEHIND)


class StopLoop(Exception):
    """Raised by a consumer to end the loop normally (the window's q); the message says why."""


@dataclass
class FrameReading:
    """One classified frame, as every consumer of the loop receives it."""

    number: int  # 1-based frame number, skipped frames included
    frame: np.ndarray  # as the source delivered it (BGR, or grey from picamera2)
    reading: Reading
    fps: float  # frames per second over the last FPS_WINDOW frames
    summary: Summary  # the run so far (live: the loop keeps updating it)
    runtime: str = ""  # the interpreter, as the JSON lines name it
    seq: int = 0  # the readings of this run, 1, 2, 3, ...: a gap downstream is a lost reading
    at: float = field(default_factory=time.time)  # when it was read (Unix seconds)

    @functools.cached_property
    def record(self) -> dict[str, Any]:
        """The JSON line ``camera --json`` prints for this frame (made once, shared)."""
        return {
            "event": "frame",
            "frame": self.number,
            "seq": self.seq,
            "time": round(self.at, 3),
            "fps": round(self.fps, 2),
            **self.reading.as_dict(),
            "runtime": self.runtime,
        }


Consumer = Callable[[FrameReading], None]


@contextlib.contextmanager
def loop_threads() -> Iterator[None]:
    """One OpenCV thread and a thread switch interval of :data:`SWITCH_INTERVAL_S` while the
    loop runs; both restored when it ends.

    One OpenCV thread: the decoding thread has the other core, and OpenCV's workers split the
    normalisation's small images only to wait for (and spin on) that busy core (0.68 instead
    of 0.80 CPU ms per 640x480 frame when quiet, 0.80 instead of 1.07 under load; same FPS with
    a free core, same results).
    """
    cv_threads, switch_interval = cv2.getNumThreads(), sys.getswitchinterval()
    cv2.setNumThreads(1)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        yield
    finally:
        cv2.setNumThreads(cv_threads)
        sys.setswitchinterval(switch_interval)


def run(
    reader: DigitReader | NumberReader,
    options: CameraOptions,
    consumers: Sequence[Consumer] = (),
    stop: StopFlag | None = None,
) -> Summary:
    """The loop: classify frames, hand each reading to every consumer, return the summary.

    A consumer raising :class:`StopLoop` ends the loop normally; ``stop`` (set from another
    thread, or by SIGINT/SIGTERM when this is the main thread) ends it too.
    """
    spec = parse_source(options.source)
    summary = Summary(str(options.source))
    stop = stop if stop is not None else StopFlag()
    recent: collections.deque[float] = collections.deque(maxlen=FPS_WINDOW)
    runtime = reader.model.runtime.describe()
    start = time.perf_counter()
    with stop.installed(), loop_threads():
        try:
            ahead: queue.Queue[object] = queue.Queue(maxsize=FRAMES_AHEAD)
            items = frame_items(reader, spec, options, stop, summary, ahead.qsize)
            for number, frame, found in frames(items, stop, summary, ahead):
                summary.frames += 1
                now = time.perf_counter()
                recent.append(now)
                if number == 1:
                    summary.first_frame_at = now
                    summary.cpu_first = time.process_time()
                    summary.decode_cpu_first = summary.decode_cpu_s
                summary.last_frame_at = now
                if frame is None:
                    continue
                reading = reader.read(frame) if found is None else reader.finish(found)
                _count(summary, reading)
                fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 else 0.0
                event = FrameReading(
                    number, frame, reading, fps, summary, runtime, seq=summary.classified
                )
                for consumer in consumers:
                    consumer(event)
        except StopLoop as exc:
            summary.ended_by = str(exc)
        except StreamFailed as exc:
            summary.ended_by = "the source stopping"
            exc.summary = summary
            raise
        finally:
            summary.seconds = time.perf_counter() - start
            summary.cpu_last = time.process_time()
            for consumer in consumers:
                close = getattr(consumer, "close", None)
                if close is not None:
                    close()
    return summary


def _count(summary: Summary, reading: Reading) -> None:
    summary.classified += 1
    summary.classify_ms.append(sum(reading.timings_ms.values()))
    if reading.label is not None:
        summary.digits += 1
        summary.counts[reading.label] = summary.counts.get(reading.label, 0) + 1


class JsonLines:
    """Prints each reading as one JSON line (``camera --json``), or only when it changes."""

    def __init__(self, out: TextIO | None = None, changes_only: bool = False) -> None:
        self.out = out
        self.changes_only = changes_only
        self.last_label: object = object()

    def __call__(self, event: FrameReading) -> None:
        label = event.reading.label
        if not self.changes_only or label != self.last_label:
            out = self.out or sys.stdout
            out.write(json.dumps(event.record) + "\n")
            out.flush()
        self.last_label = label


class Window:
    """The live view on a display: the frame, the digit's box, the reading and the FPS."""

    NAME = "digit-edge"

    def __init__(self) -> None:
        # Without a display, a Qt or GTK build of OpenCV aborts the process at the first
        # imshow, before any Python error can be raised; so ask before opening anything.
        if sys.platform.startswith("linux") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        ):
            raise CameraError(
                "no display to open a window on (DISPLAY and WAYLAND_DISPLAY are unset): use "
                "--headless, or `digit-edge serve` to watch from a browser"
            )

    def __call__(self, event: FrameReading) -> None:
        """Draw and show; q or Esc ends the loop."""
        view = overlay.draw(event.frame, event.reading, event.fps)
        try:
            cv2.imshow(self.NAME, view)
            key = cv2.waitKey(1) & 0xFF
        except cv2.error:
            raise CameraError(
                "this OpenCV has no display support (opencv-python-headless): use --headless"
            ) from None
        if key in (ord("q"), 27):
            raise StopLoop("key")

    def close(self) -> None:
        with contextlib.suppress(cv2.error):
            cv2.destroyAllWindows()
