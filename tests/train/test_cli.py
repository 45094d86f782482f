"""digit-train's command line: clean one-line errors, listing, and a real (tiny) run."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

from train.cli import main


def test_missing_data_path_is_one_line_and_non_zero(tmp_path):
    result = CliRunner().invoke(main, ["--data", str(tmp_path / "missing.npz")])
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"digit-train: error: {tmp_path / 'missing.npz'}: no such file or directory"
    )


def test_unknown_model_is_refused():
    result = CliRunner().invoke(main, ["-m", "resnet"])
    assert result.exit_code == 2 and "'resnet' is not one of" in result.output


def test_corrupt_idx_reports_the_file_without_traceback(tmp_path):
    folder = tmp_path / "idx"
    folder.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):  # fmt: skip
        (folder / name).write_bytes(b"\x00\x00\x09\x99" + bytes(20))
    proc = subprocess.run(
        [sys.executable, "-m", "train", "--data", str(folder)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().endswith(
        "IDX magic number 0x00000999, expected 0x00000803 (images, unsigned bytes)"
    )


def test_list_shows_the_registry():
    result = CliRunner().invoke(main, ["--list"])
    assert result.exit_code == 0
    assert "6,526" in result.output and "101,770" in result.output


def _small_mnist(tmp_path, mnist_data, train: int) -> str:
    """The first ``train`` training and 500 test images as an mnist.npz (``--any-size``)."""
    path = tmp_path / "small.npz"
    np.savez(
        path,
        x_train=mnist_data.x_train[:train],
        y_train=mnist_data.y_train[:train],
        x_test=mnist_data.x_test[:500],
        y_test=mnist_data.y_test[:500],
    )
    return str(path)


def test_tiny_run_writes_artifacts_and_json(tmp_path, mnist_data):
    data = _small_mnist(tmp_path, mnist_data, 6000)
    args = f"--data {data} --any-size -m dense --epochs 2 --json"
    result = CliRunner().invoke(main, [*args.split(), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    (row,) = summary["models"]
    assert row["model"] == "dense" and row["params"] == 101_770 and row["test_accuracy"] > 0.85
    assert (tmp_path / "out" / "models" / "dense.keras").is_file()


def test_small_shared_memory_trains_anyway_and_says_why(tmp_path, mnist_data, monkeypatch):
    """As in a Docker container's 64 MB /dev/shm: edgenet's epochs are made on a thread."""
    import train.epoch_data

    monkeypatch.setattr(train.epoch_data, "shared_memory_free", lambda: 64 << 20)
    monkeypatch.setattr(train.epoch_data, "usable_cores", lambda: 2)
    data = _small_mnist(tmp_path, mnist_data, 12000)  # 7,000 + 4,000 printed: 69 MB for two
    args = f"--data {data} --any-size -m edgenet --epochs 2"
    result = CliRunner().invoke(main, [*args.split(), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "digit-train: note: shared memory (/dev/shm) has 64 MB free" in result.stderr
    assert (tmp_path / "out" / "models" / "edgenet.keras").is_file()


def test_notices_are_kept_for_the_end_and_other_warnings_pass_on():
    from train.cli import notices_kept
    from train.epoch_data import TrainingNotice

    with pytest.warns(UserWarning, match="from a library") as passed_on, notices_kept() as notices:
        warnings.warn("made on a thread", TrainingNotice, stacklevel=1)
        warnings.warn("from a library", UserWarning, stacklevel=1)
        warnings.warn("fonts missing", TrainingNotice, stacklevel=1)
        warnings.warn("made on a thread", TrainingNotice, stacklevel=1)  # a second model's
    assert notices == ["made on a thread", "fonts missing"]
    assert [str(w.message) for w in passed_on] == ["from a library"]


def test_without_the_host_packages_both_commands_say_so_in_one_line(monkeypatch):
    """As in the device's venv, which installs every console script: no traceback."""
    import train.host
    from convert.cli import main as convert_main

    monkeypatch.setattr(train.host, "HOST_MODULES", ("tensorflow", "no_such_module_here"))
    for command, entry in (("digit-train", main), ("digit-convert", convert_main)):
        result = CliRunner().invoke(entry, [])
        assert result.exit_code == 2
        assert result.output.strip() == (
            f"{command}: error: needs the host environment (pip install '.[train]'; "
            "`make setup` makes .venv): no_such_module_here not installed"
        )
    assert CliRunner().invoke(main, ["--list"]).exit_code == 0  # needs no host package


def test_an_output_folder_that_cannot_be_written_is_one_line_before_training(tmp_path):
    """Before, digit-train trained first and then died in a traceback (exit 1) at saving."""
    (tmp_path / "models").write_text("a file where the models folder goes")
    result = CliRunner().invoke(main, ["-m", "lenet", "--artifacts", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        f"digit-train: error: {tmp_path / 'models'}: cannot write there (File exists)"
    )
