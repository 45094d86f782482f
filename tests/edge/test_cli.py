"""The digit-edge command line: classify, eval, bench; errors are one line, never a traceback."""

from __future__ import annotations

import csv
import io
import json
import os

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from edge import cli as cli_module
from edge import uci
from edge.bench import run_measured
from edge.cli import cli
from tests import model_zoo
from tests.edge.helpers import ROOT, digit_on_paper, edge_cli, huge_jpeg


@pytest.fixture
def run():
    def invoke(*args: str):
        return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)

    return invoke


@pytest.fixture
def inputs(tmp_path, mnist_data):
    good = tmp_path / "good"
    good.mkdir()
    for i in range(3):
        cv2.imwrite(str(good / f"mnist_{i}.png"), mnist_data.x_test[i])
    cv2.imwrite(str(good / "photo_3.jpg"), digit_on_paper(3, (640, 480)))
    cv2.imwrite(str(good / "blank.png"), np.full((240, 320), 210, np.uint8))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "zero.png").write_bytes(b"")
    (bad / "text.png").write_text("not an image")
    _, data = cv2.imencode(".jpg", digit_on_paper(1, (640, 480)))
    (bad / "cut.jpg").write_bytes(data.tobytes()[:3000])
    return good, bad


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_classify_json_one_object_per_image(run, int8_model, inputs, mnist_data):
    good, _ = inputs
    result = run("classify", good, "--model", int8_model, "--json", "--top-k", "3")
    assert result.exit_code == 0, result.stderr
    records = {r["path"].split("/")[-1]: r for r in _json_lines(result.stdout)}
    assert len(records) == 5
    for i in range(3):
        r = records[f"mnist_{i}.png"]
        assert r["label"] == str(mnist_data.y_test[i]) and r["error"] is None
        assert len(r["top_k"]) == 3 and r["top_k"][0]["label"] == r["label"]
        assert r["top_k"][0]["probability"] >= r["top_k"][1]["probability"]
        assert r["runtime"].split()[0] in ("tflite-runtime", "ai-edge-litert", "tensorflow")
        assert {"read", "preprocess", "invoke", "postprocess", "total"} <= set(r["timings_ms"])
    assert records["blank.png"]["label"] is None and "no digit" in records["blank.png"]["no_digit"]
    assert records["photo_3.jpg"]["box"] is not None


def test_one_bad_file_never_loses_the_others(run, int8_model, inputs):
    good, bad = inputs
    result = run("classify", good / "mnist_0.png", bad, good / "missing.png", good / "mnist_1.png",
                 "--model", int8_model, "--json")  # fmt: skip
    assert result.exit_code == 1
    records = _json_lines(result.stdout)
    assert len(records) == 6
    errors = {r["path"].split("/")[-1]: r["error"] for r in records if r["error"]}
    assert set(errors) == {"cut.jpg", "text.png", "zero.png", "missing.png"}
    assert "truncated JPEG" in errors["cut.jpg"] and "0 bytes" in errors["zero.png"]
    assert [r["label"] for r in records if not r["error"]] != [None, None]
    # one shape for machines: a failed input has every key a reading has, nothing read
    failed = next(r for r in records if r["error"])
    assert set(failed) == set(records[0])
    assert failed["top_k"] == [] and failed["probability"] is None and failed["unsure"] is False
    assert "Traceback" not in result.stderr
    assert "4 of 6 input(s) failed" in result.stderr
    for line in result.stderr.splitlines()[:-1]:
        assert line.startswith("digit-edge: error: ")


def test_classify_csv(run, int8_model, inputs):
    good, _ = inputs
    result = run("classify", good, "--model", int8_model, "--csv")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 5 and rows[0].keys() >= {"path", "label", "probability", "error"}
    assert {r["unsure"] for r in rows} == {"false"}
    broken = run("classify", good / "mnist_0.png", "/nowhere.png", "--model", int8_model, "--csv")
    assert broken.exit_code == 1
    rows = list(csv.DictReader(io.StringIO(broken.stdout)))
    assert [bool(r["error"]) for r in rows] == [False, True]
    assert {r["unsure"] for r in rows} == {"false"}  # a failed row too, as its JSON says


def test_classify_human_output_and_save_preprocessed(run, int8_model, inputs, tmp_path):
    good, _ = inputs
    out = tmp_path / "seen"
    result = run(
        "classify", good / "photo_3.jpg", "--model", int8_model, "--save-preprocessed", out
    )
    assert result.exit_code == 0
    assert result.stdout.startswith(str(good / "photo_3.jpg") + ": ")
    (saved,) = out.iterdir()
    img = cv2.imread(str(saved), cv2.IMREAD_UNCHANGED)
    assert img.shape == (28, 28) and img.dtype == np.uint8 and img.max() == 255


