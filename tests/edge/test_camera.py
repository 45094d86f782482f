"""The camera loop, headless, on videos written here; signals; sources that fail."""

from __future__ import annotations

import io
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from click.testing import CliRunner

from edge.camera import SWITCH_INTERVAL_S, CameraOptions, JsonLines, run
from edge.cli import cli
from edge.model import open_model
from edge.pipeline import DigitReader
from tests.edge.helpers import ROOT, write_video


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("video") / "digits.avi", frames=60)


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("video") / "long.avi", frames=3000, size=(160, 120))


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_headless_reads_a_video_to_its_end(int8_model, video):
    result = CliRunner().invoke(cli, ["camera", "--source", str(video), "--model", str(int8_model),
                                      "--headless"])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    lines = _lines(result.stdout)
    frames, summary = lines[:-1], lines[-1]
    assert len(frames) == 60 and all(f["event"] == "frame" for f in frames)
    assert summary["event"] == "summary" and summary["ended_by"] == "end of video"
    assert summary["frames"] == 60 and summary["classified"] == 60
    # the video shows digit (frame // 10) % 10: frames 1-10 a 0, 11-20 a 1, ...
    correct = sum(f["label"] == str((f["frame"] - 1) // 10 % 10) for f in frames)
    assert correct >= 50
    assert "ended by end of video" in result.stderr


def test_every_max_frames_and_changes_only(int8_model, video):
    reader = DigitReader(open_model(int8_model))
    out: list[dict] = []
    summary = run(reader, CameraOptions(str(video), every=3, max_frames=30), [out.append])
    assert summary.frames == 30 and summary.classified == 10 and len(out) == 10
    assert [e.number for e in out] == list(range(1, 30, 3))
    assert summary.ended_by == "--max-frames 30"
    lines = io.StringIO()
    summary = run(reader, CameraOptions(str(video)), [JsonLines(lines, changes_only=True)])
    printed = _lines(lines.getvalue())
    assert summary.classified == 60 and 5 <= len(printed) < 20
    assert all(a["label"] != b["label"] for a, b in itertools.pairwise(printed))


def test_missing_video_file(int8_model, tmp_path):
    result = CliRunner().invoke(cli, ["camera", "--source", str(tmp_path / "none.mp4"),
                                      "--model", str(int8_model), "--headless"])  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.strip().endswith("no such video file (or use a camera index like 0)")


def test_empty_source_says_what_a_source_is(int8_model):
    result = CliRunner().invoke(cli, ["camera", "--source", " ", "--model", str(int8_model),
                                      "--headless"])  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.strip().endswith(
        "--source is empty: give a camera index (0), auto, "
        "picamera2, a video file, a URL or a GStreamer pipeline"
    )


def test_not_a_video(int8_model, tmp_path):
    fake = tmp_path / "fake.mp4"
    fake.write_text("not a video")
    result = CliRunner().invoke(cli, ["camera", "--source", str(fake), "--model", str(int8_model),
                                      "--headless"])  # fmt: skip
    assert result.exit_code == 2 and "cannot be opened" in result.stderr


def test_a_file_opencv_opens_but_holds_no_frames_is_one_line(int8_model, tmp_path):
    """A .png path opens as an image sequence; a text file under that name gives no frame:
    an error, not an empty "end of video", and FFmpeg's own complaints are not shown."""
    fake = tmp_path / "fake.png"
    fake.write_text("not an image")
    args = ["camera", "--source", str(fake), "--model", str(int8_model), "--headless"]
    proc = subprocess.run(
        [sys.executable, "-m", "edge", *args], capture_output=True, text=True, timeout=60
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and proc.stdout == ""
    assert lines[-1] == f"digit-edge: error: {fake}: no frames (not a video OpenCV can read?)"
    assert all(line.startswith("INFO: ") for line in lines[:-1]), lines


def test_one_frame_names_no_bottleneck(int8_model, video):
    reader = DigitReader(open_model(int8_model))
    summary = run(reader, CameraOptions(str(video), max_frames=1))
    assert summary.frames == 1 and summary.bound_by is None
    assert summary.as_dict()["bound_by"] is None


def test_camera_index_that_does_not_exist(int8_model):
    start = time.monotonic()
    result = CliRunner().invoke(cli, ["camera", "--source", "57", "--model", str(int8_model),
                                      "--headless"])  # fmt: skip
    assert result.exit_code == 2
    assert "camera 57: cannot be opened (no such camera?)" in result.stderr
    assert "Traceback" not in result.stderr and time.monotonic() - start < 20


def test_missing_camera_is_one_line_even_from_opencv(int8_model):
    args = ["camera", "--source", "57", "--model", str(int8_model), "--headless"]
    proc = subprocess.run(
        [sys.executable, "-m", "edge", *args], capture_output=True, text=True, timeout=60
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2
    assert lines[-1] == "digit-edge: error: camera 57: cannot be opened (no such camera?)"
    # OpenCV's own "[ WARN:0@0.07] global cap_v4l.cpp ..." lines are silenced; the only other
    # line allowed is the interpreter's "INFO: Created TensorFlow Lite XNNPACK delegate".
    assert all(line.startswith("INFO: ") for line in lines[:-1]), lines


def test_window_mode_without_display_support_is_one_line(int8_model, video):
    import cv2

    if (
        "GTK" in cv2.getBuildInformation()
        or "QT" in cv2.getBuildInformation().upper().split("GUI")[-1][:200]
    ):
        pytest.skip("this OpenCV has a GUI backend")
    result = CliRunner().invoke(cli, ["camera", "--source", str(video), "--model", str(int8_model)])
    assert result.exit_code == 2 and "use --headless" in result.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_during_camera_ends_cleanly_with_a_summary(int8_model, long_video, sig):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge", "camera", "--source", str(long_video), "--model",
         str(int8_model), "--headless"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    watchdog = threading.Timer(20, proc.kill)
    watchdog.start()
    try:
        first = proc.stdout.readline()  # the loop is running
        assert json.loads(first)["event"] == "frame"
        proc.send_signal(sig)
        # Read on through the same buffered stream: readline() may already hold later lines,
        # which communicate() (reading the raw pipe) would never see.
        stdout = first + proc.stdout.read()
        stderr = proc.stderr.read()
        proc.wait()
    finally:
        watchdog.cancel()
        proc.kill()
    assert proc.returncode == 0, stderr
    summary = _lines(stdout)[-1]
    assert summary["event"] == "summary" and summary["ended_by"] == sig.name
    assert 0 < summary["frames"] < 3000
    assert "Traceback" not in stderr and f"ended by {sig.name}" in stderr


class _FlakyCapture:
    """A stream that delivers ``good`` frames, then nothing, however often it is reopened."""

    opened = 0

    def __init__(self, good: int) -> None:
        self.good = good
        type(self).opened += 1

    def read(self):
        import numpy as np

        if self.good > 0:
            self.good -= 1
            return True, np.full((120, 160, 3), 200, np.uint8)
        return False, None

    def grab(self):
        return self.read()[0]

    def release(self) -> None:
        pass


def test_a_stream_that_stops_is_retried_then_an_error(int8_model, monkeypatch):
    from edge import camera
    from edge.errors import CameraError

    _FlakyCapture.opened = 0
    first = iter([5])
    monkeypatch.setattr(camera, "open_source", lambda spec: _FlakyCapture(next(first, 0)))
    reader = DigitReader(open_model(int8_model))
    out: list[dict] = []
    options = CameraOptions("rtsp://127.0.0.1:9/stream", retries=3, retry_delay=0.01)
    start = time.monotonic()
    gave_up = r"stopped delivering frames \(gave up after 3 reopen"
    with pytest.raises(CameraError, match=gave_up) as err:
        run(reader, options, [out.append])
    assert len(out) == 5 and _FlakyCapture.opened == 4  # the first open + 3 retries
    assert time.monotonic() - start < 5
    assert err.value.summary.classified == 5 and err.value.summary.ended_by == "the source stopping"


def test_a_stream_that_stops_still_prints_its_summary(int8_model, monkeypatch):
    """The frames read before the stream stopped are accounted for: the summary JSON line and
    the summary on stderr, then the error and exit 1."""
    from edge import camera

    first = iter([4])
    monkeypatch.setattr(camera, "open_source", lambda spec: _FlakyCapture(next(first, 0)))
    result = CliRunner().invoke(cli, ["camera", "--source", "rtsp://127.0.0.1:9/s", "--model",
                                      str(int8_model), "--headless", "--retries", "1"])  # fmt: skip
    assert result.exit_code == 1
    lines = _lines(result.stdout)
    assert [x["event"] for x in lines] == ["frame"] * 4 + ["summary"]
    assert lines[-1]["classified"] == 4 and lines[-1]["ended_by"] == "the source stopping"
    errors = result.stderr.strip().splitlines()
    assert "4 classified" in errors[-2] and "ended by the source stopping" in errors[-2]
    assert errors[-1].startswith("digit-edge: error: rtsp://127.0.0.1:9/s: stopped delivering")


def test_summary_splits_cpu_and_restores_opencv_threads(int8_model, video):
    """The loop reports decoding vs the rest in CPU ms per frame, and leaves OpenCV and
    Python's thread switch interval as they were (SWITCH_INTERVAL_S while it runs)."""
    import cv2

    reader = DigitReader(open_model(int8_model))
    before, switch = cv2.getNumThreads(), sys.getswitchinterval()
    during: list[tuple[int, float]] = []

    def note(_event: object) -> None:
        during.append((cv2.getNumThreads(), sys.getswitchinterval()))

    summary = run(reader, CameraOptions(str(video)), [note])
    assert cv2.getNumThreads() == before and sys.getswitchinterval() == switch
    assert set(during) == {(1, SWITCH_INTERVAL_S)} and switch != SWITCH_INTERVAL_S
    decode, rest = summary.cpu_ms_per_frame()
    assert summary.decoded == 60 and decode > 0 and rest > 0
    cpu = summary.as_dict()["cpu_ms_per_frame"]
    assert set(cpu) == {"decode", "rest"} and cpu["decode"] > 0


def test_summary_says_who_waited_for_whom(int8_model, tmp_path):
    """The waits name the bottleneck: a loop that sleeps 5 ms a frame holds the decoder up;
    one that only checks the frame's shape (--preprocess none on 640x480) waits for it."""
    big = write_video(tmp_path / "big.avi", frames=90, size=(640, 480))
    model = open_model(int8_model)
    options = CameraOptions(str(big))
    slow = run(DigitReader(model), options, [lambda _: time.sleep(0.005)])
    decoder, loop = slow.waited()
    assert slow.bound_by == "the loop" and decoder > 0.5 and decoder > loop
    fast = run(DigitReader(model, preprocess="none"), options)
    decoder, loop = fast.waited()
    assert fast.bound_by == "decoding" and loop > decoder
    summary = fast.as_dict()
    assert summary["bound_by"] == "decoding" and summary["decode_ms_per_frame"] > 0
    assert set(summary["waited"]) == {"decoder_for_loop", "loop_for_decoder"}
    assert all(0.0 <= v <= 1.0 for v in summary["waited"].values())


def test_camera_readings_do_not_depend_on_opencv_threads(int8_model, video):
    """One OpenCV thread in the loop: the same readings as normalising with the default threads."""
    import cv2

    from edge.normalize import normalize

    reader = DigitReader(open_model(int8_model))
    seen: list[tuple] = []
    run(
        reader,
        CameraOptions(str(video), max_frames=20),
        [lambda e: seen.append((e.frame, e.reading.label, e.reading.probability, e.reading.box))],
    )
    assert len(seen) == 20
    cv2.setNumThreads(max(2, cv2.getNumThreads()))
    for frame, label, probability, box in seen:
        again = reader.read(frame)
        assert (again.label, again.probability, again.box) == (label, probability, box)
        assert normalize(frame).box == box


def test_capturing_fd2_leaves_stdout_alone(capfd):
    """The camera mutes OpenCV/FFmpeg on fd 2 from its reading thread; what the main thread
    prints on stdout meanwhile (JSON lines) must still come out, and fd 2 is captured."""
    import os

    from edge.quiet import captured_fds

    with captured_fds((2,)) as captured:
        print("a JSON line", flush=True)
        os.write(2, b"[png @ 0x1] Invalid PNG signature\n")
    out, err = capfd.readouterr()
    assert out == "a JSON line\n" and "PNG" not in err and "PNG" in captured.text


def test_two_threads_capturing_fd2_leave_it_where_it_was():
    """The camera's reader reopening a stream and the loop loading a model (--number meets a new
    batch size) both capture fd 2: one waits for the other, and stderr is stderr again after."""
    import os
    import threading

    from edge.quiet import captured_fds

    def identity() -> tuple[int, int]:
        stat = os.fstat(2)
        return stat.st_dev, stat.st_ino

    before = identity()
    second_inside = threading.Event()

    def second() -> None:
        with captured_fds((2,)):
            second_inside.set()

    with captured_fds((2,)):
        other = threading.Thread(target=second)
        other.start()
        # Without one capture at a time the second would redirect fd 2 now, and restore it to
        # this capture's file after this one ends.
        assert not second_inside.wait(0.3)
    other.join(5)
    assert second_inside.is_set() and identity() == before


def test_realtime_plays_a_file_at_its_frame_rate(int8_model, tmp_path):
    """--realtime: 45 frames of a 90 FPS file take half a second, not the ~50 ms they decode in;
    seq numbers the readings and time says when each was read."""
    video = write_video(tmp_path / "paced.avi", frames=45, size=(160, 120), fps=90.0)
    reader = DigitReader(open_model(int8_model))
    out = io.StringIO()
    summary = run(reader, CameraOptions(str(video), realtime=True), [JsonLines(out)])
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert summary.frames == 45 and [r["seq"] for r in records] == list(range(1, 46))
    assert 0.85 * 90 <= summary.fps <= 1.05 * 90
    assert 44 / 90 * 0.95 <= records[-1]["time"] - records[0]["time"] <= 44 / 90 * 1.3


def test_camera_fps_by_model_is_a_ratio_to_lenet_int8(int8_model, tmp_path):
    from edge.bench import camera_fps_by_model

    video = write_video(tmp_path / "digits.avi", frames=40)
    models = [int8_model.with_name("lenet_float32.tflite"), int8_model]
    result = camera_fps_by_model(models, video, None, rounds=2)
    ref = str(models[1])  # lenet_int8 is the reference wherever it is in the list
    assert result["reference"] == ref and result["ratio"][ref] == 1.0
    assert set(result["fps"]) == {str(m) for m in models}
    assert all(fps > 0 for fps in result["fps"].values())
    other = result["fps"][str(models[0])] / result["fps"][ref]
    assert result["ratio"][str(models[0])] == pytest.approx(other)
