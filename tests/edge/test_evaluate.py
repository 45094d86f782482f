"""eval's datasets: each model's images prepared the way that model normalises."""

from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np
import pytest

from edge import confidence, evaluate
from edge.model import DigitClassifier, ModelOptions
from edge.normalize import DEFAULT_OPTIONS
from edge.pipeline import DigitReader


def _bold_folder(root, mnist_data, count=20):
    """MNIST test digits drawn with a thick marker, as ink on paper, one subfolder per label."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    for i in range(count):
        big = cv2.resize(mnist_data.x_test[i], (112, 112), interpolation=cv2.INTER_CUBIC)
        folder = root / str(mnist_data.y_test[i])
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{i}.png"), 255 - cv2.dilate(big, kernel))
    return root


def test_each_model_gets_its_own_normalisation_read_once_per_kind(int8_model, tmp_path, mnist_data):
    model = DigitClassifier(ModelOptions(int8_model))
    thinned = DigitReader(model, options=DEFAULT_OPTIONS)  # strokes thinned to 1.5 px
    as_drawn = DigitReader(model, options=dataclasses.replace(DEFAULT_OPTIONS, stroke=0.0))
    folder = _bold_folder(tmp_path / "set", mnist_data)
    reads = []
    a, b, c = evaluate.load_for(folder, [thinned, as_drawn, thinned], tick=lambda: reads.append(1))
    assert len(reads) == 2 * 20  # two kinds of preprocessing: the folder read twice, not three
    assert c is a  # the same preprocessing shares its dataset
    np.testing.assert_array_equal(a.images, evaluate.load(folder, thinned).images)
    np.testing.assert_array_equal(b.images, evaluate.load(folder, as_drawn).images)
    assert not np.array_equal(a.images, b.images)  # the marker's strokes kept in b only
    np.testing.assert_array_equal(a.labels, b.labels)


def test_mnist_is_loaded_once_whatever_the_normalisation(int8_model, mnist_path):
    model = DigitClassifier(ModelOptions(int8_model))
    readers = [
        DigitReader(model, options=DEFAULT_OPTIONS),
        DigitReader(model, options=dataclasses.replace(DEFAULT_OPTIONS, stroke=0.0)),
    ]
    a, b = evaluate.load_for(mnist_path, readers, limit=50)
    assert a is b and len(a.labels) == 50


def test_eval_reads_as_classify_reads(int8_model, mnist_path, mnist_data):
    """eval's probabilities are classify's: a digit under 90% sure is read again, shifted (the
    fixture model is never that sure, so every digit here is), not the model read once."""
    model = DigitClassifier(ModelOptions(int8_model))
    data = evaluate.load(mnist_path, DigitReader(model), limit=40)
    report = evaluate.evaluate([model], [data])
    assert report["reread_below"] == 0.9
    reader = DigitReader(model, preprocess="none", top_k=10)
    probs = np.zeros((40, 10), np.float32)
    for row, img in zip(probs, mnist_data.x_test[:40], strict=True):
        for label, p in reader.read_pixels(img).top_k:
            row[int(label)] = p
    labels = mnist_data.y_test[:40]
    curve = confidence.coverage_curve(probs, labels)
    for got, want in zip(report["models"][0]["coverage"], curve, strict=True):
        assert got == pytest.approx(want, abs=1e-6)
    once = confidence.coverage_curve(model.predict(data.images), labels)
    assert [c["coverage"] for c in once] != [c["coverage"] for c in curve]


def _eval(*args: object):
    from click.testing import CliRunner

    from edge.cli import cli

    return CliRunner().invoke(cli, ["eval", *map(str, args)], catch_exceptions=False)


def test_eval_numbers_at_a_threshold_as_classify_number_shows_them(
    int8_model, mnist_path, mnist_data, monkeypatch
):
    """eval --numbers read with no threshold whatever --min-confidence said; its figures as
    read stay, and beside them, at P, the numbers as `classify --number` shows them ("?" for
    a digit under P): exact, unsure (a "?"), wrong without a "?"."""
    from edge import synth_numbers
    from edge.number import NumberReader

    monkeypatch.delenv("DIGIT_EDGE_USPS", raising=False)
    result = _eval(int8_model, "--data", mnist_path, "--limit", "10", "--numbers", "12",
                   "--min-confidence", "0.9", "--json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    row = json.loads(result.stdout)["numbers"][1]  # "4-digit"
    assert row["set"] == "4-digit"
    seed, kwargs, _ = synth_numbers.NUMBER_SETS["4-digit"]
    samples = list(synth_numbers.number_set(mnist_data.x_test, mnist_data.y_test, 12, seed,
                                            **kwargs))  # fmt: skip
    model = DigitClassifier(ModelOptions(int8_model))
    read = [NumberReader(DigitReader(model)).read(s.image).number for s in samples]
    shown = [NumberReader(DigitReader(model), min_confidence=0.9).read(s.image).number
             for s in samples]  # fmt: skip
    truth = [s.number for s in samples]
    # as read: the figure issue 12's goals are measured on, unchanged
    assert row["exact"] == sum(r == t for r, t in zip(read, truth, strict=True)) / 12
    assert row["with_min_confidence"] == {
        "min_confidence": 0.9,
        "exact": sum(s == t for s, t in zip(shown, truth, strict=True)),
        "unsure": sum("?" in s for s in shown),
        "wrong": sum("?" not in s and s != t for s, t in zip(shown, truth, strict=True)),
        "wrong_without": sum(r != t for r, t in zip(read, truth, strict=True)),
    }
    assert row["with_min_confidence"]["unsure"] > 0  # the fixture model is never 90% sure
    text = _eval(int8_model, "--data", mnist_path, "--limit", "10", "--numbers", "12",
                 "--min-confidence", "0.9")  # fmt: skip
    u = row["with_min_confidence"]
    assert (f"at P=0.90: exact {u['exact']}, unsure (a ?) {u['unsure']}, "
            f"wrong {u['wrong_without']} -> {u['wrong']}") in text.stdout  # fmt: skip
    off = _eval(int8_model, "--data", mnist_path, "--limit", "10", "--numbers", "2",
                "--min-confidence", "0", "--json")  # fmt: skip
    assert all("with_min_confidence" not in r for r in json.loads(off.stdout)["numbers"])


def _labelled_folder(root, mnist_data, per_label=5, labels=(0, 1, 2)):
    """``per_label`` MNIST test digits of each label as ink on paper, a subfolder per label."""
    for label in labels:
        (root / str(label)).mkdir(parents=True)
        for k, i in enumerate(np.flatnonzero(mnist_data.y_test == label)[:per_label]):
            cv2.imwrite(str(root / str(label) / f"{k}.png"), 255 - mnist_data.x_test[i])
    return root


def test_a_limited_run_on_a_labelled_folder_takes_every_class_in_turn(
    int8_model, tmp_path, mnist_data
):
    """--limit 6 on folders 0, 1, 2 of 5 images each read folder 0's five and one 1: an
    accuracy of one class. Now the classes are taken in turn: two of each, the same each run."""
    folder = _labelled_folder(tmp_path / "set", mnist_data)
    reader = DigitReader(DigitClassifier(ModelOptions(int8_model)))
    data = evaluate.load(folder, reader, limit=6)
    assert data.labels.tolist() == [0, 1, 2, 0, 1, 2]
    np.testing.assert_array_equal(data.images, evaluate.load(folder, reader, limit=6).images)
    assert np.bincount(evaluate.load(folder, reader).labels).tolist() == [5, 5, 5]  # all, unlimited
    result = _eval(int8_model, "--data", folder, "--limit", "7", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["models"][0]["count"] == 7


def test_eval_exits_1_when_it_skipped_an_unreadable_image(int8_model, tmp_path, mnist_data):
    """A text file named broken.png among a labelled folder's images: the others are read and
    reported, the file is named as skipped, and the exit is 1 (README, "Exit codes"), not 0."""
    folder = _labelled_folder(tmp_path / "set", mnist_data, per_label=3)
    (folder / "1" / "broken.png").write_text("not an image")
    for extra in ([], ["--json"]):
        result = _eval(int8_model, "--data", folder, *extra)
        assert result.exit_code == 1
        assert result.stderr == "digit-edge: 1 of 10 image(s) could not be read (skipped)\n"
        assert "broken.png" in result.stdout
    report = json.loads(result.stdout)
    assert report["count"] == 9 and len(report["skipped"]) == 1


@pytest.mark.parametrize("variable", ["DIGIT_EDGE_USPS", "DIGIT_EDGE_OPTDIGITS"])
def test_a_stale_real_digit_variable_is_checked_only_where_its_set_is_read(
    int8_model, mnist_path, tmp_path, monkeypatch, variable
):
    """A stale $DIGIT_EDGE_USPS (or _OPTDIGITS) broke every eval, even one reading no USPS,
    with a usage error naming --usps. Now it is read where its set is, and named if bad."""
    monkeypatch.delenv("DIGIT_EDGE_USPS", raising=False)
    monkeypatch.delenv("DIGIT_EDGE_OPTDIGITS", raising=False)
    stale = tmp_path / "nonexistent"
    monkeypatch.setenv(variable, str(stale))
    result = _eval(int8_model, "--data", mnist_path, "--limit", "20", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["models"][0]["count"] == 20
    result = _eval(int8_model, "--data", mnist_path, "--limit", "20", "--photos", "2")
    assert result.exit_code == 2
    assert result.stderr == f"digit-edge: error: ${variable}: {stale}: no such file\n"
    option = "--usps" if variable.endswith("USPS") else "--optdigits"
    result = _eval(int8_model, "--data", mnist_path, "--photos", "2", option, stale)
    assert result.exit_code == 2
    assert result.stderr == f"digit-edge: error: {option}: {stale}: no such file\n"


def test_photos_on_a_labelled_folder_is_refused_before_the_folder_is_read(
    int8_model, tmp_path, mnist_data
):
    """--photos and --numbers write MNIST's test digits: on a labelled folder they failed
    only after the whole folder had been read. Now before: a folder whose only file cannot be
    read says what --photos needs, not what reading the folder found."""
    folder = tmp_path / "set"
    (folder / "3").mkdir(parents=True)
    (folder / "3" / "broken.png").write_text("not an image")
    for option in ("--photos", "--numbers"):
        result = _eval(int8_model, "--data", folder, option, "5")
        assert result.exit_code == 2
        assert result.stderr == (
            f"digit-edge: error: {folder}: {option} needs MNIST (.npz or IDX) for the test digits\n"
        )


@pytest.mark.parametrize("bad", [1.7, -0.1, "0.9", None, float("nan")])
def test_a_threshold_that_is_not_a_probability_is_refused_in_one_line(
    int8_model, mnist_path, tmp_path, bad
):
    """--min-confidence nan passed FloatRange (NaN compares false) and turned the threshold
    off; a manifest's calibration.min_confidence of 1.7 made every digit unsure. Both are
    now errors, the manifest's naming the manifest file."""
    import shutil

    from edge.manifest import Manifest

    result = _eval(int8_model, "--data", mnist_path, "--limit", "5", "--min-confidence", "nan")
    assert result.exit_code == 2
    assert "Invalid value for '--min-confidence': nan is not a probability" in result.stderr
    model = tmp_path / "lenet_int8.tflite"
    shutil.copy(int8_model, model)
    manifest = tmp_path / "lenet_int8.manifest.json"
    Manifest("lenet", "int8", model.name, "", 0, {}, {}, calibration={"min_confidence": bad}).write(
        manifest
    )
    result = _eval(model, "--data", mnist_path, "--limit", "5")
    assert result.exit_code == 2
    assert result.stderr == (
        f"digit-edge: error: {manifest}: calibration.min_confidence is {bad!r}; "
        "expected a probability from 0 to 1\n"
    )


