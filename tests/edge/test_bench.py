"""digit-edge bench: its figures, its checks before it starts, and Ctrl-C in any of its phases."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import numpy as np
import pytest
from click.testing import CliRunner

from edge import bench
from edge.cli import cli


def _bench(*args: object):
    return CliRunner().invoke(cli, ["bench", *map(str, args)], catch_exceptions=False)


def _ctrl_c_once_the_camera_loop_runs() -> threading.Thread:
    """A thread that sends this process SIGINT as soon as the camera loop has put its own
    handler in place (so the signal lands inside the loop, not between two of bench's phases)."""
    before = signal.getsignal(signal.SIGINT)

    def interrupt() -> None:
        deadline = time.monotonic() + 60
        while signal.getsignal(signal.SIGINT) is before and time.monotonic() < deadline:
            time.sleep(0.002)
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=interrupt, daemon=True)
    thread.start()
    return thread


def test_ctrl_c_in_a_camera_phase_interrupts_the_bench(int8_model, tmp_path):
    """The loop takes SIGINT as "end this loop"; bench used to go on to its next round and
    return figures of a loop cut short. Now it is Ctrl-C: KeyboardInterrupt (exit 130)."""
    video = bench.write_video(tmp_path / "digits.avi", frames=300)
    thread = _ctrl_c_once_the_camera_loop_runs()
    with pytest.raises(KeyboardInterrupt):
        bench.bench_camera(int8_model, video, None)
    thread.join(5)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the loop's is gone


def test_a_fixed_batch_model_is_benchmarked_at_its_batch(test_models):
    """A graph whose batch is fixed at 4 (eval reads it): bench fed it a batch of 1 and died
    with a traceback (Cannot set tensor: Dimension mismatch)."""
    fixed = test_models / "fixed_batch.tflite"
    result = _bench(fixed, "--runs", "10", "--warmup", "2", "--no-system", "--json")
    assert result.exit_code == 0, result.stderr
    (m,) = json.loads(result.stdout)["models"]
    assert m["batch"] == 4 and m["invoke_us"]["p50"] > 0 and m["pipeline_us"]["p50"] > 0
    table = _bench(fixed, test_models / "lenet_int8.tflite", "--runs", "10", "--no-system")
    assert table.exit_code == 0, table.stderr
    row = next(ln for ln in table.stdout.splitlines() if ln.startswith("input batch"))
    assert row.split()[2:] == ["4", "1"]


def test_a_bad_data_is_refused_before_any_benchmark(int8_model, tmp_path, monkeypatch):
    """--data used to fail only after every benchmark had run (minutes with several models),
    and was ignored with --no-system; now it is read first, in one line, exit 2."""
    monkeypatch.delenv("DIGIT_EDGE_DATA", raising=False)
    missing = tmp_path / "nonexistent"
    t0 = time.monotonic()
    result = _bench(int8_model, "--runs", "10", "--data", missing, "-v")
    assert result.exit_code == 2
    assert result.stderr == f"digit-edge: error: {missing}: no such file or directory\n"
    assert time.monotonic() - t0 < 10
    result = _bench(int8_model, "--runs", "10", "--no-system", "--data", missing)
    assert result.exit_code == 2 and result.stdout == ""
    assert "--data is read with the system figures; drop --no-system" in result.stderr
    # From the environment: a setting, read only where the system figures are; named if bad.
    monkeypatch.setenv("DIGIT_EDGE_DATA", str(missing))
    result = _bench(int8_model, "--runs", "10", "--no-system", "--json")
    assert result.exit_code == 0, result.stderr
    result = _bench(int8_model, "--runs", "10")
    assert result.exit_code == 2
    assert result.stderr == (
        f"digit-edge: error: $DIGIT_EDGE_DATA: {missing}: no such file or directory\n"
    )


def test_first_inference_is_the_first_invoke_after_allocate(test_models):
    """benchmark_model's "first inference": the first invoke of a freshly allocated interpreter,
    1.5-5x a warm one on both interpreters here. bench timed the second (an untimed invoke ran
    first), which is as warm as the rest. Medians of five models loaded afresh, against load."""
    mlp = test_models / "mlp_int8.tflite"
    ratios = []
    for _ in range(5):
        m = bench.bench_model(mlp, runtime=None, threads=1, kernels="default", runs=50, warmup=5)
        ratios.append(m["first_inference_us"] / m["invoke_us"]["p50"])
    assert sorted(ratios)[2] > 1.6, ratios


