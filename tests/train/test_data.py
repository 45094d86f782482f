"""The MNIST loader on tiny files the tests write: valid ones load, broken ones fail cleanly."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from edge import mnist
from edge.errors import DataError
from train.data import ENV_VAR, resolve_data_path, split

RNG = np.random.default_rng(0)


def idx_bytes(array: np.ndarray) -> bytes:
    magic = 0x0803 if array.ndim == 3 else 0x0801
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()


def tiny(n_train: int = 30, n_test: int = 10) -> dict[str, np.ndarray]:
    return {
        "x_train": RNG.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": RNG.integers(0, 10, n_train).astype(np.uint8),
        "x_test": RNG.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": RNG.integers(0, 10, n_test).astype(np.uint8),
    }


def write_idx_folder(folder: Path, arrays: dict[str, np.ndarray], gz: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split_name, (img, lbl) in mnist.IDX_NAMES.items():
        for stem, key in ((img, f"x_{split_name}"), (lbl, f"y_{split_name}")):
            raw = idx_bytes(arrays[key])
            if gz:
                (folder / f"{stem}.gz").write_bytes(gzip.compress(raw))
            else:
                (folder / stem).write_bytes(raw)
    return folder


@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder_round_trips(tmp_path, gz):
    arrays = tiny()
    data = mnist.load(write_idx_folder(tmp_path / "idx", arrays, gz), canonical_sizes=False)
    for key, value in arrays.items():
        np.testing.assert_array_equal(getattr(data, key), value)
    assert len(data.sha256) == 4 and not data.verified


def test_npz_round_trips(tmp_path):
    arrays = tiny()
    np.savez(tmp_path / "mnist.npz", **arrays)
    data = mnist.load(tmp_path / "mnist.npz", canonical_sizes=False)
    np.testing.assert_array_equal(data.y_test, arrays["y_test"])


def test_subset_sizes_are_refused_unless_allowed(tmp_path):
    np.savez(tmp_path / "mnist.npz", **tiny())
    with pytest.raises(DataError, match=r"30 images, MNIST has 60000.*--any-size"):
        mnist.load(tmp_path / "mnist.npz")


def test_missing_path(tmp_path):
    with pytest.raises(DataError, match=r"nope\.npz: no such file"):
        mnist.load(tmp_path / "nope.npz")


def test_truncated_gz(tmp_path):
    folder = write_idx_folder(tmp_path / "idx", tiny())
    target = folder / "t10k-images-idx3-ubyte.gz"
    target.write_bytes(target.read_bytes()[:-20])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz: truncated gzip"):
        mnist.load(folder, canonical_sizes=False)


def test_wrong_magic_number(tmp_path):
    folder = write_idx_folder(tmp_path / "idx", tiny(), gz=False)
    target = folder / "train-labels-idx1-ubyte"
    target.write_bytes(b"\x00\x00\x08\x03" + target.read_bytes()[4:])
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte: IDX magic number 0x00000803"):
        mnist.load(folder, canonical_sizes=False)


def test_label_count_mismatch(tmp_path):
    arrays = tiny()
    arrays["y_test"] = arrays["y_test"][:7]
    folder = write_idx_folder(tmp_path / "idx", arrays)
    with pytest.raises(
        DataError, match=r"t10k-labels-idx1-ubyte\.gz: 7 labels but .* has 10 images"
    ):
        mnist.load(folder, canonical_sizes=False)


def test_header_promising_more_than_the_file_holds(tmp_path):
    folder = write_idx_folder(tmp_path / "idx", tiny(), gz=False)
    target = folder / "train-images-idx3-ubyte"
    target.write_bytes(target.read_bytes()[:-100])
    with pytest.raises(DataError, match="header promises 23520 bytes"):
        mnist.load(folder, canonical_sizes=False)


def test_bad_npz_contents(tmp_path):
    arrays = tiny()
    arrays["y_train"] = arrays["y_train"] + 5  # labels up to 14
    np.savez(tmp_path / "a.npz", **arrays)
    with pytest.raises(DataError, match=r"labels span \d+\.\.1[0-4], expected 0\.\.9"):
        mnist.load(tmp_path / "a.npz", canonical_sizes=False)
    del arrays["x_test"]
    np.savez(tmp_path / "b.npz", **arrays)
    with pytest.raises(DataError, match=r"missing arrays \['x_test'\]"):
        mnist.load(tmp_path / "b.npz", canonical_sizes=False)
    (tmp_path / "c.npz").write_text("not a zip")
    with pytest.raises(DataError, match=r"c\.npz: not a readable \.npz"):
        mnist.load(tmp_path / "c.npz", canonical_sizes=False)


def test_path_resolution_order(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    assert resolve_data_path(tmp_path / "opt") == tmp_path / "opt"
    assert resolve_data_path(None) == tmp_path / "env"


def test_real_mnist_passes_the_published_checks(mnist_data):
    assert mnist_data.verified
    assert mnist_data.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert mnist_data.y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(mnist_data.y_test).tolist() == [
        980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009,
    ]  # fmt: skip
    assert mnist_data.x_train.mean() == pytest.approx(33.3184, abs=1e-4)
    assert mnist_data.x_train.std() == pytest.approx(78.5675, abs=1e-4)


def test_validation_split_comes_from_training_only(mnist_data):
    s = split(mnist_data)
    assert (len(s.x_train), len(s.x_val), len(s.x_test)) == (55_000, 5_000, 10_000)
    np.testing.assert_array_equal(s.y_val, mnist_data.y_train[-5000:])
    assert s.x_train.dtype == np.float32 and s.x_train.min() >= 0.0 and s.x_train.max() <= 1.0
