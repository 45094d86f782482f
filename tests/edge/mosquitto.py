"""A private mosquitto broker for the MQTT tests and `make bench`, and a mosquitto_sub reader.

The broker listens on a free 127.0.0.1 port only, keeps its config, log and persistence file in
a folder of its own, and is stopped by its process id. Persistence is on, so a broker stopped
and started again keeps its retained messages and the queues of persistent subscribers.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

PATHS = ("/usr/sbin", "/usr/bin")


def find_tool(name: str) -> str:
    """The path of a mosquitto tool; AssertionError naming the Debian package when missing."""
    found = shutil.which(name) or shutil.which(name, path=":".join(PATHS))
    assert found, f"{name} is not installed: apt-get install mosquitto mosquitto-clients"
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, up: bool, timeout: float = 10.0) -> None:
    """Until 127.0.0.1:port accepts connections (``up``) or refuses them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.05)
    raise AssertionError(f"127.0.0.1:{port} did not come {'up' if up else 'down'} in {timeout} s")


class Mosquitto:
    """``mosquitto -c <folder>/mosquitto.conf`` on 127.0.0.1:port; ``start``/``stop`` by PID."""

    def __init__(
        self, folder: Path, config: str = "", port: int | None = None, anonymous: bool = True
    ) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.config = self.folder / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"user {getpass.getuser()}\n"  # as root it would switch to "mosquitto": no access here
            f"allow_anonymous {str(anonymous).lower()}\n"
            "persistence true\n"
            f"persistence_location {self.folder}/\n"
            "max_queued_messages 0\n"  # no limit on what waits for a persistent subscriber
            f"log_dest file {self.folder}/mosquitto.log\n" + config
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> Mosquitto:
        self.process = subprocess.Popen(
            [find_tool("mosquitto"), "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, up=True)
        return self

    def stop(self) -> None:
        """SIGTERM to our own process (it saves its persistence file), SIGKILL after 10 s."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
        wait_for_port(self.port, up=False)

    def log(self) -> str:
        path = self.folder / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextlib.contextmanager
def running(folder: Path, config: str = "") -> Iterator[Mosquitto]:
    broker = Mosquitto(folder, config).start()
    try:
        yield broker
    finally:
        broker.stop()


class Subscriber:
    """``mosquitto_sub -v`` on ``topic`` into a file, QoS 1; ``session`` names a persistent
    session (the broker keeps its messages while it is away, across a broker restart)."""

    def __init__(
        self, port: int, topic: str, out: Path, session: str | None = None, *extra: str
    ) -> None:
        self.out = out
        args = [find_tool("mosquitto_sub"), "-h", "127.0.0.1", "-p", str(port), "-q", "1"]
        args += ["-t", topic, "-v", *extra]
        if session:
            args += ["-i", session, "-c"]
        self._file = out.open("wb")
        self.process = subprocess.Popen(args, stdout=self._file, stderr=subprocess.DEVNULL)

    def lines(self) -> list[tuple[str, str]]:
        """(topic, payload) of every complete line received so far."""
        text = self.out.read_bytes().decode(errors="replace")
        return [(t, p) for t, _, p in (line.partition(" ") for line in text.split("\n")[:-1])]

    def readings(self, topic: str) -> list[dict]:
        return [json.loads(p) for t, p in self.lines() if t == topic]

    def wait(self, predicate, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.05)
        return predicate(self)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self._file.close()
