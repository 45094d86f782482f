"""Camera sources: parsing, the MJPEG stream on stdin, GStreamer, picamera2 (a stand-in).

Each path is checked to read the same labels as the file source reads from the same video.
The GStreamer path needs Debian's OpenCV: `make test-debian` runs this file in .venv-debian,
where DIGIT_EDGE_REQUIRE_GSTREAMER=1 turns its skip into a failure.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time

import cv2
import pytest

from edge.errors import CameraError
from edge.sources import MjpegReader, has_gstreamer, parse_source
from tests.edge.helpers import ROOT, write_video

STANDINS = ROOT / "tests" / "edge" / "standins"
NEEDS_GSTREAMER = pytest.mark.skipif(
    not has_gstreamer() and os.environ.get("DIGIT_EDGE_REQUIRE_GSTREAMER") != "1",
    reason="this OpenCV has no GStreamer backend (make test-debian runs it with Debian's)",
)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("video") / "digits.avi", frames=60)


def _run(args, model, stdin=None, env=None, timeout=120):
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "edge", "camera", *args, "--model", str(model), "--headless"],
        input=stdin, capture_output=True, timeout=timeout, env=full_env, cwd=ROOT,
    )  # fmt: skip
    stderr = proc.stderr.decode()
    lines = [json.loads(x) for x in proc.stdout.decode().splitlines() if x.strip()]
    return proc.returncode, lines, stderr


def _labels(lines):
    return [line["label"] for line in lines if line["event"] == "frame"]


@pytest.fixture(scope="module")
def file_labels(int8_model, video):
    code, lines, stderr = _run(["--source", str(video)], int8_model)
    assert code == 0, stderr
    labels = _labels(lines)
    assert len(labels) == 60 and sum(lb == str(i // 10 % 10) for i, lb in enumerate(labels)) >= 50
    return labels


@pytest.mark.parametrize(
    ("text", "kind", "target", "live"),
    [
        ("0", "v4l2", 0, True),
        ("/dev/video2", "v4l2", "/dev/video2", True),
        ("picamera2", "picamera2", "picamera2", True),
        ("-", "stdin", "-", False),
        ("auto", "auto", "auto", True),
        ("videotestsrc ! appsink", "gstreamer", "videotestsrc ! appsink", True),
        ("filesrc location=a.avi ! decodebin ! appsink", "gstreamer", None, False),
        ("clip.mp4", "file", "clip.mp4", False),
        ("rtsp://127.0.0.1:8554/cam", "file", "rtsp://127.0.0.1:8554/cam", True),
    ],
)
def test_parse_source(text, kind, target, live):
    spec = parse_source(text)
    assert spec.kind == kind and spec.live is live
    assert target is None or spec.target == target


def test_picamera2_size_is_parsed_and_checked():
    assert parse_source("picamera2:320x240").size == (320, 240)
    assert parse_source("picamera2").size == (640, 480)
    with pytest.raises(CameraError, match="expected picamera2:WIDTHxHEIGHT"):
        parse_source("picamera2:big")


def _jpeg(frame) -> bytes:
    return cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def _video_jpegs(video) -> list[bytes]:
    cap = cv2.VideoCapture(str(video))
    out = []
    while (frame := cap.read())[0]:
        out.append(_jpeg(frame[1]))
    cap.release()
    return out


def test_mjpeg_reader_skips_and_counts_what_it_cannot_decode(video):
    jpegs = _video_jpegs(video)[:5]
    junk = b"\xff\xd8\xff\xe0" + b"\x00" * 50 + b"\xff\xd9"  # markers, no image
    stream = jpegs[0] + jpegs[1][:800] + jpegs[2] + b"noise" + junk + jpegs[3] + jpegs[4][:900]
    reader = MjpegReader(io.BytesIO(stream))
    frames = []
    while (got := reader.read())[0]:
        frames.append(got[1])
    assert len(frames) == 3 and all(f.shape == (240, 320, 3) for f in frames)
    # the cut-short 2nd, the undecodable junk, and the stream ending inside the 5th
    assert reader.skipped == 3


def test_stdin_reads_the_same_labels_as_the_file(int8_model, video, file_labels):
    """A writer of real digit JPEGs, one cut short mid-stream: skipped, counted, not fatal."""
    jpegs = _video_jpegs(video)
    stream = b"".join(jpegs[:30]) + jpegs[30][: len(jpegs[30]) // 2] + b"".join(jpegs[30:])
    code, lines, stderr = _run(["--source", "-"], int8_model, stdin=stream)
    assert code == 0, stderr
    summary = lines[-1]
    assert summary["skipped"] == 1 and summary["ended_by"] == "end of input"
    assert _labels(lines) == file_labels
    assert "1 skipped (undecodable)" in stderr


def test_a_pipe_written_slowly_sets_the_pace_as_the_source(int8_model, video):
    """rpicam-vid writes frames at the camera's rate: the summary names the source, not our
    decoding, as what set the pace."""
    jpegs = _video_jpegs(video)[:20]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge", "camera", "--source", "-", "--model", str(int8_model),
         "--headless"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT,
    )  # fmt: skip
    for i, jpeg in enumerate(jpegs):  # 20 frames a second, as a camera delivers them
        proc.stdin.write(jpeg)
        proc.stdin.flush()
        time.sleep(3 if i == 0 else 0.05)  # the first while the process starts: no backlog
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    summary = json.loads(out.decode().splitlines()[-1])
    assert summary["frames"] == 20 and summary["fps"] < 25
    assert summary["bound_by"] == "the source"


def test_stdin_without_jpeg_is_one_line(int8_model):
    code, lines, stderr = _run(["--source", "-"], int8_model, stdin=b"not a stream")
    assert code == 2 and lines == []
    assert stderr.strip().splitlines()[-1] == (
        "digit-edge: error: -: no frames (no complete JPEG on standard input; "
        "expected an MJPEG stream)"
    )


@NEEDS_GSTREAMER
def test_stdin_fed_by_gst_launch(int8_model):
    gst = shutil.which("gst-launch-1.0")
    assert gst, "gst-launch-1.0 missing (apt-get install gstreamer1.0-tools)"
    feed = subprocess.run(
        [gst, "-q", "videotestsrc", "num-buffers=25", "!", "video/x-raw,width=320,height=240",
         "!", "jpegenc", "!", "fdsink", "fd=1"],
        capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    code, lines, stderr = _run(["--source", "-"], int8_model, stdin=feed.stdout)
    assert code == 0, stderr
    assert lines[-1]["frames"] == 25 and lines[-1]["skipped"] == 0


@NEEDS_GSTREAMER
def test_gstreamer_pipeline_reads_the_same_labels_as_the_file(int8_model, video, file_labels):
    pipeline = f"filesrc location={video} ! decodebin ! videoconvert ! appsink"
    code, lines, stderr = _run(["--source", pipeline], int8_model)
    assert code == 0, stderr
    assert _labels(lines) == file_labels and lines[-1]["ended_by"] == "end of video"


@NEEDS_GSTREAMER
def test_a_broken_gstreamer_pipeline_is_one_line(int8_model):
    code, _, stderr = _run(["--source", "nosuchelement ! appsink"], int8_model)
    assert code == 2
    assert stderr.strip().splitlines()[-1] == (
        "digit-edge: error: nosuchelement ! appsink: GStreamer cannot start this pipeline "
        "(`gst-launch-1.0 -v` it to see why)"
    )


@pytest.mark.skipif(has_gstreamer(), reason="this OpenCV has GStreamer")
def test_gstreamer_without_the_backend_says_what_to_install(int8_model):
    code, _, stderr = _run(["--source", "videotestsrc ! appsink"], int8_model)
    assert code == 2
    last = stderr.strip().splitlines()[-1]
    assert "no GStreamer backend (PyPI's opencv-python wheels do not)" in last
    assert "python3-opencv" in last and "--system-site-packages" in last


def _standin_env(video, tmp_path, **extra):
    return {
        "PYTHONPATH": f"{STANDINS}{os.pathsep}{ROOT}",
        "STANDIN_PICAMERA2_VIDEO": str(video),
        "STANDIN_PICAMERA2_LOG": str(tmp_path / "calls.log"),
        **extra,
    }


@pytest.mark.parametrize("source", ["picamera2:320x240", "auto"])
def test_picamera2_reads_the_same_labels_as_the_file(
    int8_model, video, file_labels, tmp_path, source
):
    env = _standin_env(video, tmp_path)
    args = ["--source", source, "--max-frames", "60"]
    code, lines, stderr = _run(args, int8_model, env=env)
    assert code == 0, stderr
    labels = _labels(lines)
    # grey from the Y plane vs OpenCV's BGR-to-grey: the same digit, at most a rare flip
    same = sum(a == b for a, b in zip(labels, file_labels, strict=True))
    assert len(labels) == 60 and same >= 58
    if source != "auto":  # auto opens at 640x480: boxes scale, the stand-in resizes
        assert all(line["box"][2] < 320 for line in lines[:-1] if line["box"])
    calls = (tmp_path / "calls.log").read_text().split("\n")
    assert calls[:3] == ["open", "configure buffers=3 display=None", "start preview=False"]
    assert calls[-3:-1] == ["stop", "close"]


def test_picamera2_busy_and_absent_are_one_line(int8_model, video, tmp_path):
    busy = _standin_env(video, tmp_path, STANDIN_PICAMERA2_BUSY="1")
    code, _, stderr = _run(["--source", "picamera2"], int8_model, env=busy)
    assert code == 2 and stderr.strip().splitlines()[-1].startswith(
        "digit-edge: error: picamera2: camera busy: another process holds it"
    )
    none = _standin_env(video, tmp_path, STANDIN_PICAMERA2_CAMERAS="0")
    code, _, stderr = _run(["--source", "picamera2"], int8_model, env=none)
    assert code == 2 and "picamera2: no camera found" in stderr.strip().splitlines()[-1]
    webcam = "digit-edge: error: camera /dev/video0: cannot be opened (no such camera?); auto: "
    code, _, stderr = _run(["--source", "auto"], int8_model, env=none)  # falls back to V4L2
    assert code == 2
    assert stderr.strip().splitlines()[-1] == webcam + "picamera2 found no camera module"
    failing = _standin_env(video, tmp_path, STANDIN_PICAMERA2_CAMERAS="error")
    code, _, stderr = _run(["--source", "auto"], int8_model, env=failing)
    assert code == 2
    assert stderr.strip().splitlines()[-1] == (
        webcam + "picamera2 failed (libcamera: failed to create camera manager)"
    )
    code, _, stderr = _run(["--source", "auto"], int8_model)  # no stand-in: not installed
    assert code == 2 and stderr.strip().splitlines()[-1] == (
        webcam + "picamera2 is not installed (sudo apt install python3-picamera2)"
    )


def test_picamera2_missing_says_what_to_install(int8_model):
    code, _, stderr = _run(["--source", "picamera2"], int8_model)
    assert code == 2
    assert "picamera2 is not installed" in stderr and "python3-picamera2" in stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="DISPLAY is X11/Wayland's")
def test_a_window_without_a_display_is_one_line_not_an_abort(int8_model, video):
    """Debian's OpenCV (Qt) aborts the process at the first imshow without a display (exit
    134 and Qt's messages), so the camera asks for a display before opening a window."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    proc = subprocess.run(
        [sys.executable, "-m", "edge", "camera", "--source", str(video), "--model",
         str(int8_model), "--max-frames", "3"],
        capture_output=True, text=True, timeout=120, env={**env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "digit-edge: error: no display to open a window on (DISPLAY and WAYLAND_DISPLAY are "
        "unset): use --headless, or `digit-edge serve` to watch from a browser"
    ]
