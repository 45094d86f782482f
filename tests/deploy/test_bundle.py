"""The Raspberry Pi bundle builder (deploy/bundle.py): contents, edge-only wheel, reproducibility.

The bundle's install on an emulated Pi is `make pi-test` (root, qemu); these are the fast checks.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import stat
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("deploy_bundle", ROOT / "deploy" / "bundle.py")
bundle = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = bundle  # dataclasses look their module up while it loads
spec.loader.exec_module(bundle)


@pytest.fixture
def fake_models(tmp_path: Path) -> list[Path]:
    """Two files with the TFLite identifier and a manifest beside the first (bytes, not models)."""
    models = []
    for name in ("lenet_int8", "lenet_float32"):
        path = tmp_path / "tflite" / f"{name}.tflite"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\0\0\0\0TFL3" + name.encode())
        models.append(path)
    (tmp_path / "tflite" / "lenet_int8.manifest.json").write_text("{}")
    return models


#: One interpreter wheel per supported Raspberry Pi OS (names as PyPI has them).
INTERPRETER_WHEELS = (
    "ai_edge_litert-2.3.0-cp313-cp313-manylinux_2_27_aarch64.whl",
    "tflite_runtime-2.14.0-cp311-cp311-manylinux_2_34_aarch64.whl",
    "tflite_runtime-2.14.0-cp311-cp311-manylinux_2_34_armv7l.whl",
)


@pytest.fixture
def fake_wheels(tmp_path: Path) -> Path:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for name in INTERPRETER_WHEELS:
        (wheels / name).write_bytes(b"w")
    (wheels / "click-8.1.7-py3-none-any.whl").write_bytes(b"c")
    return wheels


def build(models: list[Path], wheels: Path, out: Path) -> None:
    args = ["build", *[a for m in models for a in ("--model", str(m))]]
    result = CliRunner().invoke(bundle.main, [*args, "--wheels", str(wheels), "--out", str(out)])
    assert result.exit_code == 0, result.output


def test_bundle_holds_what_the_pi_needs(fake_models, fake_wheels, tmp_path):
    out = tmp_path / "b.tar.gz"
    build(fake_models, fake_wheels, out)
    with tarfile.open(out) as tar:
        names = {m.name.split("/", 1)[1] for m in tar.getmembers() if "/" in m.name}
        root = tar.getmembers()[0].name
        members = [m for m in tar.getmembers() if m.isfile()]
        files = {m.name.split("/", 1)[1]: tar.extractfile(m).read() for m in members}
        assert tar.getmember(f"{root}/install.sh").mode == 0o755
    version = bundle.project_version()
    assert root == f"digit-edge-pi-{version}"
    assert {
        "install.sh",
        "digit-edge.service",
        "digit-edge.default",
        "pi-requirements.txt",
        "VERSION",
        "SHA256SUMS",
        "models/lenet_int8.tflite",
        "models/lenet_int8.manifest.json",
        "models/lenet_float32.tflite",
        f"wheels/digit_edge-{version}-py3-none-any.whl",
        *(f"wheels/{w}" for w in INTERPRETER_WHEELS),
        "wheels/click-8.1.7-py3-none-any.whl",
    } <= names
    # The first model is the service's default; SHA256SUMS covers every other file.
    default = files["digit-edge.default"]
    assert b"DIGIT_EDGE_MODEL=/opt/digit-edge/models/lenet_int8.tflite\n" in default
    sums = dict(reversed(line.split("  ")) for line in files["SHA256SUMS"].decode().splitlines())
    assert set(sums) == set(files) - {"SHA256SUMS"}
    for name, digest in sums.items():
        assert hashlib.sha256(files[name]).hexdigest() == digest, name


def test_edge_wheel_is_edge_only_and_installable_metadata():
    name, data = bundle.build_edge_wheel("9.9.9")
    assert name == "digit_edge-9.9.9-py3-none-any.whl"
    with zipfile.ZipFile(io.BytesIO(data)) as wheel:
        names = wheel.namelist()
        meta = wheel.read("digit_edge-9.9.9.dist-info/METADATA").decode()
        entry = wheel.read("digit_edge-9.9.9.dist-info/entry_points.txt").decode()
        record = wheel.read("digit_edge-9.9.9.dist-info/RECORD").decode()
    assert "edge/cli.py" in names and "edge/__init__.py" in names
    assert "edge/web/index.html" in names  # serve's page
    assert not [n for n in names if n.startswith(("train/", "convert/", "tests/"))]
    # pip must not replace Debian's NumPy/OpenCV: the wheel does not ask for them.
    assert "numpy" not in meta.lower() and "opencv" not in meta.lower()
    assert "digit-edge = edge.cli:main" in entry
    assert len(record.splitlines()) == len(names)


def test_bundle_is_reproducible(fake_models, fake_wheels, tmp_path):
    a, b = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    build(fake_models, fake_wheels, a)
    build(fake_models, fake_wheels, b)
    assert a.read_bytes() == b.read_bytes()
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(a.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600


def test_missing_model_is_one_clear_error(fake_wheels, tmp_path):
    args = ["build", "--model", str(tmp_path / "nope.tflite"), "--wheels", str(fake_wheels)]
    result = CliRunner().invoke(bundle.main, [*args, "--out", str(tmp_path / "x.tar.gz")])
    assert result.exit_code == 1
    assert "no such model" in result.output and "make train convert" in result.output
    assert not (tmp_path / "x.tar.gz").exists()


@pytest.mark.parametrize("script", ["install.sh", "pi-host.sh", "pi-rootfs.sh", "pi-test.sh"])
def test_shell_scripts_parse(script):
    subprocess.run(["bash", "-n", str(ROOT / "deploy" / script)], check=True)


@pytest.mark.parametrize("missing", INTERPRETER_WHEELS)
def test_a_target_without_its_interpreter_wheel_is_refused(fake_models, fake_wheels, missing):
    (fake_wheels / missing).unlink()
    args = ["build", "--model", str(fake_models[0]), "--wheels", str(fake_wheels)]
    result = CliRunner().invoke(bundle.main, [*args, "--out", str(fake_wheels / "x.tar.gz")])
    assert result.exit_code == 1
    machine = missing.rsplit("_", 1)[-1].removesuffix(".whl")
    assert f"no {missing.split('-')[0]} wheel for" in result.output
    assert machine in result.output


def test_pi_requirements_pick_one_interpreter_per_python():
    """Markers evaluated per target: Python 3.11 gets tflite-runtime, 3.13 ai-edge-litert."""
    for target in bundle.TARGETS:
        names = {r.split("=")[0] for r in bundle.device_requirements(target)}
        assert names == {target.interpreter.replace("_", "-"), "click"}, target.name


def test_host_runs_the_ai_edge_litert_the_trixie_pi_installs():
    """pi-test (trixie) and the convert stage compare against the host's ai-edge-litert: it must
    be the version pi-requirements.txt gives the Pi (pyproject.toml pins both)."""
    from importlib.metadata import version

    trixie = next(t for t in bundle.TARGETS if t.interpreter == "ai_edge_litert")
    (pin,) = [r for r in bundle.device_requirements(trixie) if r.startswith("ai-edge-litert")]
    assert pin == f"ai-edge-litert=={version('ai-edge-litert')}"
