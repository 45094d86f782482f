"""The stage end to end on tiny real models: report and manifests match the files, the numbers
are the edge runtime's, the gate bites, and bad inputs fail in one line without damage."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from convert.cli import main
from convert.modes import MODE_NAMES
from edge.manifest import Manifest, manifest_path
from edge.model import DigitClassifier, ModelOptions
from tests.convert.conftest import EDGE_PYTHON


def test_every_model_and_mode_is_written_with_manifest_and_report(stage_run):
    opts, result = stage_run
    files = result.report.to_dict()["files"]
    assert [(f["model"], f["mode"]) for f in files] == [
        (m, mode) for m in ("lenet", "dense") for mode in MODE_NAMES
    ]
    for f in files:
        path = opts.tflite_dir / f["file"]
        blob = path.read_bytes()
        assert f["file"] == f"{f['model']}_{f['mode']}.tflite"
        assert (len(blob), hashlib.sha256(blob).hexdigest()) == (f["bytes"], f["sha256"])
        manifest = Manifest.read(manifest_path(path))
        assert (manifest.sha256, manifest.bytes, manifest.mode) == (
            f["sha256"],
            len(blob),
            f["mode"],
        )
        clf = DigitClassifier(ModelOptions(path))
        assert manifest.input["shape"] == [int(d) for d in clf.input_details["shape"]]
        assert manifest.input["dtype"] == clf.input_params.dtype.name
        assert manifest.input["scale"] == pytest.approx(clf.input_params.scale)
        assert manifest.input["zero_point"] == clf.input_params.zero_point
        assert manifest.accuracy["test_accuracy"] == f["accuracy"]
        assert manifest.accuracy["drift_pp"] == f["drift_pp"]
        assert manifest.compatibility["ops"] == f["ops"]
        assert manifest.labels == [str(d) for d in range(10)]
        assert manifest.preprocessing["polarity"] == "white-on-black"
    on_disk = json.loads((opts.report_dir / "report.json").read_text())
    assert on_disk["files"] == json.loads(json.dumps(files))
    assert on_disk["data"]["test_images"] == 10_000
    assert on_disk["interpreter"]["host"] and on_disk["versions"]["tensorflow"]
    assert on_disk["representative"]["per_class"] == [20] * 10
    md = (opts.report_dir / "report.md").read_text()
    assert all(f["file"] in md for f in files)
    for png in ("accuracy_vs_size.png", "disagreements.png"):
        assert (opts.report_dir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in opts.artifacts.rglob(".*") if p.is_file()]  # no temporary leftovers


def test_reported_accuracy_and_drift_are_the_edge_runtimes(stage_run, mnist_data):
    import keras

    opts, result = stage_run
    # the data each model was trained on, from its metrics file (it was always null)
    models = result.report.to_dict()["models"]
    assert [m["train_data_sha256"] for m in models.values()] == [mnist_data.sha256] * len(models)
    f = next(f for f in result.report.to_dict()["files"] if f["file"] == "lenet_int8.tflite")
    x = mnist_data.x_test.astype(np.float32) / 255.0
    probs = DigitClassifier(ModelOptions(opts.tflite_dir / f["file"])).predict(x)
    keras_model = keras.models.load_model(opts.models_dir / "lenet.keras")
    ref = keras_model.predict(x[..., None], batch_size=1000, verbose=0)
    acc, ref_acc = (
        np.mean(probs.argmax(1) == mnist_data.y_test),
        np.mean(ref.argmax(1) == mnist_data.y_test),
    )
    assert f["accuracy"] == pytest.approx(acc)
    assert f["drift_pp"] == pytest.approx(100 * (acc - ref_acc))
    assert f["agreement"] == pytest.approx(np.mean(probs.argmax(1) == ref.argmax(1)))
    assert f["batched_vs_single"] == {
        "images": 10_000,
        "label_mismatches": 0,
        "max_abs_prob_delta": 0.0,
    }
    assert f["latency_us"]["p50"] <= f["latency_us"]["p90"] <= f["latency_us"]["p99"]


def test_every_file_ran_on_tflite_runtime_2_14(stage_run):
    if not EDGE_PYTHON.exists():
        pytest.skip(f"{EDGE_PYTHON} does not exist (`make setup-edge` creates it)")
    _, result = stage_run
    assert result.report.header["interpreter"]["device"] == "tflite-runtime 2.14.0"
    for f in result.report.files:
        dev = f.device
        assert dev.runs is True and dev.loads is True, dev.error
        assert dev.images == 10_000 and dev.agreement_with_host > 0.99
    assert result.report.gate.incompatible == []


def test_every_file_runs_and_matches_on_ai_edge_litert(stage_run):
    """Raspberry Pi OS trixie's interpreter, at the version the host pins for it: every file
    loads, and its predictions are the host evaluation's (the same interpreter: identical)."""
    from importlib.metadata import version

    _, result = stage_run
    pinned = f"ai-edge-litert {version('ai-edge-litert')}"
    assert result.report.header["interpreter"]["device_trixie"] == pinned
    for f in result.report.files:
        litert = f.litert
        assert litert.runs is True and litert.loads is True, litert.error
        assert litert.images == 10_000 and litert.agreement_with_host == 1.0
        if f.host_runtime == pinned:
            assert litert.max_abs_prob_delta_vs_host == 0.0
            assert litert.drift_pp == f.comparison.drift_pp
    assert result.report.gate.incompatible_litert == []
    assert result.report.to_dict()["files"][0]["ai_edge_litert"]["runtime"] == pinned