def test_save_preprocessed_keeps_inputs_whose_names_end_alike(
    run, int8_model, tmp_path, mnist_data
):
    """Files are named by their last three path parts: c1/x/y/d.png and c2/x/y/d.png would
    share one; the second gets its own, so neither digit is lost."""
    for i, top in enumerate(("c1", "c2")):
        folder = tmp_path / top / "x" / "y"
        folder.mkdir(parents=True)
        cv2.imwrite(str(folder / "d.png"), mnist_data.x_test[i])
    out = tmp_path / "seen"
    paths = [tmp_path / "c1/x/y/d.png", tmp_path / "c2/x/y/d.png"]
    result = run("classify", *paths, "--model", int8_model, "--json", "--save-preprocessed", out)
    assert result.exit_code == 0, result.stderr
    saved = [r["preprocessed"] for r in _json_lines(result.stdout)]
    assert [os.path.basename(p) for p in saved] == ["x_y_d.png", "x_y_d_2.png"]
    first, second = (cv2.imread(p, cv2.IMREAD_GRAYSCALE) for p in saved)
    assert np.abs(first.astype(int) - second).max() > 100  # a 7 and a 2, each in its file


@pytest.mark.parametrize("variant", ["float32", "dynamic", "float16", "int8", "int8-uint8"])
def test_every_converted_mode_classifies(run, test_models, variant, inputs, mnist_data):
    good, _ = inputs
    model = test_models / model_zoo.file_name("mlp", variant)
    result = run("classify", good / "mnist_0.png", "--model", model, "--json")
    assert result.exit_code == 0
    assert _json_lines(result.stdout)[0]["label"] == str(mnist_data.y_test[0])


def test_preprocess_none_and_naive(run, int8_model, inputs):
    good, _ = inputs
    result = run(
        "classify", good / "mnist_0.png", "--model", int8_model, "--preprocess", "none", "--json"
    )
    assert result.exit_code == 0 and _json_lines(result.stdout)[0]["label"] == "7"
    result = run(
        "classify", good / "photo_3.jpg", "--model", int8_model, "--preprocess", "none", "--json"
    )
    # the wrong option for a photo: an input error (exit 1), not a picture without a digit
    assert result.exit_code == 1
    (record,) = _json_lines(result.stdout)
    assert record["label"] is None and record["no_digit"] is None
    assert "reads 28x28 MNIST-style digits, this image is 640x480" in record["error"]
    result = run("classify", good / "photo_3.jpg", "--model", int8_model, "--preprocess", "naive")
    assert result.exit_code == 0


def test_not_a_tflite_model(run, tmp_path, inputs):
    fake = tmp_path / "model.tflite"
    fake.write_bytes(b"\x00" * 100)
    result = run("classify", inputs[0], "--model", fake)
    assert result.exit_code == 2
    assert (
        result.stderr.strip()
        == f"digit-edge: error: {fake}: not a TFLite model (no 'TFL3' flatbuffer identifier)"
    )


def test_model_with_wrong_input_shape(run, test_models, inputs):
    result = run("classify", inputs[0], "--model", test_models / model_zoo.WRONG_SHAPE_FILE)
    assert result.exit_code == 2
    assert "is not a 28x28 digit image" in result.stderr and len(result.stderr.splitlines()) == 1


def test_missing_model_and_default_model_hint(run, tmp_path, inputs, monkeypatch):
    result = run("classify", inputs[0], "--model", tmp_path / "nope.tflite")
    assert result.exit_code == 2 and "no such model file" in result.stderr
    monkeypatch.chdir(tmp_path)
    result = run("classify", "x.png")
    assert result.exit_code == 2 and "make train convert" in result.stderr
    assert "/opt/digit-edge/models/edgenet_int8.tflite where the Pi bundle is installed" in (
        result.stderr
    )


def test_an_installed_pi_bundles_model_is_the_default_outside_a_checkout(
    run, tmp_path, test_models, inputs, monkeypatch
):
    """On a Pi, `digit-edge classify photo.jpg` in the user's home has no artifacts/ beside
    it: the model install.sh put in /opt/digit-edge/models/ is the default (here a copy of a
    fixture model stands in for it); in a checkout its own artifacts/ come first."""
    installed = tmp_path / "opt" / "edgenet_int8.tflite"
    installed.parent.mkdir()
    installed.write_bytes((test_models / "lenet_int8.tflite").read_bytes())
    checkout = tmp_path / "checkout" / "edgenet_int8.tflite"
    monkeypatch.setattr(cli_module, "DEFAULT_MODELS", (checkout, installed))
    result = run("classify", inputs[0], "--json")
    assert result.exit_code == 0, result.stderr
    assert {json.loads(line)["model"] for line in result.stdout.splitlines()} == {str(installed)}
    checkout.parent.mkdir()
    checkout.write_bytes(installed.read_bytes())
    result = run("classify", inputs[0], "--json")
    assert {json.loads(line)["model"] for line in result.stdout.splitlines()} == {str(checkout)}


