"""`camera --number`'s two halves: the decoding thread also takes the first look at each frame
for its digits (and all of its segmentation when the loop is behind) while the loop reads the
previous frame's (edge.camera.frame_items); the same readings, in order, as reading frame by
frame; errors and early stops reach the caller."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from edge import bench
from edge.camera import CameraOptions, StopFlag, StopLoop, run, run_ahead
from edge.model import open_model
from edge.number import FoundNumber, NumberReader
from edge.pipeline import DigitReader


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


def test_found_on_the_decoding_thread_each_frame_reads_as_alone(numbers, number_video):
    """Each frame's number, digits, probabilities and boxes, in frame order, equal
    NumberReader.read on that frame, with the first look on the decoding thread or not."""
    want = [_without_timings(numbers.read(f).as_dict()) for f in _decoded(number_video)]
    assert len(want) == 60 and sum(len(r["digits"]) == 6 for r in want[::10]) >= 4
    for ahead in (True, False):
        seen, summary = _readings(numbers, CameraOptions(str(number_video), find_ahead=ahead))
        assert [n for n, _ in seen] == list(range(1, 61))
        assert [_without_timings(r) for _, r in seen] == want
        assert summary.frames == summary.classified == 60
        assert summary.ended_by == "end of video"
        pace = "decoding and finding the digits" if ahead else "decoding"
        assert summary.source_pace == pace
        timings = seen[0][1]["timings_ms"]
        assert set(timings) == {"preprocess", "invoke"} and min(timings.values()) > 0
    assert _loop_threads() == []


def test_a_slow_loop_gets_whole_segmentations_and_the_same_readings(
    numbers, int8_model, number_video
):
    """While frames pile up for the loop (a consumer taking 10 ms a frame), the decoding
    thread segments them whole (NumberReader.find(whole=True)) and the loop runs only the
    model; the readings stay those of NumberReader.read, frame by frame."""

    segmented_whole: list[bool] = []

    class Counting(NumberReader):
        def find(self, image: np.ndarray, whole: bool = False) -> FoundNumber:
            found = super().find(image, whole)
            segmented_whole.append(found.segmentation is not None)
            return found

    reader = Counting(DigitReader(open_model(int8_model)))
    want = [_without_timings(numbers.read(f).as_dict()) for f in _decoded(number_video)]
    seen: list = []

    def slow(event) -> None:
        seen.append(_without_timings(event.reading.as_dict()))
        time.sleep(0.01)

    run(reader, CameraOptions(str(number_video)), [slow])
    assert seen == want
    assert len(segmented_whole) == 60 and not segmented_whole[0]  # nothing waits for the first
    assert sum(segmented_whole) >= 30  # the rest mostly wait in the queue
    assert _loop_threads() == []


def test_finding_on_the_decoding_thread_keeps_every_and_max_frames(numbers, number_video):
    seen, summary = _readings(numbers, CameraOptions(str(number_video), every=4, max_frames=30))
    assert [n for n, _ in seen] == list(range(1, 30, 4))
    assert summary.frames == 30 and summary.classified == 8
    assert summary.ended_by == "--max-frames 30"


def test_an_error_finding_digits_reaches_the_caller_after_the_frames_before_it(
    int8_model, number_video
):
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
