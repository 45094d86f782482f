"""``digit-edge bench``: LiteRT ``benchmark_model``'s metrics from Python, and the edge's own costs.

Per model, in one run and side by side: init time, first inference, warm-up mean, steady-state
mean/std/p50/p90/p99 of a bare ``invoke()`` (µs), and the edge pipeline on a 28x28 input
(``DigitReader.read`` as ``classify --preprocess none`` calls it: the image check, the pixel
table lookup, ``set_tensor``/``invoke``/``get_tensor``, the top class, the reading) timed
interleaved with the bare invoke, so their ratio is not skewed by the machine's load drifting
between two separate loops.

System figures: normalisation of 640x480 photos (p50), the headless camera loop on a 640x480
video file against decoding alone, process start-up to first prediction, and peak RSS of that
process (a fresh ``python -m edge classify``, so nothing this process loaded counts).
"""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np

from edge import mnist, synth
from edge.camera import CameraOptions, StopFlag, Summary, pace_setter
from edge.camera import run as camera_loop
from edge.fileio import distinct_names
from edge.model import DigitClassifier, ModelOptions
from edge.normalize import normalize
from edge.number import NumberReader
from edge.pipeline import DigitReader
from edge.runtime import load_runtime
from edge.synth_numbers import number_set

RATIO_BLOCKS = 10  # pipeline/invoke is the median of this many per-block ratios
#: How the system figures (camera loops, start-up) run a model, whatever --threads and
#: --kernels say: as `camera` and `classify` do by default, the product's camera setup.
SYSTEM_SETUP: dict[str, Any] = {"threads": 1, "kernels": "default"}
SYSTEM_SETUP_TEXT = "one thread, default kernels"


def _stats(us: np.ndarray) -> dict[str, float]:
    return {
        "mean": float(us.mean()),
        "std": float(us.std()),
        "p50": float(np.percentile(us, 50)),
        "p90": float(np.percentile(us, 90)),
        "p99": float(np.percentile(us, 99)),
    }


