"""Read MNIST from a Keras ``mnist.npz`` or the four original IDX files, and check what was read.

Numpy only, so the device can evaluate models on MNIST too (``digit-edge eval``). Every problem
raises :class:`DataError` with the file and what is wrong: a missing path, a truncated ``.gz``,
a wrong IDX magic number, a label count that does not match the image count.
"""

from __future__ import annotations

import gzip
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.errors import DataError
from edge.fileio import read_file, sha256_file

#: Where the stages and the tests look for MNIST when no path is given: $DIGIT_EDGE_DATA, then
#: the offline copy beside the checkout.
ENV_VAR = "DIGIT_EDGE_DATA"
OFFLINE_COPY = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "mnist"

IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10
CANONICAL_SIZES = {"train": 60_000, "test": 10_000}

#: IDX file stems, per split, as LeCun published them.
IDX_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_MAGIC = {3: 0x00000803, 1: 0x00000801}  # unsigned bytes, 3-d images / 1-d labels

#: sha256 of files known to hold the canonical MNIST: a match is recorded as verified.
KNOWN_SHA256 = {
    "06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64": "mnist.npz",
    "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1": "mnist.npz (keras)",
    "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609": "train-images-idx3-ubyte.gz",  # noqa: E501
    "71524e2cd1ad2968737f7f2f2ff69cbfc32df8ccddff51593f7cb2d4e0eb5b64": "train-images-idx3-ubyte.gz",  # noqa: E501
    "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c": "train-labels-idx1-ubyte.gz",  # noqa: E501
    "fe03b8bd7915f70bf5aa08be480aa413fbd85afcaa58b35d230d335f284fd88e": "train-labels-idx1-ubyte.gz",  # noqa: E501
    "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6": "t10k-images-idx3-ubyte.gz",
    "5634745efa576a17e7d4cf5cd9d09123c75e6538e5114267c2d156edaf519341": "t10k-images-idx3-ubyte.gz",
    "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6": "t10k-labels-idx1-ubyte.gz",
    "ae18e77e031ccde52407f794d123116439864147d33ac992975f85dd4dc42af6": "t10k-labels-idx1-ubyte.gz",
}


def resolve_data_path(option: str | os.PathLike[str] | None = None) -> Path | None:
    """The path to read MNIST from: ``option``, $DIGIT_EDGE_DATA, the offline copy; else None."""
    if option:
        return Path(option).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    if OFFLINE_COPY.exists():
        return OFFLINE_COPY
    return None


@dataclass(frozen=True)
class Mnist:
    """The four arrays, plus where they came from, for provenance in metrics and reports."""

    x_train: np.ndarray  # uint8 (N, 28, 28), white digit on black
    y_train: np.ndarray  # uint8 (N,)
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    sha256: dict[str, str]  # file name -> sha256 of the bytes read

    @property
    def verified(self) -> bool:
        """True when every file read is byte-identical to a known canonical MNIST file."""
        return bool(self.sha256) and all(h in KNOWN_SHA256 for h in self.sha256.values())


