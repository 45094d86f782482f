"""--min-confidence: an unsure reading names no digit, lists candidates; the measures behind it."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from edge import confidence
from edge.cli import cli
from edge.manifest import Manifest, manifest_path
from edge.model import open_model
from edge.pipeline import DigitReader
from tests.edge.helpers import digit_on_paper


def _probs(rows: list[list[float]]) -> np.ndarray:
    return np.asarray(rows, np.float32)


def test_outcome_counts_wrong_and_unsure():
    probs = _probs(
        [
            [0.95, 0.05] + [0] * 8,  # right, sure
            [0.40, 0.60] + [0] * 8,  # wrong (label 0), unsure at 0.7
            [0.10, 0.90] + [0] * 8,  # wrong, sure: stays wrong
            [0.0] * 10,  # no digit found: wrong either way, never "unsure"
        ]
    )
    labels = np.array([0, 0, 0, 1])
    o = confidence.outcome(probs, labels, 0.7)
    assert (o["wrong_without"], o["wrong"], o["unsure"]) == (3, 2, 1)
    assert o["accuracy"] == 0.25 and o["unsure_rate"] == 0.25
    assert confidence.outcome(probs, labels, 0.0)["unsure"] == 0


def test_coverage_curve_trades_coverage_for_accuracy():
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.3, 1.0, 2000)
    labels = np.zeros(2000, int)
    right = rng.random(2000) < conf  # confident readings are more often right
    probs = np.zeros((2000, 10), np.float32)
    probs[np.arange(2000), np.where(right, 0, 1)] = conf
    curve = confidence.coverage_curve(probs, labels, (0.0, 0.5, 0.9))
    assert curve[0]["coverage"] == 1.0
    assert curve[0]["coverage"] > curve[1]["coverage"] > curve[2]["coverage"] > 0
    assert curve[0]["accuracy"] < curve[1]["accuracy"] < curve[2]["accuracy"]


def test_reader_turns_a_low_confidence_reading_unsure(int8_model):
    model = open_model(int8_model)
    image = digit_on_paper(3, (320, 240))
    sure = DigitReader(model).read(image)
    assert sure.label is not None and not sure.unsure
    unsure = DigitReader(model, min_confidence=1.0).read(image)  # int8 tops out at 255/256
    assert unsure.label is None and unsure.unsure and unsure.no_digit is None
    labels = [lb for lb, _ in unsure.top_k]
    assert len(labels) == confidence.CANDIDATES and labels[0] == sure.label
    probs = [p for _, p in unsure.top_k]
    assert probs == sorted(probs, reverse=True) and probs[0] == pytest.approx(sure.probability)
    blank = DigitReader(model, min_confidence=0.5).read(np.full((240, 320), 200, np.uint8))
    assert blank.label is None and not blank.unsure and blank.no_digit  # no digit is not unsure


def test_classify_min_confidence_json_and_text(int8_model, tmp_path):
    path = tmp_path / "three.png"
    cv2.imwrite(str(path), digit_on_paper(3, (320, 240)))
    runner = CliRunner()
    out = runner.invoke(cli, ["classify", str(path), "--model", str(int8_model), "--json"])
    plain = json.loads(out.stdout)
    assert plain["unsure"] is False and plain["label"] is not None
    strict = runner.invoke(
        cli, ["classify", str(path), "--model", str(int8_model), "--json", "--min-confidence", "1"]
    )
    record = json.loads(strict.stdout)
    assert record["label"] is None and record["unsure"] is True and record["error"] is None
    assert record["top_k"][0]["label"] == plain["label"]
    assert len(record["top_k"]) == confidence.CANDIDATES
    text = runner.invoke(
        cli, ["classify", str(path), "--model", str(int8_model), "--min-confidence", "1"]
    )
    assert text.exit_code == 0 and ": ? unsure (" in text.stdout
    bad = runner.invoke(cli, ["classify", str(path), "--min-confidence", "1.5"])
    assert bad.exit_code == 2 and "1.5" in bad.output


def test_default_min_confidence_comes_from_the_manifest(int8_model, tmp_path):
    copy = tmp_path / int8_model.name
    copy.write_bytes(int8_model.read_bytes())
    assert confidence.resolve(None, open_model(copy)) == 0.0  # no manifest: off
    source = manifest_path(int8_model)
    manifest = Manifest.read(source) if source.is_file() else None
    if manifest is None:
        manifest = Manifest("lenet", "int8", copy.name, "", 0, {}, {})
    manifest.calibration = {"temperature": 1.2, "min_confidence": 0.99}
    manifest.write(manifest_path(copy))
    model = open_model(copy)
    assert confidence.resolve(None, model) == 0.99
    assert confidence.resolve(0.0, model) == 0.0  # the option wins, 0 turns it off
    image = tmp_path / "three.png"
    cv2.imwrite(str(image), digit_on_paper(3, (320, 240)))
    out = CliRunner().invoke(cli, ["classify", str(image), "--model", str(copy), "--json"])
    record = json.loads(out.stdout)
    assert record["unsure"] == (record["probability"] < 0.99)


def test_overlay_shows_a_question_mark_for_an_unsure_reading():
    from edge import overlay
    from edge.pipeline import Reading

    frame = np.full((240, 320, 3), 255, np.uint8)
    sure = overlay.draw(frame, Reading("3", 0.97, [("3", 0.97)]), 30.0)
    unsure = overlay.draw(frame, Reading(None, 0.41, [("3", 0.41)], unsure=True), 30.0)
    blank = overlay.draw(frame, Reading(None, None, [], "no digit: blank image"), 30.0)
    band = (slice(0, 20), slice(0, 160))  # where the reading is written (the FPS is below)
    assert not np.array_equal(sure[band], unsure[band])
    assert not np.array_equal(unsure[band], blank[band])
    expected = frame.copy()
    cv2.putText(expected, "?  41%", (10, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, overlay.TEXT_COLOUR, 1)
    assert np.array_equal(unsure[band], expected[band])


def test_reader_normalises_as_the_manifest_says(int8_model, tmp_path):
    copy = tmp_path / int8_model.name
    copy.write_bytes(int8_model.read_bytes())
    assert DigitReader(open_model(copy)).options.stroke == 1.5  # no manifest: the defaults
    Manifest("lenet", "int8", copy.name, "", 0, {}, {}, preprocessing={"stroke": 0.0}).write(
        manifest_path(copy)
    )
    assert DigitReader(open_model(copy)).options.stroke == 0.0
