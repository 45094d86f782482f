"""The metrics on cases whose answers are known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from convert import metrics
from convert.results import DeviceResult, FileResult, drift_gate


def onehot(labels, n=10, p=0.9):
    out = np.full((len(labels), n), (1 - p) / (n - 1), dtype=np.float32)
    out[np.arange(len(labels)), labels] = p
    return out


LABELS = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9] * 10)  # 100 images, 10 per class


def test_drift_and_agreement_known_case():
    ref_pred = LABELS.copy()
    ref_pred[[0, 1]] = 9  # float model: 98 right (misses two 0/1 images)
    q_pred = ref_pred.copy()
    q_pred[[0]] = 0  # quantized fixes image 0 ...
    q_pred[[2, 3, 4]] = 5  # ... and breaks three others (a 2, a 3, a 4)
    ref, q = onehot(ref_pred), onehot(q_pred)
    assert metrics.accuracy(ref, LABELS) == pytest.approx(0.98)
    assert metrics.accuracy(q, LABELS) == pytest.approx(0.96)
    assert metrics.drift_pp(q, ref, LABELS) == pytest.approx(-2.0)
    assert metrics.agreement(q, ref) == pytest.approx(0.96)  # 4 of 100 differ
    assert metrics.disagreements(q, ref).tolist() == [0, 2, 3, 4]
    per_class = metrics.per_class_drift_pp(q, ref, LABELS)
    assert per_class[0] == pytest.approx(10.0)  # class 0: 9/10 -> 10/10
    assert per_class[2] == pytest.approx(-10.0)
    assert per_class[1] == 0.0 and per_class[9] == 0.0
    cmp = metrics.compare(q, ref, LABELS)
    assert cmp.disagreements == 4
    assert cmp.max_abs_prob_delta == pytest.approx(0.9 - 0.1 / 9)


def test_identical_predictions_have_zero_drift_full_agreement():
    p = onehot(LABELS)
    cmp = metrics.compare(p, p, LABELS)
    assert (cmp.drift_pp, cmp.agreement, cmp.max_abs_prob_delta) == (0.0, 1.0, 0.0)
    assert cmp.per_class_accuracy == [1.0] * 10


def test_per_class_accuracy_nan_for_absent_class():
    acc = metrics.per_class_accuracy(onehot([0, 1]), np.array([0, 1]))
    assert acc[:2] == [1.0, 1.0] and all(math.isnan(a) for a in acc[2:])


def test_percentiles_in_microseconds():
    p = metrics.percentiles_us(np.arange(1, 101) * 1000)  # 1..100 µs
    assert p["p50"] == pytest.approx(50.5) and p["p99"] == pytest.approx(99.01)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError):
        metrics.compare(onehot([0, 1]), onehot([0, 1, 2]), np.array([0, 1]))


def entry(name, mode, drift, device=None) -> FileResult:
    """A file result with only what the gate reads: its name, mode and drifts."""
    comparison = metrics.Comparison(0.9, 0.9, drift, 1.0, 0, 0.0, [], [])
    on_device = DeviceResult(True, True, [], device is not None, None, drift_pp=device)
    return FileResult(
        model="a", mode=mode, file=name, io_dtype="int8", sha256="", input={}, output={},
        comparison=comparison, latency_us={}, latency_reps=0, throughput_ips=0.0,
        eval_seconds=0.0, batched_vs_single={}, host_runtime="", ops=[],
        validation_choice=None, min_runtime_version=None, device=on_device,
    )  # fmt: skip


def test_drift_gate_names_exactly_the_offenders():
    files = [
        entry("a_float32.tflite", "float32", 0.5),  # float32 is the reference: never gated
        entry("a_int8.tflite", "int8", -0.06),
        entry("a_dynamic.tflite", "dynamic", 0.05),  # at the limit passes
        entry("a_float16.tflite", "float16", 0.0, device=0.2),  # fails on the device runtime
    ]
    failed = drift_gate(files, 0.05)
    assert [f.split()[0] for f in failed] == ["a_int8.tflite", "a_float16.tflite"]
    assert "-0.06 pp" in failed[0] and "tflite-runtime 2.14" in failed[1]
    assert drift_gate(files, None) == []
    assert drift_gate(files, 1.0) == []