def block_ratios(pipe: np.ndarray, bare: np.ndarray, blocks: int = RATIO_BLOCKS) -> np.ndarray:
    """median(pipe) / median(bare) within each of ``blocks`` runs of consecutive iterations."""
    n = max(1, min(blocks, len(pipe) // 100))
    return np.array(
        [
            np.median(p) / np.median(b)
            for p, b in zip(np.array_split(pipe, n), np.array_split(bare, n), strict=True)
        ]
    )


def bench_model(
    path: Path, *, runtime: str | None, threads: int, kernels: str, runs: int, warmup: int
) -> dict[str, Any]:
    """benchmark_model's metrics for one file, plus the pipeline beside the bare invoke."""
    loaded = load_runtime(runtime)  # imported once, outside the timing: init is load + allocate
    options = ModelOptions(Path(path), runtime=runtime, threads=threads, kernels=kernels)
    t0 = time.perf_counter()
    model = DigitClassifier(options, runtime=loaded)
    init_us = (time.perf_counter() - t0) * 1e6
    # What `classify --preprocess none` does with a decoded 28x28 image: DigitReader.read, so
    # the check of the image, the table lookup, the tensor copies in and out, invoke, the top
    # class and the Reading are all inside the timed call.
    reader = DigitReader(model, preprocess="none")
    pixels = np.zeros((28, 28), np.uint8)
    cv2.putText(pixels, "7", (7, 23), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 255, 2)
    # The input at the graph's own batch: 1, or a batch fixed in the graph (filled with copies,
    # as DigitClassifier.predict_pixels does), which is benchmarked at that batch.
    batch = model.input_shape[0]
    tensor = model.to_input(np.repeat(pixels[None] / 255.0, batch, axis=0))
    # Set once for the bare invokes, not run: the first invoke after allocate_tensors is the
    # one timed as "first inference" (benchmark_model's; 1.5-5x a warm invoke here).
    model.interpreter.set_tensor(model.input_details["index"], tensor)
    invoke = model.interpreter.invoke
    t0 = time.perf_counter()
    invoke()
    first_us = (time.perf_counter() - t0) * 1e6
    warm = np.empty(warmup)
    for i in range(warmup):
        t = time.perf_counter_ns()
        invoke()
        warm[i] = (time.perf_counter_ns() - t) / 1e3
    bare, pipe = np.empty(runs), np.empty(runs)
    clock = time.perf_counter_ns
    read = reader.read
    for i in range(runs):
        t = clock()
        invoke()
        t1 = clock()
        read(pixels)
        t2 = clock()
        bare[i], pipe[i] = (t1 - t) / 1e3, (t2 - t1) / 1e3
    ratios = block_ratios(pipe, bare)
    return {
        "model": str(path),
        "bytes": Path(path).stat().st_size,
        "runtime": model.runtime.describe(),
        "kernels": kernels,
        "threads": threads,
        "batch": batch,
        "init_us": init_us,
        "first_inference_us": first_us,
        "warmup_mean_us": float(warm.mean()) if warmup else None,
        "invoke_us": _stats(bare),
        "pipeline_us": _stats(pipe),
        # The median over blocks of consecutive runs of (pipeline p50 / invoke p50): a burst of
        # load on this shared machine moves a block or two, not the figure.
        "pipeline_over_invoke_p50": float(np.median(ratios)),
        "pipeline_over_invoke_blocks": [round(float(r), 4) for r in ratios],
        "runs": runs,
    }


def run_camera(reader: DigitReader | NumberReader, options: CameraOptions) -> Summary:
    """The camera loop (:func:`edge.camera.run`) for a measurement, Ctrl-C interrupting the bench.

    Why: the loop takes SIGINT/SIGTERM as "end this loop", right for ``camera`` (its summary is
    the output) and wrong here, where bench went on to its next loop and printed a full report
    of figures cut short. A SIGINT is raised again as KeyboardInterrupt (``digit-edge:
    interrupted``, exit 130), a SIGTERM again as itself, its own handler back in place.
    """
    stop = StopFlag()
    summary = camera_loop(reader, options, stop=stop)
    if stop.reason == signal.Signals.SIGTERM.name:
        signal.raise_signal(signal.SIGTERM)
    if stop:
        raise KeyboardInterrupt
    return summary


def bench_normalize(count: int = 40, repeats: int = 5) -> dict[str, float]:
    """p50/p90 of :func:`edge.normalize.normalize` on 640x480 synthetic photos (ms)."""
    frames = [s.image for s in synth.font_set(count * 3, seed=7) if s.image.shape[1] == 640][:count]
    times = []
    for _ in range(repeats):
        for f in frames:
            t = time.perf_counter_ns()
            normalize(f)
            times.append((time.perf_counter_ns() - t) / 1e6)
    arr = np.asarray(times)
    return {
        "frames": len(frames),
        "p50_ms": float(np.median(arr)),
        "p90_ms": float(np.percentile(arr, 90)),
    }


def write_video(path: Path, frames: int = 150, fps: float = 30.0) -> Path:
    """A 640x480 MJPG video of font digits on paper (what the camera tests and bench read)."""
    samples = [s.image for s in synth.font_set(60, seed=3) if s.image.shape[1] == 640]
    return write_mjpg(path, samples, frames, fps)


def write_mjpg(path: Path, images: list[np.ndarray], frames: int, fps: float = 30.0) -> Path:
    """``frames`` frames of 640x480 ``images`` as an MJPG video, each image held for 10."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (640, 480))
    if not writer.isOpened():
        raise RuntimeError(f"{path}: OpenCV cannot write MJPG video here")
    for i in range(frames):
        writer.write(images[(i // 10) % len(images)])
    writer.release()
    return path


def _decode_fps(video: Path) -> tuple[int, float]:
    """Frames and FPS of reading (decoding) the video alone, first frame to last."""
    cap = cv2.VideoCapture(str(video))
    cap.read()  # the first frame: opening and warm-up are not timed
    n, t0 = 1, time.perf_counter()
    while cap.read()[0]:
        n += 1
    fps = (n - 1) / (time.perf_counter() - t0)
    cap.release()
    return n, fps


def bench_camera(
    model: Path, video: Path, runtime: str | None, rounds: int = 3
) -> dict[str, float]:
    """Headless camera FPS on a video file vs decoding the same frames alone.

    Rounds alternate the two and the medians are compared, so load drifting on a shared
    machine hits both alike.
    """
    reader = DigitReader(DigitClassifier(ModelOptions(model, runtime=runtime, **SYSTEM_SETUP)))
    decode, camera, classify_ms, cpu_decode, cpu_rest = [], [], [], [], []
    decoder_waited, loop_waited, loop_decode_ms = [], [], []
    frames = 0
    for _ in range(rounds):
        frames, fps = _decode_fps(video)
        decode.append(fps)
        summary = run_camera(reader, CameraOptions(str(video)))
        camera.append(summary.fps)
        classify_ms += summary.classify_ms
        d, r = summary.cpu_ms_per_frame()
        cpu_decode.append(d)
        cpu_rest.append(r)
        waits = summary.waited()
        decoder_waited.append(waits[0])
        loop_waited.append(waits[1])
        loop_decode_ms.append(summary.decode_ms_per_frame)
    decode_fps, camera_fps = float(np.median(decode)), float(np.median(camera))
    return {
        "model": str(model),
        **SYSTEM_SETUP,
        "frames": frames,
        "decode_only_fps": decode_fps,
        "camera_fps": camera_fps,
        "camera_over_decode": camera_fps / decode_fps,
        "classify_ms_p50": float(np.median(classify_ms)),
        "decode_ms_per_frame": 1e3 / decode_fps,
        # CPU per frame inside the camera loop: the decoding thread, and everything else
        # (normalise, invoke, the loop, OpenCV's worker threads). Load-independent: the loop is
        # decode-bound when the first is the larger and a second core is free.
        "loop_decode_cpu_ms": float(np.median(cpu_decode)),
        "loop_rest_cpu_ms": float(np.median(cpu_rest)),
        # Who waited for whom (fractions of the run): the side that waits is not the bottleneck.
        "decoder_waited_for_loop": float(np.median(decoder_waited)),
        "loop_waited_for_decoder": float(np.median(loop_waited)),
        # Decoding per frame inside the loop (wall): above decode_ms_per_frame by what sharing
        # the CPU with the loop costs the decoder.
        "loop_decode_ms_per_frame": float(np.median(loop_decode_ms)),
        "rounds": rounds,
    }


def write_number_video(
    path: Path, digits: np.ndarray, labels: np.ndarray, frames: int = 300, length: int = 6
) -> Path:
    """A 640x480 MJPG video of ``length``-digit synthetic numbers (edge.synth_numbers), each
    held for 10 frames."""
    samples = [s.image for s in number_set(digits, labels, 30, seed=3, length=length)]
    return write_mjpg(path, samples, frames)


def bench_number_camera(
    model: Path, digit_video: Path, number_video: Path, runtime: str | None, rounds: int = 3
) -> dict[str, float]:
    """``camera --number`` on 640x480 frames of 6-digit numbers against plain ``camera`` on
    640x480 single-digit frames, one interpreter thread each: FPS and their ratio.

    The number loop runs as ``camera --number`` does (its decoding thread taking the first
    look at a frame for its digits, or all of its segmentation, as frames wait for the loop)
    and, for comparison, with the loop alone finding and reading all of a number
    (``find_ahead`` off). Rounds alternate the three and the medians are compared (load drifts
    on a shared machine); numbers per second is the reading alone (no decoding), the median
    over the frames read; CPU ms per frame is everything but decoding, all threads.
    """
    classifier = DigitClassifier(ModelOptions(model, runtime=runtime, **SYSTEM_SETUP))
    plain, numbers = DigitReader(classifier), NumberReader(DigitReader(classifier))
    fps: dict[str, list[float]] = {"plain": [], "number": [], "sequential": []}
    cpu: dict[str, list[float]] = {"number": [], "sequential": []}
    number_ms: list[float] = []
    for _ in range(rounds):
        fps["plain"].append(run_camera(plain, CameraOptions(str(digit_video))).fps)
        for name, ahead in (("number", True), ("sequential", False)):
            summary = run_camera(numbers, CameraOptions(str(number_video), find_ahead=ahead))
            fps[name].append(summary.fps)
            cpu[name].append(summary.cpu_ms_per_frame()[1])
            number_ms += summary.classify_ms if ahead else []
    p, n, q = (float(np.median(fps[k])) for k in ("plain", "number", "sequential"))
    return {
        "model": str(model),
        "runtime": classifier.runtime.describe(),
        **SYSTEM_SETUP,
        "plain_camera_fps": p,
        "number_camera_fps": n,
        "number_over_plain": n / p,
        "number_sequential_fps": q,
        "sequential_over_plain": q / p,
        "number_read_ms_p50": float(np.median(number_ms)),
        "numbers_per_second": 1e3 / float(np.median(number_ms)),
        "number_loop_rest_cpu_ms": float(np.median(cpu["number"])),
        "sequential_loop_rest_cpu_ms": float(np.median(cpu["sequential"])),
        **number_read_split(numbers, number_video),
        "rounds": rounds,
    }


def number_read_split(numbers: NumberReader, video: Path, repeats: int = 5) -> dict[str, float]:
    """Where a number read's time goes, on the video's distinct frames (each held for 10):
    finding and normalising the digits, and the model (its invokes, re-reads included), p50 ms;
    and the digits a frame. Why: the model's share is fixed by the model and the runtime,
    the rest is the reader's."""
    cap = cv2.VideoCapture(str(video))
    frames = []
    while (got := cap.read())[0]:
        frames.append(got[1])
    cap.release()
    readings = [numbers.read(f) for f in frames[::10] for _ in range(repeats)]
    return {
        "number_find_ms_p50": float(np.median([r.timings_ms["preprocess"] for r in readings])),
        "number_model_ms_p50": float(np.median([r.timings_ms["invoke"] for r in readings])),
        "number_digits_mean": float(np.mean([len(r.digits) for r in readings])),
    }


def camera_fps_by_model(
    models: list[Path], video: Path, runtime: str | None, rounds: int = 3
) -> dict[str, Any]:
    """Headless camera FPS of each model on one video, one interpreter thread each, and its
    ratio to the reference (lenet_int8.tflite where given, else the first model).

    Rounds visit every model in turn and the medians are compared, so load drifting on a
    shared machine hits all of them alike.
    """
    readers = {
        str(m): DigitReader(DigitClassifier(ModelOptions(m, runtime=runtime, **SYSTEM_SETUP)))
        for m in models
    }
    fps: dict[str, list[float]] = {m: [] for m in readers}
    for _ in range(rounds):
        for m, reader in readers.items():
            fps[m].append(run_camera(reader, CameraOptions(str(video))).fps)
    median = {m: float(np.median(v)) for m, v in fps.items()}
    ref = next((m for m in readers if Path(m).name == "lenet_int8.tflite"), str(models[0]))
    return {
        "reference": ref,
        "rounds": rounds,
        "fps": median,
        "ratio": {m: v / median[ref] for m, v in median.items()},
    }


#: Runs ``digit-edge ARGS`` in this interpreter and prints the process's own peak RSS last.
#: Why not ``wait4``'s ru_maxrss: Linux carries the parent's high-water mark across fork/exec
#: into the child's, so a child of a 250 MB test runner "peaks" at 250 MB. VmHWM belongs to
#: the address space the exec made, so it is the edge process's own. RssAnon and RssFile at
#: exit split it: memory the process made, and library code mapped from disk (shared, and
#: reclaimable; how much of a library a page fault maps is the kernel's choice).
_PEAK_RSS_WRAPPER = """
import runpy, sys
sys.argv = ["digit-edge", *sys.argv[1:]]
try:
    runpy.run_module("edge", run_name="__main__", alter_sys=True)
finally:
    with open("/proc/self/status") as fh:
        keys = ("VmHWM:", "RssAnon:", "RssFile:")
        kb = dict(ln.split()[:2] for ln in fh if ln.startswith(keys))
    print("MEMORY_KB", *(kb.get(k, -1) for k in keys), file=sys.stderr)
"""


class Measured(NamedTuple):
    """One fresh ``digit-edge`` process: exit code, stdout, wall seconds and its memory (MB)."""

    code: int
    stdout: str
    wall_s: float
    peak_rss_mb: float
    anon_mb: float  # RssAnon at exit
    file_mb: float  # RssFile at exit


def run_measured(args: list[str], env: dict[str, str] | None = None) -> Measured:
    """Run ``digit-edge ARGS`` fresh and measure it (see :data:`_PEAK_RSS_WRAPPER`)."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS_WRAPPER, *args],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    lines = [ln.split()[1:] for ln in proc.stderr.splitlines() if ln.startswith("MEMORY_KB")]
    mb = [float(v) / 1024 for v in lines[-1]] if lines else [float("nan")] * 3
    return Measured(proc.returncode, proc.stdout, wall, *mb)


def bench_startup(
    model: Path, image: Path, runtime: str | None, repeats: int = 3
) -> dict[str, float]:
    """Wall time from process start to the first printed prediction, and that process's peak RSS."""
    args = ["classify", str(image), "--model", str(model), "--json"]  # SYSTEM_SETUP's defaults
    if runtime:
        args += ["--runtime", runtime]
    runs = []
    for _ in range(repeats):
        m = run_measured(args)
        if m.code != 0 or not m.stdout:
            raise RuntimeError(
                f"start-up probe failed (exit {m.code}): digit-edge {' '.join(args)}"
            )
        json.loads(m.stdout.splitlines()[0])
        runs.append(m)
    peak = max(runs, key=lambda m: m.peak_rss_mb)
    return {
        "startup_s_median": float(np.median([m.wall_s for m in runs])),
        "peak_rss_mb": peak.peak_rss_mb,
        "anon_mb": peak.anon_mb,
        "file_mb": peak.file_mb,
    }


def run(
    models: list[Path],
    *,
    runtime: str | None = None,
    threads: int = 1,
    kernels: str = "default",
    runs: int = 10000,
    warmup: int = 50,
    system: bool = True,
    progress: Callable[[str], None] = lambda _: None,
    data: mnist.Mnist | None = None,
) -> dict[str, Any]:
    """Every benchmark, for every model; what ``digit-edge bench`` prints.

    ``data``: MNIST, loaded by the caller before any benchmark (a bad path stops the run at
    once, not after minutes of it), whose test digits make the number frames of the
    ``camera --number`` bench (skipped without it).
    """
    report: dict[str, Any] = {"models": []}
    for path in models:
        progress(f"benchmarking {path}")
        report["models"].append(
            bench_model(
                path, runtime=runtime, threads=threads, kernels=kernels, runs=runs, warmup=warmup
            )
        )
    if system and models:
        progress("normalisation of 640x480 photos")
        report["normalize"] = bench_normalize()
        with tempfile.TemporaryDirectory(prefix="digit-edge-bench-") as tmp:
            progress("headless camera on a 640x480 video")
            video = write_video(Path(tmp) / "digits.avi", frames=300)
            report["camera"] = bench_camera(models[0], video, runtime)
            if data is not None:
                progress("camera --number on 640x480 frames of 6-digit numbers")
                numbers = write_number_video(Path(tmp) / "numbers.avi", data.x_test, data.y_test)
                report["number_camera"] = bench_number_camera(
                    models[0], video, numbers, runtime, rounds=5
                )
            if len(models) > 1:
                progress("headless camera, every model")
                report["camera_by_model"] = camera_fps_by_model(models, video, runtime)
            image = Path(tmp) / "digit.png"
            cv2.imwrite(str(image), next(synth.font_set(1, seed=5)).image)
            progress("process start-up to first prediction")
            report["startup"] = {
                "model": str(models[0]),
                **SYSTEM_SETUP,
                **bench_startup(models[0], image, runtime),
            }
    report["this_process_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return report


def format_report(report: dict[str, Any]) -> str:
    """The report as a plain-text table (models side by side), then the system figures."""
    models = report["models"]
    names = distinct_names([m["model"] for m in models])
    rows: list[tuple[str, list[str]]] = [
        ("runtime", [m["runtime"] for m in models]),
        ("size (bytes)", [f"{m['bytes']:,}" for m in models]),
        *([("input batch", [str(m["batch"]) for m in models])] if _fixed_batch(models) else []),
        ("init (µs)", [f"{m['init_us']:.0f}" for m in models]),
        ("first inference (µs)", [f"{m['first_inference_us']:.1f}" for m in models]),
        # --warmup 0: none ran, so no mean (it said 0.0, a time none of them took)
        ("warm-up mean (µs)", [_us(m["warmup_mean_us"]) for m in models]),
    ]
    for stat in ("mean", "std", "p50", "p90", "p99"):
        rows.append((f"invoke {stat} (µs)", [f"{m['invoke_us'][stat]:.1f}" for m in models]))
    rows.append(("pipeline p50 (µs)", [f"{m['pipeline_us']['p50']:.1f}" for m in models]))
    rows.append(
        ("pipeline / invoke (p50)", [f"{m['pipeline_over_invoke_p50']:.2f}x" for m in models])
    )
    rows.append(
        (
            "  range over blocks",
            [
                f"{min(m['pipeline_over_invoke_blocks']):.2f}-{max(m['pipeline_over_invoke_blocks']):.2f}"
                for m in models
            ],
        )
    )
    width = max(len(r[0]) for r in rows)
    cols = [max(len(n), *(len(r[1][i]) for r in rows)) for i, n in enumerate(names)]
    lines = [" " * width + "  " + "  ".join(n.rjust(c) for n, c in zip(names, cols, strict=True))]
    for label, vals in rows:
        lines.append(
            label.ljust(width)
            + "  "
            + "  ".join(v.rjust(c) for v, c in zip(vals, cols, strict=True))
        )
    return "\n".join(
        [*lines, *system_lines(report, dict(zip(models_of(report), names, strict=True)))]
    )


def _us(value: float | None) -> str:
    """A time in µs for the table, "-" where there is none."""
    return "-" if value is None else f"{value:.1f}"


def _fixed_batch(models: list[dict[str, Any]]) -> bool:
    """Whether a model's graph fixes a batch above 1: its invoke times are for that many images."""
    return any(m.get("batch", 1) != 1 for m in models)


def model_share(number_camera: dict[str, float]) -> float:
    """The number model's invokes a frame over plain camera's time a frame (1 / its FPS).

    Why: ``camera --number`` reads about six digits a frame, so a large model's invokes alone
    can take as long as a whole plain frame; at 100% or more no speed of finding the digits
    reaches half of plain camera's FPS.
    """
    return number_camera["number_model_ms_p50"] / (1e3 / number_camera["plain_camera_fps"])


def models_of(report: dict[str, Any]) -> list[str]:
    """The model paths of a bench report, as given."""
    return [m["model"] for m in report.get("models", [])]


def system_lines(report: dict[str, Any], labels: dict[str, str] | None = None) -> list[str]:
    """The report's figures beyond the per-model table, one line each; ``labels``: what to
    call each model (:func:`edge.fileio.distinct_names`; default: its file name)."""
    labels = labels or {}

    def name(path: str) -> str:
        return labels.get(path, Path(path).name)

    lines = []
    if "normalize" in report:
        n = report["normalize"]
        lines.append(
            f"normalisation 640x480: p50 {n['p50_ms']:.3f} ms, p90 {n['p90_ms']:.3f} ms "
            f"({n['frames']} photos)"
        )
    if "camera" in report:
        c = report["camera"]
        lines.append(
            f"headless camera 640x480 with {name(c['model'])} ({SYSTEM_SETUP_TEXT}): "
            f"{c['camera_fps']:.0f} FPS vs decode-only "
            f"{c['decode_only_fps']:.0f} FPS "
            f"({c['camera_over_decode']:.0%}); classify p50 {c['classify_ms_p50']:.3f} ms/frame"
        )
        lines.append(
            f"camera loop CPU per frame: decoding {c['loop_decode_cpu_ms']:.3f} ms, "
            f"the rest (normalise, invoke, loop) {c['loop_rest_cpu_ms']:.3f} ms"
        )
        bound = pace_setter(c["decoder_waited_for_loop"], c["loop_waited_for_decoder"])
        lines.append(
            "camera loop waits: the decoder waited for the loop "
            f"{c['decoder_waited_for_loop']:.1%} of the run, the loop for frames "
            f"{c['loop_waited_for_decoder']:.1%}: bound by {bound}; "
            f"decoding {c['loop_decode_ms_per_frame']:.3f} ms/frame in the loop vs "
            f"{c['decode_ms_per_frame']:.3f} alone"
        )
    if "number_camera" in report:
        n = report["number_camera"]
        lines.append(
            f"camera --number with {name(n['model'])}, 640x480 6-digit numbers: "
            f"{n['number_camera_fps']:.0f} FPS vs "
            f"plain camera on 640x480 single digits {n['plain_camera_fps']:.0f} FPS: "
            f"{n['number_over_plain']:.0%} ({SYSTEM_SETUP_TEXT}, {n['runtime']}); "
            f"{n['numbers_per_second']:.0f} numbers/s (read p50 {n['number_read_ms_p50']:.2f} ms: "
            f"finding and normalising {n['number_digits_mean']:.1f} digits "
            f"{n['number_find_ms_p50']:.2f} ms, the model {n['number_model_ms_p50']:.2f} ms: "
            f"{model_share(n):.0%} of a plain camera frame's time)"
        )
        lines.append(
            f"camera --number, its decoding thread helping the loop when it is behind: "
            f"{n['number_loop_rest_cpu_ms']:.2f} CPU ms a frame besides decoding; the loop "
            f"alone reading all of a number instead: {n['number_sequential_fps']:.0f} FPS "
            f"({n['sequential_over_plain']:.0%}), {n['sequential_loop_rest_cpu_ms']:.2f} CPU ms"
        )
    if "camera_by_model" in report:
        c = report["camera_by_model"]
        lines.append(
            f"headless camera 640x480, {SYSTEM_SETUP_TEXT} (ratio to {name(c['reference'])}): "
            + ", ".join(
                f"{name(m)} {fps:.0f} FPS ({c['ratio'][m]:.0%})" for m, fps in c["fps"].items()
            )
        )
    if "startup" in report:
        s = report["startup"]
        lines.append(
            f"start-up to first prediction with {name(s['model'])} ({SYSTEM_SETUP_TEXT}): "
            f"{s['startup_s_median']:.3f} s (median of 3), "
            f"peak RSS {s['peak_rss_mb']:.1f} MB (at exit {s['anon_mb']:.1f} MB anonymous, "
            f"{s['file_mb']:.1f} MB library code mapped from disk)"
        )
    lines.append(f"peak RSS of this bench process: {report['this_process_peak_rss_mb']:.1f} MB")
    return lines
