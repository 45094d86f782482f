"""`--number` on classify and camera: the JSON, the errors, a huge photo, a video."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from edge.bench import run_measured
from edge.cli import cli
from tests.edge.helpers import ROOT
from tests.edge.test_number import page


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def _records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def files(tmp_path):
    cv2.imwrite(str(tmp_path / "a_number.png"), page("2024")[0])
    cv2.imwrite(str(tmp_path / "b_lines.jpg"), page("12\n345", size=(600, 500), scale=2.5)[0])
    cv2.imwrite(str(tmp_path / "c_blank.png"), np.full((240, 320), 205, np.uint8))
    return tmp_path


def test_classify_number_json(int8_model, files):
    result = run("classify", files, "--model", int8_model, "--number", "--json")
    assert result.exit_code == 0, result.stderr
    number, lines, blank = _records(result.stdout)
    assert len(number["number"]) == 4 and number["number"].isdigit()
    assert number["lowest_probability"] == min(d["probability"] for d in number["digits"])
    boxes = [d["box"] for d in number["digits"]]
    assert [b[0] for b in boxes] == sorted(b[0] for b in boxes)
    assert lines["number"].count("\n") == 1 and len(lines["digits"]) == 5
    assert blank["number"] == "" and blank["digits"] == []
    assert blank["no_digit"].startswith("no digit") and blank["error"] is None


def test_a_failed_input_has_a_numbers_keys(int8_model, files):
    """An unreadable file's JSON has every key a number has, its number null: "" is kept for
    an image read without a digit in it."""
    (files / "d_broken.png").write_text("not an image")
    result = run(
        "classify", files, "--model", int8_model, "--number", "--json", "--min-confidence", "0.01"
    )  # fmt: skip
    assert result.exit_code == 1
    number, _, blank, broken = _records(result.stdout)
    assert set(broken) == set(number) == set(blank)
    assert broken["number"] is None and broken["digits"] == [] and blank["number"] == ""
    assert broken["min_confidence"] == number["min_confidence"] == 0.01  # read alike
    assert broken["unsure"] is number["unsure"] is False
    assert "not an image" in broken["error"]


def test_classify_number_text_and_csv(int8_model, files):
    text = run("classify", files / "b_lines.jpg", "--model", int8_model, "--number")
    assert text.exit_code == 0 and " / " in text.stdout and "5 digits" in text.stdout
    table = run("classify", files, "--model", int8_model, "--number", "--csv")
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    assert [len(r["digits"].split()) for r in rows] == [4, 5, 0]
    assert rows[2]["no_digit"].startswith("no digit")
    assert [r["unsure"] for r in rows] == ["false"] * 3  # --min-confidence 0: none is
    (files / "d_broken.png").write_text("not an image")
    sure = run("classify", files, "--model", int8_model, "--number", "--csv",
               "--min-confidence", "0.99")  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(sure.stdout)))
    assert [r["unsure"] for r in rows] == ["true", "true", "false", "false"]
    assert "?" in rows[0]["number"] and "not an image" in rows[3]["error"]


def test_classify_number_saves_each_digit(int8_model, files, tmp_path):
    out = tmp_path / "seen"
    result = run(
        "classify", files / "a_number.png", "--model", int8_model, "--number", "--json",
        "--save-preprocessed", out,
    )  # fmt: skip
    saved = _records(result.stdout)[0]["preprocessed"]
    assert len(saved) == 4
    assert all(cv2.imread(p, cv2.IMREAD_GRAYSCALE).shape == (28, 28) for p in saved)


def test_a_dotted_file_name_saves_each_digit_under_its_own_name(int8_model, files, tmp_path):
    """A name with dots in it (meter.2024-12-05.png) loses its extension once, so its digits
    do not all overwrite one meter.png."""
    dotted = tmp_path / "meter.2024-12-05.png"
    dotted.write_bytes((files / "a_number.png").read_bytes())
    out = tmp_path / "seen"
    result = run(
        "classify", dotted, "--model", int8_model, "--number", "--json",
        "--save-preprocessed", out,
    )  # fmt: skip
    saved = _records(result.stdout)[0]["preprocessed"]
    names = [Path(p).name for p in saved]
    assert [n[n.index("meter") :] for n in names] == [
        f"meter.2024-12-05_digit{i}.png" for i in range(4)
    ]
    assert len(list(out.iterdir())) == 4


@pytest.mark.parametrize("extra", [["--top-k", "3"], ["--preprocess", "naive"]])
def test_number_refuses_options_it_cannot_honour(int8_model, files, extra):
    result = CliRunner().invoke(
        cli, ["classify", str(files), "--model", str(int8_model), "--number", *extra]
    )
    assert result.exit_code == 2 and "--number" in result.output


def test_classify_number_with_a_decimal_point(int8_model, tmp_path):
    image = tmp_path / "pi.png"
    cv2.imwrite(str(image), page("3.14")[0])
    result = run("classify", image, "--model", int8_model, "--number", "--decimal-point", "--json")
    assert result.exit_code == 0, result.stderr
    record = _records(result.stdout)[0]
    assert re.fullmatch(r"\d\.\d\d", record["number"]), record["number"]
    assert [d.get("point_after", False) for d in record["digits"]] == [True, False, False]
    without = _records(run("classify", image, "--model", int8_model, "--number", "--json").stdout)
    assert without[0]["number"] == record["number"].replace(".", "")
    refused = CliRunner().invoke(cli, ["classify", str(image), "--model", str(int8_model),
                                       "--decimal-point"])  # fmt: skip
    assert refused.exit_code == 2 and "--decimal-point is a rule of --number" in refused.output


def test_camera_number_headless(int8_model, tmp_path):
    video = tmp_path / "numbers.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (800, 400))
    for i in range(20):
        writer.write(page("2024" if i < 10 else "31")[0])
    writer.release()
    result = run(
        "camera", "--source", video, "--model", int8_model, "--headless", "--number",
        "--changes-only",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    records = _records(result.stdout)
    frames = [r for r in records if r["event"] == "frame"]
    assert [len(r["digits"]) for r in frames] == [4, 2]
    summary = records[-1]
    assert summary["event"] == "summary" and summary["frames"] == 20 and summary["digits"] == 20


def test_a_12000_by_9000_photo_is_read_within_the_memory_bound(int8_model, tmp_path):
    """Decoded at 1/8 (imageio), segmented at that size: the process stays below 150 MB."""
    big = np.full((9000, 12000), 220, np.uint8)
    for i, ch in enumerate("4711"):
        cv2.putText(big, ch, (1500 + 2400 * i, 6000), cv2.FONT_HERSHEY_SIMPLEX, 60, 30, 250)
    _, data = cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 75])
    del big
    path = tmp_path / "huge.jpg"
    path.write_bytes(data.tobytes())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = ["classify", str(path), "--model", str(int8_model), "--json", "--number"]
    measured = run_measured(args, env=env)
    assert measured.code == 0
    record = json.loads(measured.stdout)
    assert len(record["digits"]) == 4
    assert record["digits"][0]["box"][0] > 1000  # in the file's own pixels
    assert measured.peak_rss_mb < 150, f"peak RSS {measured.peak_rss_mb:.0f} MB"


def test_min_confidence_turns_unsure_digits_into_question_marks(int8_model, files):
    result = run(
        "classify", files / "a_number.png", "--model", int8_model, "--number", "--json",
        "--min-confidence", "1.0",
    )  # fmt: skip
    record = _records(result.stdout)[0]
    assert record["number"] == "????" and record["unsure"] is True
    assert all(d["unsure"] and d["label"].isdigit() for d in record["digits"])


def test_eval_numbers_reports_each_set(int8_model, mnist_path, monkeypatch):
    monkeypatch.delenv("DIGIT_EDGE_USPS", raising=False)  # usps-10: tests/edge/test_usps.py
    result = run(
        "eval", int8_model, "--data", mnist_path, "--limit", "20", "--numbers", "4", "--json",
        "--min-confidence", "0",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)["numbers"]
    assert [r["set"] for r in rows] == ["numbers", "4-digit", "page", "decimal"]
    for r in rows:
        assert r["count"] == 4 and 0.0 <= r["exact"] <= 1.0 and r["per_digit"] <= 1.0
        assert r["numbers_per_second"] > 0


def test_edit_distance():
    from edge.synth_numbers import edit_distance

    assert edit_distance("2024", "2024") == 0
    assert edit_distance("224", "2024") == 1  # a digit missed
    assert edit_distance("20244", "2024") == 1  # one too many
    assert edit_distance("2124", "2024") == 1
    assert edit_distance("", "2024") == 4


_BARE = {"this_process_peak_rss_mb": 1.0}


def test_bench_number_camera_ratio(int8_model, tmp_path, mnist_data):
    from edge import bench

    digits = bench.write_video(tmp_path / "digits.avi", frames=40)
    numbers = bench.write_number_video(
        tmp_path / "numbers.avi", mnist_data.x_test, mnist_data.y_test, frames=40
    )
    result = bench.bench_number_camera(int8_model, digits, numbers, None, rounds=1)
    assert result["plain_camera_fps"] > 0 and result["number_camera_fps"] > 0
    ratio = result["number_camera_fps"] / result["plain_camera_fps"]
    assert result["number_over_plain"] == pytest.approx(ratio)
    assert result["numbers_per_second"] > 0
    # the loop alone reading all of a number, measured in the same rounds
    assert result["number_sequential_fps"] > 0 and result["sequential_loop_rest_cpu_ms"] > 0
    assert result["sequential_over_plain"] == pytest.approx(
        result["number_sequential_fps"] / result["plain_camera_fps"]
    )
    # the split of a read: 6-digit frames, the model's share and the rest both measured
    assert 5.0 <= result["number_digits_mean"] <= 7.0
    assert result["number_find_ms_p50"] > 0 and result["number_model_ms_p50"] > 0
    line = next(
        ln for ln in bench.system_lines({"number_camera": result, **_BARE}) if "--number" in ln
    )
    assert f"{result['number_digits_mean']:.1f} digits" in line and "the model" in line
    assert line.startswith(f"camera --number with {int8_model.name}, ")  # the first model's
    assert f"(one thread, default kernels, {result['runtime']})" in line  # on two interpreters
    assert result["runtime"].split()[0] in ("tflite-runtime", "ai-edge-litert", "tensorflow")
    share = result["number_model_ms_p50"] * result["plain_camera_fps"] / 1e3
    assert bench.model_share(result) == pytest.approx(share)
    assert f"{share:.0%} of a plain camera frame's time" in line
