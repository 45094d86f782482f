"""`camera --number`'s two halves: while frames wait for the loop, the decoding thread takes
the first look at each frame for its digits (and all of its segmentation when more wait) while
the loop reads the previous frame's; a loop that keeps up reads whole numbers
(edge.camera.frame_items); the same readings, in order, as reading frame by frame; errors and
early stops reach the caller."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from edge import bench, camera
from edge.camera import CameraOptions, StopFlag, StopLoop, run, run_ahead
from edge.model import open_model
from edge.number import FoundNumber, NumberReader
from edge.pipeline import DigitReader
from edge.sources import parse_source


@pytest.fixture(scope="module")
def number_video(tmp_path_factory, mnist_data):
    """The bench's video of 6-digit numbers (each held for 10 frames), 60 frames."""
    path = tmp_path_factory.mktemp("numbers") / "numbers.avi"
    return bench.write_number_video(path, mnist_data.x_test, mnist_data.y_test, frames=60)


@pytest.fixture(scope="module")
def numbers(int8_model):
    return NumberReader(DigitReader(open_model(int8_model)))


def _decoded(video) -> list[np.ndarray]:
    cap, frames = cv2.VideoCapture(str(video)), []
    while (got := cap.read())[0]:
        frames.append(got[1])
    cap.release()
    return frames


def _readings(reader, options: CameraOptions) -> tuple[list, object]:
    seen: list = []
    summary = run(reader, options, [lambda e: seen.append((e.number, e.reading.as_dict()))])
    return seen, summary


def _without_timings(reading: dict) -> dict:
    return {k: v for k, v in reading.items() if k != "timings_ms"}


def _loop_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("digit-edge-")]


@pytest.mark.parametrize("split", ["as the queue says", "first looks always", "loop alone"])
def test_each_frame_reads_as_alone_however_the_work_is_split(
    numbers, number_video, monkeypatch, split
):
    """Each frame's number, digits, probabilities and boxes, in frame order, equal
    NumberReader.read on that frame: the first look on the decoding thread as the queue says,
    on every frame (the threshold at 0 frames waiting), or never (``find_ahead`` off)."""
    want = [_without_timings(numbers.read(f).as_dict()) for f in _decoded(number_video)]
    assert len(want) == 60 and sum(len(r["digits"]) == 6 for r in want[::10]) >= 4
    if split == "first looks always":
        monkeypatch.setattr(camera, "FIRST_LOOK_BEHIND", 0)
    options = CameraOptions(str(number_video), find_ahead=split != "loop alone")
    seen, summary = _readings(numbers, options)
    assert [n for n, _ in seen] == list(range(1, 61))
    assert [_without_timings(r) for _, r in seen] == want
    assert summary.frames == summary.classified == 60
    assert summary.ended_by == "end of video"
    paces = {
        "as the queue says": {"decoding", "decoding and finding the digits"},
        "first looks always": {"decoding and finding the digits"},
        "loop alone": {"decoding"},
    }
    assert summary.source_pace in paces[split]
    timings = seen[0][1]["timings_ms"]
    assert set(timings) == {"preprocess", "invoke"} and min(timings.values()) > 0
    assert _loop_threads() == []


@pytest.mark.parametrize(("waiting", "found", "whole"), [(0, 0, 0), (1, 12, 0), (2, 12, 12)])
def test_the_decoding_thread_does_more_as_frames_wait(numbers, number_video, waiting, found, whole):
    """The rule itself, frame by frame: with no frame waiting for the loop the decoding thread
    only decodes; with 1 it takes the first look; with 2 or more it segments the frame whole."""
    options = CameraOptions(str(number_video), max_frames=12)
    summary = camera.Summary(str(number_video))
    spec = parse_source(options.source)
    items = list(camera.frame_items(numbers, spec, options, StopFlag(), summary, lambda: waiting))
    assert [n for n, _, _ in items] == list(range(1, 13))
    looked = [f for _, _, f in items if f is not None]
    assert len(looked) == found
    assert sum(f.segmentation is not None for f in looked) == whole
    pace = "decoding and finding the digits" if found else "decoding"
    assert summary.source_pace == pace


