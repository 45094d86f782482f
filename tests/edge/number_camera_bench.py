"""The `camera --number` ratio on a shared machine: many short pairs, the quiet ones kept.

    python -m tests.edge.number_camera_bench MODEL --data MNIST [--pairs 30] [--quiet-fps 1000]

`digit-edge bench` compares medians of 5 alternating rounds, which another engineer's training
job can tilt either way. Here every number loop (two threads, the decoding thread helping the
loop as frames wait for it, and one thread for comparison) runs between two plain `camera`
runs on the same videos as the bench's; a pair counts as quiet when plain `camera` ran at
least ``--quiet-fps`` both times and within 7% (nothing else took a core meanwhile). Prints,
per loop, the median ratio and its range over all pairs and over the quiet ones, with FPS and
CPU ms per frame: all threads (decoding included), and each thread's (``thread_time``: the
decoding thread's decoding and, with two threads, its first looks and the frames it
segmented whole; the loop's the rest), which the machine's load does not change, and the
share of frames the decoding thread segmented whole (``segmented_ahead``).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import click
import numpy as np

from edge import mnist
from edge.bench import write_number_video, write_video
from edge.camera import CameraOptions, run
from edge.model import DigitClassifier, ModelOptions
from edge.number import FoundNumber, NumberReader
from edge.pipeline import DigitReader

LOOPS = {"two threads": True, "one thread": False}  # name: CameraOptions.find_ahead


class TimedReader(NumberReader):
    """A NumberReader that adds up the CPU time of its first looks on the thread that takes
    them (the decoding thread when ``find_ahead`` is on)."""

    find_cpu_s = 0.0
    finds = 0
    wholes = 0  # frames the decoding thread segmented whole (the loop was behind)

    def find(self, image: np.ndarray, whole: bool = False) -> FoundNumber:
        t0 = time.thread_time()
        found = super().find(image, whole)
        self.find_cpu_s += time.thread_time() - t0
        self.finds += 1
        self.wholes += whole
        return found


def _pair(
    plain: DigitReader, numbers: TimedReader, digits: Path, video: Path, ahead: bool
) -> dict[str, float]:
    """One number loop between two plain ones: FPS of each, CPU of the number loop in all
    and per thread."""
    before = run(plain, CameraOptions(str(digits))).fps
    numbers.find_cpu_s, numbers.finds, numbers.wholes = 0.0, 0, 0
    summary = run(numbers, CameraOptions(str(video), find_ahead=ahead))
    after = run(plain, CameraOptions(str(digits))).fps
    decode_ms, rest_ms = summary.cpu_ms_per_frame()
    moved_ms = numbers.find_cpu_s / max(1, numbers.finds) * 1e3 if ahead else 0.0
    return {
        "load": os.getloadavg()[0],
        "plain": (before + after) / 2,
        "steady": min(before, after) / max(before, after),
        "low": min(before, after),
        "fps": summary.fps,
        "cpu_ms": decode_ms + rest_ms,
        "decoding_thread_ms": decode_ms + moved_ms,
        "loop_thread_ms": rest_ms - moved_ms,
        "segmented_ahead": numbers.wholes / max(1, numbers.finds),
    }


def _summary(pairs: list[dict[str, float]]) -> dict[str, float]:
    ratios = [p["fps"] / p["plain"] for p in pairs]
    return {
        "pairs": len(pairs),
        "ratio_median": statistics.median(ratios) if pairs else 0.0,
        "ratio_min": min(ratios, default=0.0),
        "ratio_max": max(ratios, default=0.0),
        "fps_median": statistics.median(p["fps"] for p in pairs) if pairs else 0.0,
        "plain_fps_median": statistics.median(p["plain"] for p in pairs) if pairs else 0.0,
        **{
            f"{key}_median": statistics.median(p[key] for p in pairs) if pairs else 0.0
            for key in ("cpu_ms", "decoding_thread_ms", "loop_thread_ms", "segmented_ahead")
        },
    }


@click.command()
@click.argument("model", type=click.Path(exists=True, path_type=Path))
@click.option("--data", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--pairs", type=click.IntRange(1), default=30, show_default=True)
@click.option("--quiet-fps", type=float, default=1000.0, show_default=True)
def main(model: Path, data: Path, pairs: int, quiet_fps: float) -> None:
    classifier = DigitClassifier(ModelOptions(model, threads=1))
    plain, numbers = DigitReader(classifier), TimedReader(DigitReader(classifier))
    test = mnist.load(data, canonical_sizes=False)
    seen: dict[str, list[dict[str, float]]] = {name: [] for name in LOOPS}
    with tempfile.TemporaryDirectory(prefix="digit-edge-bench-") as tmp:
        digits = write_video(Path(tmp) / "digits.avi", frames=300)
        video = write_number_video(Path(tmp) / "numbers.avi", test.x_test, test.y_test)
        with click.progressbar(range(pairs), label="pairs", file=sys.stderr) as bar:
            for _ in bar:
                for name, ahead in LOOPS.items():
                    seen[name].append(_pair(plain, numbers, digits, video, ahead))
    report = {}
    for name, runs in seen.items():
        quiet = [p for p in runs if p["low"] >= quiet_fps and p["steady"] >= 0.93]
        loads = [p["load"] for p in runs]
        report[name] = {"all": _summary(runs), "quiet": _summary(quiet),
                        "load_min": min(loads), "load_max": max(loads)}  # fmt: skip
    click.echo(json.dumps({"model": str(model), "quiet_fps": quiet_fps, **report}, indent=1))


if __name__ == "__main__":
    main()
