"""The UCI handwritten digits as scans and photos (scikit-learn's copy, host/dev installs only)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from edge import uci
from edge.cli import cli
from edge.normalize import normalize
from tests import model_zoo

pytestmark = pytest.mark.skipif(not uci.available(), reason="scikit-learn is not installed")


def test_load_is_the_1797_digits_as_coverage():
    images, labels = uci.load()
    assert images.shape == (1797, 8, 8) and images.dtype == np.float32
    assert images.min() == 0.0 and images.max() == 1.0
    assert np.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_scans_are_dark_ink_on_paper_and_normalise_like_mnist():
    samples = list(uci.scan_set(50))
    assert [s.label for s in samples] == uci.load()[1][:50].tolist()
    scan = samples[0].image
    size = uci.SCAN_HEIGHT + 2 * round(uci.SCAN_MARGIN * uci.SCAN_HEIGHT)
    assert scan.shape == (size, size) and scan.dtype == np.uint8
    assert scan[0, 0] == 240 and scan.min() < 80  # white paper, dark ink
    for s in samples:
        result = normalize(s.image)
        assert result.found and result.inverted
        ys, xs = np.nonzero(result.image > 0.2)
        assert max(ys.max() - ys.min(), xs.max() - xs.min()) + 1 in range(17, 22)


def test_photos_are_reproducible_camera_frames():
    a = [s.image for s in uci.photo_set(3, seed=1)]
    b = [s.image for s in uci.photo_set(3, seed=1)]
    assert all(x.shape in ((240, 320, 3), (480, 640, 3)) for x in a)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_eval_reports_uci_beside_the_synthetic_sets(test_models, mnist_path, monkeypatch):
    monkeypatch.delenv("DIGIT_EDGE_USPS", raising=False)  # its set: tests/edge/test_usps.py
    monkeypatch.delenv("DIGIT_EDGE_OPTDIGITS", raising=False)  # tests/edge/test_optdigits.py
    model = test_models / model_zoo.file_name("lenet", "int8")
    out = CliRunner().invoke(
        cli,
        ["eval", str(model), "--data", str(mnist_path), "--limit", "200", "--photos", "40",
         "--min-confidence", "0.9", "--json"],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    sets = {r["set"]: r for r in report["photos"]}
    assert set(sets) == {"photos", "pages", "fonts", "screens", "uci-scans", "uci-photos"}
    assert sets["screens"]["normalized"] > 0.6  # drawn digits read like written ones
    assert sets["pages"]["normalized"] > 0.6  # lines, specks and the desk are not the digit
    assert sets["uci-scans"]["count"] == 40
    assert sets["uci-scans"]["normalized"] > 0.6  # a real model reads most of them
    u = sets["uci-scans"]["with_min_confidence"]
    assert u["wrong"] <= u["wrong_without"] and u["min_confidence"] == 0.9
    assert report["models"][0]["with_min_confidence"]["count"] == 200