def test_two_models_of_one_file_name_are_told_apart(int8_model, mnist_path, tmp_path, monkeypatch):
    """eval a/lenet_int8.tflite b/lenet_int8.tflite labelled both rows lenet_int8.tflite; now
    each label is the shortest ending of its path that the other does not share."""
    import shutil

    monkeypatch.delenv("DIGIT_EDGE_USPS", raising=False)  # its numbers set: a row more

    from edge.fileio import distinct_names

    assert distinct_names(["x/a/m.tflite", "y/a/m.tflite", "z/n.tflite", "z/n.tflite"]) == [
        "x/a/m.tflite", "y/a/m.tflite", "n.tflite", "n.tflite",
    ]  # fmt: skip  # the same file twice: one label
    assert distinct_names(["m.tflite", "b/m.tflite"]) == ["m.tflite", "b/m.tflite"]
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(int8_model, tmp_path / folder / int8_model.name)
    models = [tmp_path / f / int8_model.name for f in ("a", "b")]
    result = _eval(*models, "--data", mnist_path, "--limit", "10", "--numbers", "1")
    assert result.exit_code == 0, result.stderr
    rows = [ln.split()[0] for ln in result.stdout.splitlines()[1:] if ln.startswith("  ")]
    assert rows == ["a/lenet_int8.tflite", "b/lenet_int8.tflite"] * 2 + [
        "a/lenet_int8.tflite", "b/lenet_int8.tflite"] * 4  # fmt: skip


def test_eval_reports_its_progress_while_the_models_read(int8_model, mnist_path):
    """The models' reading is most of eval's time (11 s for edgenet_int8 on MNIST) and showed
    no progress; now it ticks every PROGRESS_CHUNK images, every image counted once per model,
    the probabilities those of one read of all (rows are independent)."""
    model = DigitClassifier(ModelOptions(int8_model))
    data = evaluate.load(mnist_path, DigitReader(model), limit=evaluate.PROGRESS_CHUNK + 40)
    ticks: list[int] = []
    report = evaluate.evaluate([model, model], [data, data], tick=ticks.append)
    assert ticks == [evaluate.PROGRESS_CHUNK, 40] * 2
    from edge.reread import read_probabilities

    at_once = read_probabilities(model, data.images)
    np.testing.assert_array_equal(evaluate.read_all(model, data.images), at_once)
    assert report["models"][0]["correct"] == int((at_once.argmax(1) == data.labels).sum())
