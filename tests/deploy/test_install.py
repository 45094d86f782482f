"""install.sh's choice of interpreter, on the targets `make pi-test` cannot emulate.

The installs themselves run on emulated Raspberry Pi OS trixie and bookworm in `make pi-test`;
here the script runs up to its choice with `python3` and `dpkg` answering as another Pi would
(commands on PATH that print what the real ones print there), in a bundle folder of its own.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def fake_pi(
    tmp_path: Path, python: str, arch: str, machine: str = "aarch64"
) -> tuple[Path, dict[str, str]]:
    """A bundle folder holding install.sh, and an environment whose python3, dpkg, uname and id
    answer as a Pi with that Python, userland architecture and CPU, run by root."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    shutil.copy(ROOT / "deploy" / "install.sh", bundle / "install.sh")
    (bundle / "VERSION").write_text("0.0.0\n")
    digest = hashlib.sha256(b"0.0.0\n").hexdigest()
    (bundle / "SHA256SUMS").write_text(f"{digest}  VERSION\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stubs = {
        "python3": f"echo {python}",
        "dpkg": f'[ "$1" = --print-architecture ] && echo {arch}',
        "id": "echo 0",
        "uname": f"echo {machine}",
        "dpkg-query": "exit 1",  # no Debian package installed: --offline stops at step 1
        "apt-get": "echo apt-get must not run >&2; exit 9",
    }
    for name, body in stubs.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return bundle, env


@pytest.mark.parametrize(
    ("python", "arch", "says"),
    [
        ("3.13", "armhf", "no TFLite interpreter exists for 32-bit"),
        ("3.12", "arm64", "no supported interpreter for"),
        ("3.11", "i386", "no supported interpreter for"),
    ],
)
def test_no_interpreter_is_one_clear_line_before_anything_is_installed(
    tmp_path, python, arch, says
):
    bundle, env = fake_pi(tmp_path, python, arch)
    run = subprocess.run(
        ["bash", str(bundle / "install.sh"), "--offline"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"install: error: {says}")
    assert f"Python {python}" in lines[0] or python in lines[0]
    if arch == "armhf":
        assert "Raspberry Pi OS (64-bit)" in lines[0]
    assert run.stdout == ""  # refused before any apt, venv or pip step


@pytest.mark.parametrize(
    ("python", "arch", "runtime"),
    [
        ("3.13", "arm64", "ai-edge-litert"),  # trixie 64-bit
        ("3.11", "arm64", "tflite-runtime"),  # bookworm 64-bit
        ("3.11", "armhf", "tflite-runtime"),  # bookworm 32-bit
    ],
)
def test_each_supported_pi_gets_its_interpreter(tmp_path, python, arch, runtime):
    bundle, env = fake_pi(tmp_path, python, arch)
    run = subprocess.run(
        ["bash", str(bundle / "install.sh"), "--offline"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert run.stdout.splitlines()[0].endswith(f", Python {python}, {arch}: {runtime}")
    assert "offline install needs these Debian packages first" in run.stderr


def test_an_armv6_board_is_told_which_pis_work(tmp_path):
    """A Pi Zero, Zero W or Pi 1 runs 32-bit Raspberry Pi OS (armhf, Python 3.11) like a Pi 4
    does, but pip finds no tflite-runtime wheel for ARMv6: one line before anything runs."""
    bundle, env = fake_pi(tmp_path, "3.11", "armhf", machine="armv6l")
    run = subprocess.run(
        ["bash", str(bundle / "install.sh"), "--offline"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr.strip().splitlines() == [
        "install: error: this is an ARMv6 board (Pi Zero, Zero W or Pi 1): no TFLite interpreter "
        "is built for it; use a Pi Zero 2 W, Pi 2 or later"
    ]
