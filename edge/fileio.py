"""Atomic file writes: a crash or Ctrl-C never leaves a half-written model or report behind.

Every output goes to a temporary file in the destination folder and is renamed into place,
which is atomic on POSIX file systems; readers see the old file or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; rename it onto ``dest`` only if the block succeeds.

    ``suffix`` defaults to dest's own, since some writers (Keras, OpenCV) pick a format by it.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{dest.name}.", suffix=dest.suffix if suffix is None else suffix, dir=dest.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the file normal permissions
    try:
        yield tmp_path
        os.replace(tmp_path, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def atomic_write_bytes(dest: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``dest`` atomically (fsynced before the rename)."""
    with atomic_path(dest) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def atomic_write_text(dest: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``dest`` atomically."""
    atomic_write_bytes(dest, text.encode("utf-8"))


def read_file(
    path: str | os.PathLike[str], error: type[Exception], *, what: str = "file", name: str = ""
) -> bytes:
    """A whole file's bytes, or ``error`` with one line naming the file and what is wrong."""
    name = name or str(path)
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise error(f"{name}: no such {what}") from None
    except IsADirectoryError:
        raise error(f"{name}: is a folder, expected a {what}") from None
    except OSError as exc:
        raise error(f"{name}: cannot read ({exc.strerror or exc})") from None


def writable_folder(path: str | os.PathLike[str], error: type[Exception]) -> None:
    """Make the folder (and its parents) and check a file can be written in it, or raise
    ``error`` naming it: before minutes of training or converting, not after."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise error(f"{folder}: cannot write there ({exc.strerror or exc})") from None


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks so large files cost no memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def distinct_names(paths: list[str] | list[Path]) -> list[str]:
    """Each path's shortest ending (its file name, else with as many folders as it takes)
    that no other path of ``paths`` shares: the labels of a report's rows and columns.

    Why: ``eval a/lenet_int8.tflite b/lenet_int8.tflite`` labelled both rows
    ``lenet_int8.tflite``. A path given twice gets one label twice: it is the same file.
    """
    parts = [Path(p).parts for p in paths]
    names = []
    for i, own in enumerate(parts):
        others = [p for j, p in enumerate(parts) if j != i and p != own]
        k = 1
        while k < len(own) and any(p[-k:] == own[-k:] for p in others):
            k += 1
        names.append(str(Path(*own[-k:])) if own else str(paths[i]))
    return names
