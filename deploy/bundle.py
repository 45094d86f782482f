"""Build what a user copies to a Raspberry Pi: one ``.tar.gz`` with the edge package, the models,
the install script and the systemd unit (and, for offline installs, the interpreter's wheels).

    python deploy/bundle.py wheels --out build/wheels
    python deploy/bundle.py build --model artifacts/tflite/edgenet_int8.tflite ... \\
        --wheels build/wheels --out build/bundle/digit-edge-pi.tar.gz

Runs with the host's Python and no network except ``wheels`` (pip download from PyPI). The edge
package goes in as a wheel built here with ``zipfile``: only ``edge/`` and the ``digit-edge``
command, since ``train`` and ``convert`` need TensorFlow and have no place on the device. The
archive is reproducible: sorted entries, fixed timestamps and owners.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import click
from packaging.requirements import Requirement

from edge.fileio import atomic_path

DEPLOY = Path(__file__).resolve().parent
REPO = DEPLOY.parent
BUNDLE_NAME = "digit-edge-pi"
#: 2020-01-01: a fixed date for every archive entry, so the same inputs give the same bytes.
EPOCH = int(os.environ.get("SOURCE_DATE_EPOCH", "1577836800"))
#: What the device pip-installs besides the edge wheel (NumPy and OpenCV come from Debian).
DEVICE_REQUIREMENTS = DEPLOY / "pi-requirements.txt"


@dataclass(frozen=True)
class Target:
    """One Raspberry Pi OS the bundle installs on: its Python, wheel platform tags and the
    interpreter wheel (by file-name prefix) that ``pi-requirements.txt`` picks for that Python."""

    name: str
    python: str
    platforms: tuple[str, ...]
    interpreter: str


#: Every supported Raspberry Pi OS; `wheels` fetches and `build` requires each one's wheels.
#: 32-bit trixie is absent: no interpreter has an armv7l wheel for Python 3.13 (install.sh says so).
TARGETS: tuple[Target, ...] = (
    Target("trixie-aarch64", "3.13",
           ("manylinux_2_34_aarch64", "manylinux_2_28_aarch64", "manylinux_2_27_aarch64",
            "manylinux_2_17_aarch64"), "ai_edge_litert"),
    Target("bookworm-aarch64", "3.11",
           ("manylinux_2_34_aarch64", "manylinux_2_28_aarch64", "manylinux_2_17_aarch64"),
           "tflite_runtime"),
    Target("bookworm-armv7l", "3.11",
           ("manylinux_2_34_armv7l", "manylinux_2_31_armv7l", "linux_armv7l"), "tflite_runtime"),
)  # fmt: skip
TARGET_NAMES = tuple(t.name for t in TARGETS)
#: Files from deploy/ that go into the bundle as they are, with their modes.
SHIPPED = {
    "install.sh": 0o755,
    "digit-edge.service": 0o644,
    "digit-edge.default": 0o644,
    "pi-requirements.txt": 0o644,
}


class BundleError(click.ClickException):
    """A one-line error the CLI prints as ``Error: ...`` and exits 1."""


def project_version() -> str:
    text = (REPO / "edge" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    if not match:
        raise BundleError("edge/__init__.py has no __version__")
    return match.group(1)


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


def edge_wheel_files(version: str) -> dict[str, bytes]:
    """The files of a pure-Python wheel holding ``edge/`` and the ``digit-edge`` command."""
    files: dict[str, bytes] = {}
    # The Python modules, and serve's page (edge/web/, package data in pyproject.toml).
    edge_files = [*(REPO / "edge").rglob("*.py"), *(REPO / "edge" / "web").glob("*.html")]
    for path in sorted(edge_files):
        files[path.relative_to(REPO).as_posix()] = path.read_bytes()
    if "edge/cli.py" not in files:
        raise BundleError("edge/cli.py does not exist yet: the bundle needs the digit-edge CLI")
    info = f"digit_edge-{version}.dist-info"
    files[f"{info}/METADATA"] = (
        "Metadata-Version: 2.1\n"
        "Name: digit-edge\n"
        f"Version: {version}\n"
        "Summary: digit-edge device runtime (Raspberry Pi bundle)\n"
        "License: Apache-2.0\n"
        "Requires-Python: >=3.10\n"
        # NumPy and OpenCV come from Debian (python3-numpy, python3-opencv), which pip does not
        # see as distributions: listing them here would make pip fetch PyPI's over Debian's.
        "Requires-Dist: click>=8.1\n"
    ).encode()
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: digit-edge deploy/bundle.py\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n"
    )
    files[f"{info}/entry_points.txt"] = b"[console_scripts]\ndigit-edge = edge.cli:main\n"
    files[f"{info}/top_level.txt"] = b"edge\n"
    record = [f"{name},{_record_hash(data)},{len(data)}" for name, data in files.items()]
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    return files


def build_edge_wheel(version: str) -> tuple[str, bytes]:
    """Return (file name, bytes) of the edge wheel, reproducible for the same sources."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in edge_wheel_files(version).items():
            entry = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(entry, data)
    return f"digit_edge-{version}-py3-none-any.whl", buffer.getvalue()