def run_cli(*args, env=None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_drift_gate_fails_naming_the_files(artifacts_copy):
    # one calibration image makes int8 clip its activations: its drift is not zero
    result = run_cli(
        "--artifacts", str(artifacts_copy), "--models", "lenet", "--modes", "float32,int8",
        "--representative", "1", "--max-drift", "0", "--latency-reps", "5",
        "--no-device-check", "--no-plots", "--json",
    )  # fmt: skip
    report = json.loads(result.stdout)
    drifted = [f["file"] for f in report["files"] if f["mode"] != "float32" and f["drift_pp"]]
    assert drifted == ["lenet_int8.tflite"]
    assert result.exit_code == 3
    assert "drift gate (0.0 pp) failed for: lenet_int8.tflite" in result.stderr
    assert "lenet_float32" not in result.stderr  # the float reference is never gated


def snapshot(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--models", "lenet,nosuch"], "unknown model 'nosuch'"),
        (["--models", "seed-example"], "seed-example.keras: no such trained model"),
        (["--modes", "int8,int4"], "unknown mode 'int4'"),
        (["--representative", "0"], "empty representative set"),
        (["--data", "/nonexistent/mnist.npz"], "/nonexistent/mnist.npz: no such file"),
        (["--device-python", "/nonexistent/python"], "no such python for the device check"),
        (["--corrupt"], "lenet.keras: not a readable Keras model"),
        (["--truncate"], "dense.keras: not a readable Keras model"),
    ],
    ids=[
        "unknown-model",
        "untrained-model",
        "unknown-mode",
        "no-calibration",
        "missing-data",
        "missing-device-python",
        "corrupt-keras",
        "truncated-keras",
    ],
)
def test_bad_inputs_fail_in_one_line_and_damage_nothing(artifacts_copy, args, message):
    models = artifacts_copy / "models"
    if args == ["--corrupt"]:
        (models / "lenet.keras").write_bytes(b"this is not a zip archive")
        args = []
    if args == ["--truncate"]:
        blob = (models / "dense.keras").read_bytes()
        (models / "dense.keras").write_bytes(blob[: len(blob) // 2])
        args = []
    # outputs of an earlier run that must survive untouched
    (artifacts_copy / "tflite").mkdir()
    (artifacts_copy / "tflite" / "lenet_int8.tflite").write_bytes(b"earlier")
    (artifacts_copy / "report").mkdir()
    (artifacts_copy / "report" / "report.json").write_text("{}")
    before = snapshot(artifacts_copy)
    result = run_cli("--artifacts", str(artifacts_copy), *args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("digit-convert: error: "), result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.output
    assert snapshot(artifacts_copy) == before


def test_an_output_folder_that_cannot_be_written_is_one_line_before_any_work(artifacts_copy):
    """Before, it converted and evaluated everything, then died in a traceback (exit 1)."""
    (artifacts_copy / "report").write_text("a file where the report folder goes")
    result = run_cli("--artifacts", str(artifacts_copy))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.strip().splitlines() == [
        f"digit-convert: error: {artifacts_copy / 'report'}: cannot write there (File exists)"
    ]
    assert not (artifacts_copy / "tflite").exists() or not any(
        (artifacts_copy / "tflite").iterdir()
    )


def test_no_models_at_all_is_a_clear_error(tmp_path):
    result = run_cli("--artifacts", str(tmp_path / "empty"))
    assert result.exit_code == 2
    assert "no trained models" in result.stderr and "make train" in result.stderr


def test_python_dash_m_convert_is_the_cli():
    proc = subprocess.run(
        [sys.executable, "-m", "convert", "--help"], capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONPATH": "."},
    )  # fmt: skip
    assert proc.returncode == 0 and "--max-drift" in proc.stdout and "digit-convert" in proc.stdout


def test_calibration_section_manifests_and_coverage_plot(stage_run, mnist_data):
    from train.calibration import expected_calibration_error

    opts, result = stage_run
    report = result.report.to_dict()
    section = report["calibration"]
    cal = section["models"]["lenet"]
    assert section["models"]["dense"] is None  # its metrics carry no calibration
    assert 0.25 <= cal["temperature"] <= 4.0 and 0.3 <= cal["min_confidence"] <= 0.99
    y = mnist_data.y_test
    for f in report["files"]:
        entry = section["files"][f["file"]]
        assert set(entry["sets"]) >= {"mnist-test", "photos"}
        mnist = entry["sets"]["mnist-test"]
        assert mnist["count"] == 10_000 and mnist["wrong_without"] == round(
            (1 - f["accuracy"]) * 1e4
        )
        assert mnist["coverage"][0]["coverage"] == 1.0
        manifest = Manifest.read(manifest_path(opts.tflite_dir / f["file"]))
        if f["model"] == "dense":
            assert manifest.calibration == {} and entry["min_confidence"] == 0.0
            continue
        assert manifest.calibration["min_confidence"] == cal["min_confidence"]
        assert manifest.calibration["temperature"] == cal["temperature"]
        probs = DigitClassifier(ModelOptions(opts.tflite_dir / f["file"])).predict(
            mnist_data.x_test.astype(np.float32) / 255.0
        )
        assert entry["ece_test_after"] == pytest.approx(
            expected_calibration_error(probs, y), abs=1e-6
        )
        assert mnist["unsure"] == int((probs.max(1) < cal["min_confidence"]).sum())
    md = (opts.report_dir / "report.md").read_text()
    assert "## Calibration and the default `--min-confidence`" in md
    assert (opts.report_dir / "coverage.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