def test_a_slow_loop_gets_whole_segmentations_and_the_same_readings(
    numbers, int8_model, number_video
):
    """While frames pile up for the loop (a consumer taking 10 ms a frame), the decoding
    thread segments them whole (NumberReader.find(whole=True)) and the loop runs only the
    model; the first frame, with nothing waiting, the loop reads whole itself. The readings
    stay those of NumberReader.read, frame by frame."""

    segmented_whole: list[bool] = []
    read_by_the_loop: list[int] = []

    class Counting(NumberReader):
        def find(self, image: np.ndarray, whole: bool = False) -> FoundNumber:
            found = super().find(image, whole)
            if threading.current_thread().name == "digit-edge-frames":  # not read's own find
                segmented_whole.append(found.segmentation is not None)
            return found

        def read(self, image: np.ndarray):
            read_by_the_loop.append(1)
            return super().read(image)

    reader = Counting(DigitReader(open_model(int8_model)))
    want = [_without_timings(numbers.read(f).as_dict()) for f in _decoded(number_video)]
    seen: list = []

    def slow(event) -> None:
        seen.append(_without_timings(event.reading.as_dict()))
        time.sleep(0.01)

    run(reader, CameraOptions(str(number_video)), [slow])
    assert seen == want
    assert len(segmented_whole) + len(read_by_the_loop) == 60
    assert read_by_the_loop  # nothing waits for the first frame
    assert sum(segmented_whole) >= 30  # the rest mostly wait in the queue
    assert _loop_threads() == []


def test_finding_on_the_decoding_thread_keeps_every_and_max_frames(numbers, number_video):
    seen, summary = _readings(numbers, CameraOptions(str(number_video), every=4, max_frames=30))
    assert [n for n, _ in seen] == list(range(1, 30, 4))
    assert summary.frames == 30 and summary.classified == 8
    assert summary.ended_by == "--max-frames 30"


def test_an_error_finding_digits_reaches_the_caller_after_the_frames_before_it(
    int8_model, number_video, monkeypatch
):
    monkeypatch.setattr(camera, "FIRST_LOOK_BEHIND", 0)  # the decoding thread looks at each

    class FailsOnFrame5(NumberReader):
        calls = 0

        def find(self, image: np.ndarray, whole: bool = False) -> FoundNumber:
            self.calls += 1
            if self.calls == 5:
                raise RuntimeError("finding failed on frame 5")
            return super().find(image, whole)

    reader = FailsOnFrame5(DigitReader(open_model(int8_model)))
    seen: list[int] = []
    with pytest.raises(RuntimeError, match="finding failed on frame 5"):
        run(reader, CameraOptions(str(number_video)), [lambda e: seen.append(e.number)])
    assert seen == [1, 2, 3, 4]
    assert _loop_threads() == []


def test_an_error_opening_the_source_reaches_the_caller(numbers, tmp_path):
    from edge.errors import CameraError

    not_a_video = tmp_path / "notes.avi"
    not_a_video.write_text("not a video\n")
    with pytest.raises(CameraError, match=r"notes\.avi: cannot be opened"):
        run(numbers, CameraOptions(str(not_a_video)))
    assert _loop_threads() == []


def test_a_consumer_stopping_the_loop_stops_both_threads(numbers, number_video):
    def stop_after_5(event) -> None:
        if event.number == 5:
            raise StopLoop("enough")

    summary = run(numbers, CameraOptions(str(number_video)), [stop_after_5])
    assert summary.ended_by == "enough"
    assert summary.frames == summary.classified == 5  # frames decoded ahead are not counted
    assert _loop_threads() == []


def test_run_ahead_keeps_order_raises_after_the_items_before_and_closes_early():
    closed: list[bool] = []

    def items(fail_at: int | None):
        try:
            for i in range(100):
                if i == fail_at:
                    raise ValueError(f"item {i}")
                yield i
        finally:
            closed.append(True)

    assert list(run_ahead(items(None), "digit-edge-test", StopFlag(), depth=2)) == list(range(100))
    got: list[int] = []
    with pytest.raises(ValueError, match="item 7"):
        for i in run_ahead(items(7), "digit-edge-test", StopFlag()):
            got.append(i)
    assert got == list(range(7))
    early = run_ahead(items(None), "digit-edge-test", StopFlag(), depth=2)
    assert [next(early) for _ in range(3)] == [0, 1, 2]
    early.close()  # the caller stops: the producer's thread ends and closes its items
    assert closed == [True, True, True] and _loop_threads() == []