@dataclass(frozen=True)
class Entry:
    """One file in the bundle: its path inside the archive, its bytes and its mode."""

    name: str
    data: bytes
    mode: int = 0o644


def model_entries(models: Iterable[Path]) -> list[Entry]:
    entries = []
    for model in models:
        if model.suffix != ".tflite":
            raise BundleError(f"{model}: expected a .tflite file")
        if not model.is_file():
            raise BundleError(f"{model}: no such model (run `make train convert` first)")
        entries.append(Entry(f"models/{model.name}", model.read_bytes()))
        manifest = model.with_name(model.stem + ".manifest.json")
        if manifest.is_file():
            entries.append(Entry(f"models/{manifest.name}", manifest.read_bytes()))
        else:
            click.echo(
                f"warning: {model} has no manifest; it will run with MNIST defaults", err=True
            )
    return entries


def target_wheel(target: Target, name: str) -> bool:
    """Is ``name`` the interpreter wheel for ``target`` (its Python and machine)?"""
    abi = "cp" + target.python.replace(".", "")
    machine = target.platforms[0].rsplit("_", 1)[-1]
    return (
        name.startswith(target.interpreter + "-")
        and f"-{abi}-" in name
        and name.endswith(f"{machine}.whl")
    )


def device_requirements(target: Target) -> list[str]:
    """pi-requirements.txt's lines that apply on ``target``, markers evaluated for its Python
    (``pip download --python-version`` evaluates them for the host's Python instead)."""
    env = {"python_version": target.python, "python_full_version": f"{target.python}.0"}
    lines = DEVICE_REQUIREMENTS.read_text(encoding="utf-8").splitlines()
    reqs = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    return [f"{r.name}{r.specifier}" for r in reqs if r.marker is None or r.marker.evaluate(env)]


def wheel_entries(wheels: Path | None) -> list[Entry]:
    if wheels is None:
        return []
    found = sorted(wheels.glob("*.whl"))
    for target in TARGETS:
        if not any(target_wheel(target, w.name) for w in found):
            raise BundleError(
                f"{wheels}: no {target.interpreter} wheel for {target.name} "
                "(run `bundle.py wheels` first)"
            )
    return [Entry(f"wheels/{w.name}", w.read_bytes()) for w in found]


def default_config(default_model: str) -> bytes:
    text = (DEPLOY / "digit-edge.default").read_text(encoding="utf-8")
    text, count = re.subn(
        r"^DIGIT_EDGE_MODEL=.*$",
        f"DIGIT_EDGE_MODEL=/opt/digit-edge/models/{default_model}",
        text,
        flags=re.MULTILINE,
    )
    if count != 1:
        raise BundleError("deploy/digit-edge.default has no DIGIT_EDGE_MODEL= line")
    return text.encode()