def load(path: str | os.PathLike[str], *, canonical_sizes: bool = True) -> Mnist:
    """Load MNIST from an ``.npz`` file or a folder of IDX files (``.gz`` or not), validated."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"{p}: no such file or directory")
    data = _load_folder(p) if p.is_dir() else _load_npz(p)
    validate(data, canonical_sizes=canonical_sizes)
    return data


def validate(data: Mnist, *, canonical_sizes: bool = True) -> None:
    """Check shapes, dtypes, label range and (optionally) the canonical 60,000/10,000 sizes."""
    for split, x, y in (("train", data.x_train, data.y_train), ("test", data.x_test, data.y_test)):
        where = f"{data.source} ({split})"
        if x.ndim != 3 or x.shape[1:] != IMAGE_SHAPE:
            raise DataError(f"{where}: images have shape {x.shape}, expected (N, 28, 28)")
        if x.dtype != np.uint8:
            raise DataError(f"{where}: images are {x.dtype}, expected uint8 pixels 0-255")
        if y.ndim != 1:
            raise DataError(f"{where}: labels have shape {y.shape}, expected (N,)")
        if len(x) != len(y):
            raise DataError(f"{where}: {len(y)} labels for {len(x)} images")
        if len(y) == 0:
            raise DataError(f"{where}: no images")
        if y.min() < 0 or y.max() >= NUM_CLASSES:
            raise DataError(f"{where}: labels span {y.min()}..{y.max()}, expected 0..9")
        if canonical_sizes and len(y) != CANONICAL_SIZES[split]:
            raise DataError(
                f"{where}: {len(y)} images, MNIST has {CANONICAL_SIZES[split]} "
                "(pass --any-size to accept a subset)"
            )


def _load_npz(path: Path) -> Mnist:
    if not zipfile.is_zipfile(path):  # else NumPy tries it as a pickle and says so
        raise DataError(f"{path}: not a readable .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = {"x_train", "y_train", "x_test", "y_test"} - set(npz.files)
            if missing:
                raise DataError(
                    f"{path}: missing arrays {sorted(missing)} (Keras mnist.npz layout)"
                )
            arrays = {k: np.asarray(npz[k]) for k in ("x_train", "y_train", "x_test", "y_test")}
    except DataError:
        raise
    except Exception as exc:  # OSError, ValueError, zlib.error, zipfile.BadZipFile and friends
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None
    arrays["y_train"] = _as_labels(arrays["y_train"], path)
    arrays["y_test"] = _as_labels(arrays["y_test"], path)
    return Mnist(**arrays, source=str(path), sha256={path.name: sha256_file(path)})


def _as_labels(y: np.ndarray, path: Path) -> np.ndarray:
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{path}: labels are {y.dtype}, expected integers 0-9")
    if y.size and (y.min() < 0 or y.max() > 255):
        raise DataError(f"{path}: labels span {y.min()}..{y.max()}, expected 0..9")
    return y.astype(np.uint8)


def _find_idx(folder: Path, stem: str) -> Path:
    for name in (
        stem + ".gz",
        stem,
        stem.replace("-idx", ".idx") + ".gz",
        stem.replace("-idx", ".idx"),
    ):
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"{folder}: no {stem}[.gz] in this folder (expected the four MNIST IDX files)")


def _load_folder(folder: Path) -> Mnist:
    npz = folder / "mnist.npz"
    if npz.is_file() and not any(
        (folder / (IDX_NAMES["train"][0] + s)).exists() for s in ("", ".gz")
    ):
        return _load_npz(npz)
    arrays: dict[str, np.ndarray] = {}
    hashes: dict[str, str] = {}
    for split, (img_stem, lbl_stem) in IDX_NAMES.items():
        img_path, lbl_path = _find_idx(folder, img_stem), _find_idx(folder, lbl_stem)
        x, y = read_idx(img_path, ndim=3), read_idx(lbl_path, ndim=1)
        if len(x) != len(y):
            raise DataError(f"{lbl_path}: {len(y)} labels but {img_path.name} has {len(x)} images")
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y
        hashes[img_path.name], hashes[lbl_path.name] = sha256_file(img_path), sha256_file(lbl_path)
    return Mnist(**arrays, source=str(folder), sha256=hashes)


def read_idx(path: str | os.PathLike[str], *, ndim: int) -> np.ndarray:
    """Read one IDX file of unsigned bytes with ``ndim`` dimensions (gzip detected by magic)."""
    path = Path(path)
    raw = read_file(path, DataError)
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except EOFError:
        raise DataError(f"{path}: truncated gzip stream (file is incomplete)") from None
    except (OSError, zlib.error) as exc:
        raise DataError(f"{path}: not a valid gzip file ({exc})") from None
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise DataError(f"{path}: {len(raw)} bytes is too short for an IDX header")
    (magic,) = struct.unpack(">I", raw[:4])
    if magic != _IDX_MAGIC[ndim]:
        raise DataError(
            f"{path}: IDX magic number 0x{magic:08x}, expected 0x{_IDX_MAGIC[ndim]:08x} "
            f"({'images' if ndim == 3 else 'labels'}, unsigned bytes)"
        )
    dims = struct.unpack(f">{ndim}I", raw[4:header_len])
    expected = int(np.prod(dims))
    body = np.frombuffer(raw, dtype=np.uint8, offset=header_len)
    if body.size != expected:
        raise DataError(f"{path}: header promises {expected} bytes of data, file holds {body.size}")
    return body.reshape(dims).copy()
