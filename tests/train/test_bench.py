"""The training bench's arithmetic: times as plain epochs, accuracy over seeds (no training)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from train import bench


def _fake_run(console, names, data, seeds):
    return {
        "_plain_epoch_seconds": [5.0, 7.0],
        "lenet": [
            {"seed": s, "seconds": 60.0 + s, "test_accuracy": 0.99 + s / 1000, "val_accuracy": 0.0,
             "best_epoch": 1}
            for s in seeds
        ],
    }  # fmt: skip


def test_bench_reports_times_in_plain_epochs_measured_in_the_same_run(monkeypatch):
    monkeypatch.setattr(bench, "_run", _fake_run)
    result = CliRunner().invoke(bench.main, ["-m", "lenet", "--seeds", "0,2", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["plain_epoch_seconds"] == 6.0  # the median of before and after
    lenet = doc["summary"]["lenet"]
    assert lenet["median_seconds"] == 61.0 and lenet["plain_epochs"] == 61.0 / 6.0
    assert round(lenet["spread_pp"], 6) == 0.2 and round(lenet["mean"], 6) == 99.1
    assert "_plain_epoch_seconds" not in doc["summary"]


def test_bench_table_names_the_plain_epoch(monkeypatch):
    monkeypatch.setattr(bench, "_run", _fake_run)
    result = CliRunner().invoke(bench.main, ["-m", "lenet", "--seeds", "0"])
    assert result.exit_code == 0, result.output
    assert "one plain tutorial epoch: 6.0 s" in result.output
    assert "10.0" in result.output  # 60 s / 6 s