def write_bundle(out: Path, root: str, entries: list[Entry]) -> None:
    """Write a reproducible .tar.gz atomically (edge.fileio.atomic_path: temporary file beside
    ``out``, fsynced, then renamed, with ordinary permissions)."""
    with atomic_path(out) as tmp, open(tmp, "wb") as raw:
        gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=EPOCH)
        with gz, tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            folders = sorted({str(Path(e.name).parent) for e in entries} - {"."})
            for name in ["", *folders]:
                info = tarfile.TarInfo(f"{root}/{name}".rstrip("/"))
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, EPOCH
                tar.addfile(info)
            for entry in sorted(entries, key=lambda e: e.name):
                info = tarfile.TarInfo(f"{root}/{entry.name}")
                info.size, info.mode, info.mtime = len(entry.data), entry.mode, EPOCH
                tar.addfile(info, io.BytesIO(entry.data))
        raw.flush()
        os.fsync(raw.fileno())


def sha256sums(entries: list[Entry]) -> bytes:
    lines = [f"{hashlib.sha256(e.data).hexdigest()}  {e.name}" for e in entries]
    return ("\n".join(sorted(lines, key=lambda s: s[66:])) + "\n").encode()


@click.group()
def main() -> None:
    """Build the Raspberry Pi deploy bundle."""


@main.command()
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), default=Path("build/wheels")
)
@click.option(
    "--target",
    "targets",
    type=click.Choice(TARGET_NAMES),
    multiple=True,
    default=TARGET_NAMES,
    show_default=True,
    help="Raspberry Pi OS releases and architectures to fetch wheels for (repeatable).",
)
def wheels(out: Path, targets: tuple[str, ...]) -> None:
    """Download the device's wheels (the interpreter for each target, click) for offline
    installs. Wheels already in ``out`` are removed first: the bundle ships all it finds, and
    a changed pin must not leave the old version beside the new one."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.whl"):
        old.unlink()
    for target in (t for t in TARGETS if t.name in targets):
        tags = [arg for tag in (*target.platforms, "any") for arg in ("--platform", tag)]
        cmd = [
            sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
            "--only-binary=:all:", "--no-deps", "--python-version", target.python,
            "--implementation", "cp", *tags, "-d", str(out), *device_requirements(target),
        ]  # fmt: skip
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise BundleError(f"pip download for {target.name} failed: {last}")
    names = sorted(p.name for p in out.glob("*.whl"))
    click.echo(f"{out}: {', '.join(names)}")


@main.command()
@click.option(
    "--model",
    "models",
    type=click.Path(dir_okay=False, path_type=Path),
    multiple=True,
    required=True,
    help="A .tflite to ship (repeatable); its manifest goes with it. The first is the default.",
)
@click.option(
    "--wheels",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of device wheels (from `wheels`) to ship for offline installs.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("build/bundle/digit-edge-pi.tar.gz"),
    show_default=True,
)
def build(models: tuple[Path, ...], wheels: Path | None, out: Path) -> None:
    """Write the bundle archive."""
    version = project_version()
    wheel_name, wheel_bytes = build_edge_wheel(version)
    entries = [Entry(f"wheels/{wheel_name}", wheel_bytes)]
    entries += wheel_entries(wheels)
    entries += model_entries(models)
    for name, mode in SHIPPED.items():
        data = (DEPLOY / name).read_bytes()
        if name == "digit-edge.default":
            data = default_config(models[0].name)
        entries.append(Entry(name, data, mode))
    entries.append(Entry("VERSION", f"{version}\n".encode()))
    entries.append(Entry("SHA256SUMS", sha256sums(entries)))
    write_bundle(out, f"{BUNDLE_NAME}-{version}", entries)
    size = out.stat().st_size / 1e6
    click.echo(f"{out}: {len(entries)} files, {size:.1f} MB, root {BUNDLE_NAME}-{version}/")


if __name__ == "__main__":
    main()