def test_runtime_and_verbose(run, int8_model, inputs):
    from edge.runtime import load_runtime

    expected = load_runtime()
    result = run("classify", inputs[0] / "mnist_0.png", "--model", int8_model, "-v", "--json",
                 "--runtime", expected.name, "--threads", "2")  # fmt: skip
    assert result.exit_code == 0
    assert expected.describe() in result.stderr and "2 thread(s)" in result.stderr
    assert _json_lines(result.stdout)[0]["runtime"] == expected.describe()


def test_unavailable_runtime_is_one_line(run, int8_model, inputs):
    from tests.edge.helpers import DEVICE_ENV

    missing = "ai-edge-litert" if DEVICE_ENV else "tflite-runtime"
    result = run("classify", inputs[0], "--model", int8_model, "--runtime", missing)
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1
    assert "no TFLite interpreter could be imported" in result.stderr


def test_usage_errors_exit_2(run, int8_model):
    assert run("classify").exit_code == 2
    assert run("classify", "x.png", "--runtime", "nope").exit_code == 2
    assert run("classify", "x.png", "--model", int8_model, "--json", "--csv").exit_code == 2


def test_eval_mnist_two_models_with_agreement(run, test_models, tmp_path, mnist_data):
    data = tmp_path / "mnist.npz"
    n = 300
    np.savez(data, x_train=mnist_data.x_train[:10], y_train=mnist_data.y_train[:10],
             x_test=mnist_data.x_test[:n], y_test=mnist_data.y_test[:n])  # fmt: skip
    f32 = test_models / model_zoo.file_name("lenet", "float32")
    i8 = test_models / model_zoo.file_name("lenet", "int8")
    result = run("eval", f32, i8, "--data", data, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert [m["count"] for m in report["models"]] == [n, n]
    assert all(m["accuracy"] > 0.85 for m in report["models"])
    agreement = np.array(report["agreement"])
    assert agreement.shape == (2, 2) and agreement[0, 0] == 1.0 and agreement[0, 1] > 0.97
    text = run("eval", f32, i8, "--data", data, "--limit", "50")
    assert text.exit_code == 0 and "agreement" in text.stdout and "50 images" in text.stdout


def test_eval_labelled_folder(run, int8_model, tmp_path, mnist_data):
    for i in range(30):
        folder = tmp_path / "set" / str(mnist_data.y_test[i])
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{i}.png"), 255 - mnist_data.x_test[i])  # ink on paper
    result = run("eval", int8_model, "--data", tmp_path / "set", "--json")
    assert result.exit_code == 0, result.stderr
    (m,) = json.loads(result.stdout)["models"]
    assert m["count"] == 30 and m["accuracy"] >= 0.8


def test_eval_finds_mnist_where_every_command_does(run, int8_model, tmp_path, mnist_data,
                                                  monkeypatch):  # fmt: skip
    """Without --data: $DIGIT_EDGE_DATA, then the offline copy; with neither, a usage error."""
    from edge import mnist

    data = tmp_path / "mnist.npz"
    np.savez(data, x_train=mnist_data.x_train[:10], y_train=mnist_data.y_train[:10],
             x_test=mnist_data.x_test[:40], y_test=mnist_data.y_test[:40])  # fmt: skip
    monkeypatch.setenv("DIGIT_EDGE_DATA", str(data))
    result = run("eval", int8_model, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["models"][0]["count"] == 40
    monkeypatch.delenv("DIGIT_EDGE_DATA")
    monkeypatch.setattr(mnist, "OFFLINE_COPY", tmp_path / "no-shared-copy")
    result = run("eval", int8_model)
    assert result.exit_code == 2
    assert "nothing to evaluate on: give --data" in result.stderr


def test_eval_bad_data_is_one_line(run, int8_model, tmp_path):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "cats").mkdir()
    result = run("eval", int8_model, "--data", tmp_path / "junk")
    assert result.exit_code == 2 and "one subfolder per label" in result.stderr
    result = run("eval", int8_model, "--data", tmp_path / "none.npz")
    assert result.exit_code == 2 and "no such file" in result.stderr


def test_eval_photos(run, int8_model, tmp_path, mnist_data, monkeypatch):
    monkeypatch.delenv("DIGIT_EDGE_USPS", raising=False)  # its set has a test of its own
    monkeypatch.delenv("DIGIT_EDGE_OPTDIGITS", raising=False)  # and so has this one
    data = tmp_path / "mnist.npz"
    np.savez(data, x_train=mnist_data.x_train[:10], y_train=mnist_data.y_train[:10],
             x_test=mnist_data.x_test[:200], y_test=mnist_data.y_test[:200])  # fmt: skip
    result = run("eval", int8_model, "--data", data, "--limit", "20", "--photos", "20", "--json")
    assert result.exit_code == 0, result.stderr
    photos = json.loads(result.stdout)["photos"]
    uci_sets = ["uci-scans", "uci-photos"] if uci.available() else []  # scikit-learn: dev only
    assert [p["set"] for p in photos] == ["photos", "pages", "fonts", "screens", *uci_sets]
    assert all(p["count"] == 20 and p["normalized"] > p["naive"] for p in photos)


def test_eval_real_digit_files_typed_without_their_sets_are_a_usage_error(
    run, int8_model, tmp_path, mnist_data, monkeypatch
):
    """--usps or --optdigits on the command line would read nothing without --photos (or, for
    USPS, --numbers): a usage error. From the environment they are a setting, and stay quiet."""
    data = tmp_path / "mnist.npz"
    np.savez(data, x_train=mnist_data.x_train[:10], y_train=mnist_data.y_train[:10],
             x_test=mnist_data.x_test[:50], y_test=mnist_data.y_test[:50])  # fmt: skip
    archive = tmp_path / "any.tar.gz"
    archive.write_bytes(b"never read")
    for option, needs in (("--usps", "--photos N or --numbers N"), ("--optdigits", "--photos N")):
        monkeypatch.delenv("DIGIT_EDGE_USPS", raising=False)
        monkeypatch.delenv("DIGIT_EDGE_OPTDIGITS", raising=False)
        result = run("eval", int8_model, "--data", data, option, archive)
        assert result.exit_code == 2
        assert f"{option} is read with {needs}" in result.stderr
    result = run("eval", int8_model, "--data", data, "--numbers", "0", "--optdigits", archive)
    assert result.exit_code == 2  # --numbers does not read the UCI writers
    monkeypatch.setenv("DIGIT_EDGE_USPS", str(archive))
    monkeypatch.setenv("DIGIT_EDGE_OPTDIGITS", str(archive))
    result = run("eval", int8_model, "--data", data, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["models"][0]["count"] == 50


def test_bench_models_side_by_side(run, test_models):
    models = [test_models / model_zoo.file_name("lenet", v) for v in ("float32", "int8")]
    result = run("bench", *models, "--runs", "50", "--warmup", "5", "--no-system", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert len(report["models"]) == 2
    for m in report["models"]:
        assert m["invoke_us"]["p50"] > 0 and m["pipeline_us"]["p50"] > 0 and m["init_us"] > 0
        assert set(m["invoke_us"]) == {"mean", "std", "p50", "p90", "p99"}
    table = run("bench", *models, "--runs", "20", "--warmup", "0", "--no-system")
    assert "pipeline / invoke" in table.stdout and "lenet_int8.tflite" in table.stdout


def test_bench_rejects_a_non_model(run, tmp_path):
    (tmp_path / "x.tflite").write_text("no")
    result = run("bench", tmp_path / "x.tflite", "--no-system")
    assert result.exit_code == 2 and "not a TFLite model" in result.stderr


def test_python_dash_m_edge_and_version():
    out = edge_cli("--version")
    assert out.returncode == 0 and "digit-edge" in out.stdout


def test_preprocess_none_names_the_files_own_size(run, int8_model, tmp_path):
    """A huge JPEG is decoded at 1/8 scale; the error gives the size the user's file has."""
    path = huge_jpeg(tmp_path / "huge.jpg", "4", side=4000)
    result = run("classify", path, "--model", int8_model, "--preprocess", "none")
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"digit-edge: error: {path}: --preprocess none reads 28x28")
    assert "this image is 4000x4000" in result.stderr


def test_huge_image_costs_little_memory(int8_model, tmp_path):
    """A 10000x10000 photo is read at 1/8 scale: the whole process stays far below 300 MB."""
    path = huge_jpeg(tmp_path / "huge.jpg", "4")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    measured = run_measured(["classify", str(path), "--model", str(int8_model), "--json"], env=env)
    assert measured.code == 0
    peak_mb = measured.peak_rss_mb
    assert 0 < measured.anon_mb < peak_mb and 0 < measured.file_mb < peak_mb
    record = json.loads(measured.stdout)
    assert record["label"] is not None and record["box"][2] > 1000  # found, in full-size pixels
    assert peak_mb < 150, f"peak RSS {peak_mb:.0f} MB"