def test_the_system_figures_name_their_model_and_setup(int8_model, tmp_path):
    """The camera and start-up figures run the first model, one thread, default kernels
    (the product's camera setup), whatever --threads and --kernels say: they said neither
    which model nor how, and the JSON's camera block had no model."""
    video = bench.write_video(tmp_path / "digits.avi", frames=40)
    camera = bench.bench_camera(int8_model, video, None, rounds=1)
    assert camera["model"] == str(int8_model)
    assert (camera["threads"], camera["kernels"]) == (1, "default")
    startup = {"model": str(int8_model), **bench.SYSTEM_SETUP, "startup_s_median": 0.5,
               "peak_rss_mb": 60.0, "anon_mb": 20.0, "file_mb": 30.0}  # fmt: skip
    report = {"camera": camera, "startup": startup, "this_process_peak_rss_mb": 1.0}
    lines = bench.system_lines(report)
    assert lines[0].startswith(
        "headless camera 640x480 with lenet_int8.tflite (one thread, default kernels): "
    )
    assert lines[3].startswith(
        "start-up to first prediction with lenet_int8.tflite (one thread, default kernels): 0.500 s"
    )
    help_text = " ".join(_bench("--help").stdout.split())
    assert "one thread, default kernels whatever --threads and --kernels say" in help_text


def test_two_models_of_one_file_name_are_told_apart(int8_model, tmp_path):
    """bench a/lenet_int8.tflite b/lenet_int8.tflite headed both columns lenet_int8.tflite."""
    import shutil

    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(int8_model, tmp_path / folder / int8_model.name)
    models = [tmp_path / f / int8_model.name for f in ("a", "b")]
    result = _bench(*models, "--runs", "10", "--warmup", "0", "--no-system")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0].split() == ["a/lenet_int8.tflite", "b/lenet_int8.tflite"]
    camera = {"model": str(models[1]), "camera_fps": 1.0, "decode_only_fps": 2.0,
              "camera_over_decode": 0.5, "classify_ms_p50": 1.0, "loop_decode_cpu_ms": 1.0,
              "loop_rest_cpu_ms": 1.0, "decoder_waited_for_loop": 0.1,
              "loop_waited_for_decoder": 0.2, "loop_decode_ms_per_frame": 1.0,
              "decode_ms_per_frame": 1.0}  # fmt: skip
    report = {"models": json.loads(_bench(*models, "--runs", "10", "--no-system",
                                          "--json").stdout)["models"],
              "camera": camera, "this_process_peak_rss_mb": 1.0}  # fmt: skip
    assert "headless camera 640x480 with b/lenet_int8.tflite (" in bench.format_report(report)


def test_no_warm_up_has_no_warm_up_mean(int8_model):
    """--warmup 0 printed "warm-up mean 0.0", a time no invoke took; now "-" (JSON: null)."""
    result = _bench(int8_model, "--runs", "10", "--warmup", "0", "--no-system")
    row = next(ln for ln in result.stdout.splitlines() if ln.startswith("warm-up mean"))
    assert row.split()[-1] == "-"
    result = _bench(int8_model, "--runs", "10", "--warmup", "0", "--no-system", "--json")
    assert json.loads(result.stdout)["models"][0]["warmup_mean_us"] is None
    row = next(
        ln
        for ln in _bench(
            int8_model, "--runs", "10", "--warmup", "3", "--no-system"
        ).stdout.splitlines()
        if ln.startswith("warm-up mean")
    )
    assert float(row.split()[-1]) > 0
    help_text = " ".join(_bench("--help").stdout.split())
    assert "blocks of 100 runs or more (under 200 runs: one block of them all)" in help_text
    assert bench.block_ratios(np.ones(50), np.ones(50)).tolist() == [1.0]  # one block of 50
    assert len(bench.block_ratios(np.ones(250), np.ones(250))) == 2
