"""Readings to MQTT, against a real mosquitto on 127.0.0.1 (tests/edge/mosquitto.py).

The host environment runs these with paho-mqtt 2.x, the device-like one with 1.6.1 (Debian
bookworm's version). Subscribers are mosquitto_sub: another client than the one under test.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from edge.camera import CameraOptions, run
from edge.model import open_model
from edge.mqtt import (
    AckTracker,
    BrokerUrl,
    ChangeFilter,
    MqttError,
    MqttPublisher,
    MqttSettings,
    MqttStats,
    check_prefix,
    discovery_config,
    parse_url,
    read_password,
    sanitize_device_id,
)
from edge.pipeline import DigitReader
from tests.edge.helpers import ROOT, edge_cli, write_video
from tests.edge.mosquitto import Mosquitto, Subscriber, find_tool, free_port, running


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    return {
        "short": write_video(folder / "short.avi", frames=60, size=(160, 120)),
        # 10 s at 60 FPS with --realtime: long enough to stop the broker 5 s in the middle
        "paced": write_video(folder / "paced.avi", frames=600, size=(160, 120), fps=60.0),
        "paced_short": write_video(folder / "paced_short.avi", 120, size=(160, 120), fps=60.0),
    }


@pytest.fixture
def broker(tmp_path):
    with running(tmp_path / "broker") as b:
        yield b


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _camera(model: Path, video: Path, url: str, device: str, *extra: str):
    return edge_cli(
        "camera", "--source", str(video), "--model", str(model), "--headless",
        "--mqtt", url, "--device-id", device, *extra, timeout=120,
    )  # fmt: skip


def _camera_process(model: Path, video: Path, url: str, device: str, *extra: str):
    args = ["camera", "--source", str(video), "--model", str(model), "--headless"]
    return subprocess.Popen(
        [sys.executable, "-m", "edge", *args, "--mqtt", url, "--device-id", device, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _retained(port: int, topic: str) -> str:
    """The retained message of ``topic`` (mosquitto_sub reads it and exits)."""
    out = subprocess.run(
        [find_tool("mosquitto_sub"), "-h", "127.0.0.1", "-p", str(port), "-t", topic,
         "-C", "1", "-W", "5", "--retained-only"],
        capture_output=True, text=True, timeout=10,
    )  # fmt: skip
    return out.stdout.strip()


# -- settings and the pure parts ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://broker.local", BrokerUrl(False, "broker.local", 1883)),
        ("mqtts://broker.local", BrokerUrl(True, "broker.local", 8883)),
        ("mqtt://127.0.0.1:18830/", BrokerUrl(False, "127.0.0.1", 18830)),
        ("mqtt://[::1]:1884", BrokerUrl(False, "::1", 1884)),
    ],
)
def test_broker_urls(url, expected):
    assert parse_url(url) == expected
    assert parse_url(str(expected)) == expected


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://broker", "expected mqtt://host[:port]"),
        ("broker:1883", "expected mqtt://host[:port]"),
        ("mqtt://user:secret@broker", "no credentials in the URL"),
        ("mqtt://broker:99999", "port must be a number"),
        ("mqtt://broker/topic", "no path"),
        ("mqtt://:1883", "no host name"),
    ],
)
def test_bad_broker_urls_are_one_line_usage_errors(url, why, int8_model, videos):
    with pytest.raises(ValueError, match=re.escape(why)):
        parse_url(url)
    result = edge_cli("camera", "--source", str(videos["short"]), "--model", str(int8_model),
                      "--headless", "--mqtt", url)  # fmt: skip
    assert result.returncode == 2 and result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and why in errors[0] and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["--mqtt-every", "5"], "--mqtt-every goes with --mqtt-on-change"),
        (["--mqtt-password-file", "pw"], "--mqtt-password-file needs --mqtt-user"),
        (["--device-id", "kitchen/pi"], "letters, digits, _ and - only"),
        (["--mqtt-prefix", "a/#"], "no + or #"),
    ],
)
def test_option_mistakes_are_usage_errors(args, why, int8_model, videos):
    result = edge_cli("camera", "--source", str(videos["short"]), "--model", str(int8_model),
                      "--headless", "--mqtt", "mqtt://127.0.0.1:1", *args)  # fmt: skip
    assert result.returncode == 2 and why in result.stderr, result.stderr


def test_publishing_options_without_a_broker_are_usage_errors(int8_model, videos, monkeypatch):
    """Typed without --mqtt they would be ignored; from the environment (the service's
    defaults file) they are not a mistake."""
    camera = ("camera", "--source", str(videos["short"]), "--model", str(int8_model), "--headless")
    result = edge_cli(*camera, "--mqtt-on-change", "--device-id", "x", "--no-discovery")
    assert result.returncode == 2 and result.stdout == ""
    assert (
        "--device-id, --mqtt-on-change, --discovery/--no-discovery: publishing options, "
        "they need --mqtt URL" in result.stderr
    ), result.stderr
    monkeypatch.setenv("DIGIT_EDGE_DEVICE_ID", "kitchen")
    assert edge_cli(*camera, "--max-frames", "2").returncode == 0


def test_a_user_without_a_password_is_told(int8_model, videos, monkeypatch):
    monkeypatch.delenv("DIGIT_EDGE_MQTT_PASSWORD", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    result = edge_cli("camera", "--source", str(videos["short"]), "--model", str(int8_model),
                      "--headless", "--max-frames", "1", "--mqtt", "mqtt://127.0.0.1:1",
                      "--mqtt-user", "pi")  # fmt: skip
    assert "no MQTT password found for user 'pi'" in result.stderr, result.stderr


def test_device_ids_and_prefixes():
    assert sanitize_device_id("pi-4.kitchen (2)") == "pi-4_kitchen__2_"
    assert sanitize_device_id("cam_01") == "cam_01"
    assert check_prefix("home/digits") == "home/digits"
    for bad in ("", "/lead", "trail/", "a//b", "a/+"):
        with pytest.raises(ValueError):
            check_prefix(bad)


def test_change_filter():
    every = ChangeFilter(on_change=False, every_s=None)
    assert all(every.passes("3", t) for t in range(5))
    changes = ChangeFilter(on_change=True, every_s=None)
    seen = [changes.passes(label, t) for t, label in enumerate("3334433")]
    assert seen == [True, False, False, True, False, True, False]
    assert changes.passes(None, 7) and not changes.passes(None, 8)  # no digit is a change too
    heartbeat = ChangeFilter(on_change=True, every_s=10.0)
    assert [heartbeat.passes("5", t) for t in (0, 5, 9.9, 10, 15, 20.5)] == [
        True, False, False, True, False, True,
    ]  # fmt: skip


def test_an_ack_before_publish_returns_is_not_lost():
    acks = AckTracker()
    assert acks.acked(7) is None  # paho's thread saw the PUBACK first
    assert acks.sent(7, reading=True) is True and acks.readings == 0
    assert acks.sent(8, reading=True) is False and acks.sent(9, reading=False) is False
    assert acks.readings == 1 and acks.acked(8) is True and acks.acked(9) is False
    assert acks.waiting == {}


def test_the_password_never_comes_from_the_command_line(tmp_path, monkeypatch):
    monkeypatch.delenv("DIGIT_EDGE_MQTT_PASSWORD", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    assert read_password(None) is None
    (tmp_path / "mqtt-password").write_text("from-systemd\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))  # systemd's LoadCredential=
    assert read_password(None) == "from-systemd"
    monkeypatch.setenv("DIGIT_EDGE_MQTT_PASSWORD", "from-env")
    assert read_password(None) == "from-env"
    (tmp_path / "pw").write_text("from-file\nsecond line ignored\n")
    assert read_password(tmp_path / "pw") == "from-file"
    (tmp_path / "empty").write_text("")
    with pytest.raises(MqttError, match="empty"):
        read_password(tmp_path / "empty")
    with pytest.raises(MqttError, match="cannot read"):
        read_password(tmp_path / "missing")


def test_discovery_config_has_what_home_assistant_requires():
    settings = MqttSettings(parse_url("mqtt://h"), "pi4", prefix="home/d", model="m.tflite")
    config = discovery_config(settings)
    assert settings.discovery_topic == "homeassistant/sensor/pi4_digit/config"
    assert config["state_topic"] == "home/d/pi4/reading"
    assert config["availability_topic"] == "home/d/pi4/status"
    assert (config["payload_available"], config["payload_not_available"]) == ("online", "offline")
    assert (
        config["unique_id"] == "pi4_digit" and config["value_template"] == "{{ value_json.label }}"
    )
    assert config["device"]["identifiers"] == ["digit-edge_pi4"] and config["device"]["name"]
    assert config["device"]["model"] == "m.tflite" and config["name"]


def render_like_home_assistant(template: str, payload: str) -> str:
    """A discovery template rendered as Home Assistant renders it: Jinja2, sandboxed, the
    payload parsed as ``value_json``, its own ``tojson`` (json.dumps); an undefined value
    raises, as it fails there (and is logged at every message)."""
    jinja2 = pytest.importorskip("jinja2")
    sandbox = pytest.importorskip("jinja2.sandbox")
    env = sandbox.ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)
    env.filters["tojson"] = json.dumps
    return env.from_string(template).render(value_json=json.loads(payload), value=payload)


def test_home_assistant_reads_a_digit_and_a_number(int8_model, videos):
    """State and attributes render for the JSON lines of `camera --json` and of `camera
    --number --json`: a number has no probability key, the lowest digit's stands for it."""
    config = discovery_config(MqttSettings(parse_url("mqtt://h"), "pi4"))
    for extra in ([], ["--number"]):
        result = edge_cli(
            "camera", "--source", str(videos["short"]), "--headless", "--json",
            "--max-frames", "12", "--model", str(int8_model), *extra, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        lines = [line for line in result.stdout.splitlines() if '"event": "frame"' in line]
        reading, frame = lines[-1], json.loads(lines[-1])
        state = render_like_home_assistant(config["value_template"], reading)
        assert state == str(frame["label"])
        attributes = json.loads(
            render_like_home_assistant(config["json_attributes_template"], reading)
        )
        expected = frame["lowest_probability"] if extra else frame["probability"]
        assert attributes == {"probability": expected, "seq": frame["seq"], "no_digit": None}


# -- a real broker ----------------------------------------------------------------------------


def test_every_reading_arrives_with_its_labels(int8_model, videos, broker, tmp_path):
    sub = Subscriber(broker.port, "#", tmp_path / "sub.txt")
    time.sleep(0.3)  # subscribed before the camera starts
    result = _camera(int8_model, videos["short"], broker.url, "cam1")
    assert result.returncode == 0, result.stderr
    printed = _lines(result.stdout)
    frames, summary = printed[:-1], printed[-1]
    assert summary["mqtt"] == {"broker": broker.url, "published": 60, "queued": 0,
                               "dropped": 0, "skipped": 0, "connects": 1}  # fmt: skip
    assert "mqtt: 60 published, 0 queued, 0 dropped" in result.stderr
    assert sub.wait(lambda s: len(s.readings("digit-edge/cam1/reading")) >= 60)
    assert sub.wait(lambda s: ("digit-edge/cam1/status", "offline") in s.lines())
    sub.stop()
    received = sub.readings("digit-edge/cam1/reading")
    assert received == frames  # the very JSON `camera --json` prints, in order
    assert [r["seq"] for r in received] == list(range(1, 61))
    correct = sum(r["label"] == str((r["frame"] - 1) // 10 % 10) for r in received)
    assert correct >= 50
    topics = [t for t, _ in sub.lines()]
    assert topics.index("digit-edge/cam1/status") < topics.index("digit-edge/cam1/reading")
    status = [p for t, p in sub.lines() if t == "digit-edge/cam1/status"]
    assert status == ["online", "offline"]
    assert _retained(broker.port, "digit-edge/cam1/status") == "offline"
    config = json.loads(_retained(broker.port, "homeassistant/sensor/cam1_digit/config"))
    assert config["state_topic"] == "digit-edge/cam1/reading"
    assert config["availability_topic"] == "digit-edge/cam1/status"
    assert config["unique_id"] == "cam1_digit" and config["device"]["identifiers"]


def test_the_service_settings_come_from_the_environment(int8_model, videos, broker, tmp_path,
                                                       monkeypatch):  # fmt: skip
    """/etc/default/digit-edge sets DIGIT_EDGE_MQTT and friends; empty ones count as unset."""
    sub = Subscriber(broker.port, "home/digits/#", tmp_path / "sub.txt")
    time.sleep(0.3)
    monkeypatch.setenv("DIGIT_EDGE_MQTT", broker.url)
    monkeypatch.setenv("DIGIT_EDGE_MQTT_PREFIX", "home/digits")
    monkeypatch.setenv("DIGIT_EDGE_DEVICE_ID", "envcam")
    monkeypatch.setenv("DIGIT_EDGE_MQTT_USER", "")
    monkeypatch.setenv("DIGIT_EDGE_MQTT_CA_FILE", "")
    result = edge_cli("camera", "--source", str(videos["short"]), "--model", str(int8_model),
                      "--headless")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert _lines(result.stdout)[-1]["mqtt"]["published"] == 60
    assert sub.wait(lambda s: len(s.readings("home/digits/envcam/reading")) == 60)
    sub.stop()


def test_on_change_publishes_the_changes(int8_model, videos, broker, tmp_path):
    sub = Subscriber(broker.port, "digit-edge/+/reading", tmp_path / "sub.txt")
    time.sleep(0.3)
    result = _camera(int8_model, videos["short"], broker.url, "cam2", "--mqtt-on-change",
                     "--no-discovery")  # fmt: skip
    assert result.returncode == 0, result.stderr
    frames, summary = _lines(result.stdout)[:-1], _lines(result.stdout)[-1]
    labels = [f["label"] for f in frames]
    changes = [f["seq"] for i, f in enumerate(frames) if i == 0 or labels[i] != labels[i - 1]]
    assert summary["mqtt"]["published"] == len(changes) >= 5  # the test model: 4 reads as 5
    assert summary["mqtt"]["skipped"] == 60 - len(changes)
    assert sub.wait(lambda s: len(s.lines()) >= len(changes))
    time.sleep(0.3)
    sub.stop()
    assert [r["seq"] for r in sub.readings("digit-edge/cam2/reading")] == changes
    assert _retained(broker.port, "homeassistant/sensor/cam2_digit/config") == ""


def test_home_assistant_restart_gets_discovery_again(int8_model, videos, broker, tmp_path):
    topic = "homeassistant/sensor/cam3_digit/config"
    proc = _camera_process(int8_model, videos["paced"], broker.url, "cam3", "--realtime")
    sub = Subscriber(broker.port, topic, tmp_path / "sub.txt")
    try:
        assert sub.wait(lambda s: len(s.lines()) >= 1)
        subprocess.run([find_tool("mosquitto_pub"), "-p", str(broker.port), "-q", "1",
                        "-t", "homeassistant/status", "-m", "online"], check=True)  # fmt: skip
        assert sub.wait(lambda s: len(s.lines()) >= 2, timeout=10)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        sub.stop()
    assert proc.returncode == 0, err
    first, again = (json.loads(p) for _, p in sub.lines()[:2])
    assert first == again and first["unique_id"] == "cam3_digit"
    assert _retained(broker.port, "digit-edge/cam3/status") == "offline"  # SIGTERM: clean exit


def test_kill_9_leaves_the_last_will(int8_model, videos, broker, tmp_path):
    proc = _camera_process(int8_model, videos["paced"], broker.url, "cam4", "--realtime")
    sub = Subscriber(broker.port, "digit-edge/cam4/#", tmp_path / "sub.txt")
    try:
        assert sub.wait(lambda s: len(s.readings("digit-edge/cam4/reading")) >= 5)
        assert _retained(broker.port, "digit-edge/cam4/status") == "online"
    finally:
        proc.kill()  # SIGKILL: no chance to say goodbye; the broker sends the will
        proc.communicate(timeout=30)
    assert sub.wait(lambda s: ("digit-edge/cam4/status", "offline") in s.lines(), timeout=10)
    sub.stop()
    assert _retained(broker.port, "digit-edge/cam4/status") == "offline"


def test_an_unreachable_broker_is_a_warning_and_the_queue_keeps_the_latest(int8_model, videos):
    port = free_port()  # nothing listens there
    result = _camera(int8_model, videos["short"], f"mqtt://127.0.0.1:{port}", "cam5",
                     "--mqtt-queue", "10")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"warning: mqtt://127.0.0.1:{port}: cannot connect to the broker" in result.stderr
    assert "Traceback" not in result.stderr
    stats = _lines(result.stdout)[-1]["mqtt"]
    assert (stats["published"], stats["queued"], stats["dropped"]) == (0, 10, 50)


def test_a_full_queue_drops_the_oldest(tmp_path):
    """20 readings while the broker is down, a queue of 5: the broker then gets the last 5."""
    port = free_port()
    broker = Mosquitto(tmp_path / "broker", port=port)
    settings = MqttSettings(parse_url(broker.url), "cam6", queue=5, discovery=False)
    publisher = MqttPublisher(settings, log=lambda _msg: None)
    for seq in range(1, 21):
        publisher.publish({"event": "frame", "seq": seq, "label": "1"})
    assert publisher.stats.dropped == 15 and publisher.held() == 5
    broker.start()
    sub = Subscriber(port, "digit-edge/cam6/reading", tmp_path / "sub.txt")
    try:
        # paho retries with backoff (1 s, 2 s, ...): then the queue drains
        assert sub.wait(lambda s: len(s.lines()) >= 5, timeout=30)
        stats = publisher.close()
    finally:
        sub.stop()
        broker.stop()
    assert [r["seq"] for r in sub.readings("digit-edge/cam6/reading")] == [16, 17, 18, 19, 20]
    assert (stats.published, stats.queued, stats.dropped) == (5, 0, 15)


@pytest.mark.parametrize("queue", [1000, 40])
def test_broker_stopped_for_5_s_mid_run(queue, int8_model, videos, broker, tmp_path):
    """A queue larger than the frames in the gap loses no reading; a smaller one loses exactly
    the readings it says it dropped: the oldest of the gap."""
    sub = Subscriber(broker.port, "digit-edge/+/reading", tmp_path / "sub.txt", "fault-sub")
    time.sleep(0.3)
    proc = _camera_process(int8_model, videos["paced"], broker.url, f"q{queue}", "--realtime",
                           "--mqtt-queue", str(queue))  # fmt: skip
    try:
        assert sub.wait(lambda s: len(s.lines()) >= 60, timeout=30)
        broker.stop()
        time.sleep(5.0)
        broker.start()
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    stats = _lines(out)[-1]["mqtt"]
    assert stats["queued"] == 0 and stats["connects"] == 2
    assert "lost the connection to the broker" in err
    sent = set(range(1, 601))
    expected = 600 - stats["dropped"]
    assert sub.wait(lambda s: len({r["seq"] for r in s.readings(f"digit-edge/q{queue}/reading")})
                    >= expected, timeout=20)  # fmt: skip
    time.sleep(0.5)
    sub.stop()
    received = {r["seq"] for r in sub.readings(f"digit-edge/q{queue}/reading")}
    missing = sorted(sent - received)
    print(f"queue {queue}: {stats}, missing {len(missing)}")
    assert len(missing) == stats["dropped"]
    assert stats["published"] == 600 - stats["dropped"]
    if queue >= 600:
        assert missing == []
    else:  # the gap held ~300 readings at 60 FPS: the oldest of them were dropped
        assert stats["dropped"] >= 150
        assert missing == list(range(missing[0], missing[0] + len(missing)))


def test_a_broker_that_never_answers_keeps_the_camera_fps(int8_model, videos):
    """A socket that listens but never replies (no CONNACK): a camera-paced loop (a 60 FPS
    file, --realtime) keeps its FPS with --mqtt within 10% of its FPS without (medians of
    runs interleaved in this process). A publish that waited for the network would stall it."""
    reader = DigitReader(open_model(int8_model))
    options = CameraOptions(str(videos["paced_short"]), realtime=True)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    url = parse_url(f"mqtt://127.0.0.1:{silent.getsockname()[1]}")
    plain, with_mqtt, stats = [], [], []
    try:
        for _ in range(3):
            plain.append(run(reader, options).fps)
            # close_timeout: no waiting for the CONNACK at the end
            publisher = MqttPublisher(MqttSettings(url, "cam7", queue=50), lambda _m: None, 0.5)
            with_mqtt.append(run(reader, options, [publisher]).fps)  # run() closes it
            stats.append(publisher.stats)
    finally:
        silent.close()
    ratio = statistics.median(with_mqtt) / statistics.median(plain)
    print(f"FPS without MQTT {[round(f, 1) for f in plain]}, with a silent broker "
          f"{[round(f, 1) for f in with_mqtt]}: ratio of medians {ratio:.3f}")  # fmt: skip
    assert 0.9 <= ratio <= 1.1 and min(plain) > 0.8 * 60
    for s in stats:  # never connected: the queue kept the latest 50 and dropped the rest
        assert (s.published, s.queued, s.dropped, s.connects) == (0, 50, 70, 0)


def _hang_up_on_every_client(listener: socket.socket, stop: threading.Event) -> None:
    listener.settimeout(0.1)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            client, _ = listener.accept()
            client.recv(100)
            client.close()


def _publish_ten_and_close(port: int) -> tuple[MqttStats, float, list[str]]:
    """Ten readings to mqtt://127.0.0.1:PORT, then close (2 s timeout): stats, the seconds
    close took, what was logged."""
    logged: list[str] = []
    url = parse_url(f"mqtt://127.0.0.1:{port}")
    publisher = MqttPublisher(MqttSettings(url, "cam7"), logged.append, close_timeout=2.0)
    for seq in range(1, 11):
        publisher.publish({"label": str(seq % 10), "seq": seq})
    time.sleep(0.5)
    start = time.monotonic()
    stats = publisher.close()
    return stats, time.monotonic() - start, logged


@pytest.mark.parametrize("hangs_up", [True, False])
def test_a_port_that_is_not_a_broker_is_a_warning_not_a_silent_wait(hangs_up):
    """Something on the port that reads the CONNECT and hangs up (a TLS port spoken to in
    plain text, another service): a warning at once and no wait at exit; something that never
    answers: the exit waits close_timeout for it, then says so. Before, both were silent but
    for "10 queued", and the first waited the whole timeout too."""
    listener, stop = socket.socket(), threading.Event()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    server = threading.Thread(target=_hang_up_on_every_client, args=(listener, stop))
    if hangs_up:
        server.start()
    try:
        stats, waited, logged = _publish_ten_and_close(port)
    finally:
        stop.set()
        if hangs_up:
            server.join()
        listener.close()
    assert (stats.published, stats.queued) == (0, 10)
    if hangs_up:
        assert waited < 1.0 and "closed before the broker accepted it" in logged[0], logged
    else:
        assert 1.9 < waited < 3.0
        assert logged == [
            f"warning: mqtt://127.0.0.1:{port}: no answer from the broker in 2 s; "
            "10 reading(s) not sent"
        ]


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 (its own CA) and a mosquitto password file."""
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem"),
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run([find_tool("mosquitto_passwd"), "-b", "-c", str(folder / "passwd"), "pi",
                    "s3cret"], check=True, capture_output=True)  # fmt: skip
    (folder / "password").write_text("s3cret\n")
    (folder / "wrong").write_text("guess\n")
    for f in folder.iterdir():
        f.chmod(0o644)
    return folder


def test_tls_and_a_password(int8_model, videos, tls_files, tmp_path, monkeypatch):
    port = free_port()
    config = (
        f"listener {port} 127.0.0.1\ncertfile {tls_files}/cert.pem\nkeyfile {tls_files}/key.pem\n"
        f"password_file {tls_files}/passwd\n"
    )
    broker = Mosquitto(tmp_path / "broker", config=config, anonymous=False).start()
    url = f"mqtts://127.0.0.1:{port}"
    try:
        good = _camera(int8_model, videos["short"], url, "cam8", "--mqtt-ca-file",
                       str(tls_files / "cert.pem"), "--mqtt-user", "pi",
                       "--mqtt-password-file", str(tls_files / "password"))  # fmt: skip
        wrong = _camera(int8_model, videos["short"], url, "cam8", "--mqtt-ca-file",
                        str(tls_files / "cert.pem"), "--mqtt-user", "pi",
                        "--mqtt-password-file", str(tls_files / "wrong"))  # fmt: skip
        monkeypatch.setenv("DIGIT_EDGE_MQTT_PASSWORD", "s3cret")  # the system's CAs only:
        untrusted = _camera(int8_model, videos["short"], url, "cam8", "--mqtt-user", "pi")
    finally:
        broker.stop()
    assert good.returncode == 0, good.stderr
    assert _lines(good.stdout)[-1]["mqtt"]["published"] == 60
    assert wrong.returncode == 0 and "refused the connection" in wrong.stderr, wrong.stderr
    assert _lines(wrong.stdout)[-1]["mqtt"]["published"] == 0
    assert untrusted.returncode == 0 and "cannot connect" in untrusted.stderr, untrusted.stderr
    assert _lines(untrusted.stdout)[-1]["mqtt"]["published"] == 0


def test_a_fleet_of_8_cameras_loses_nothing(int8_model, videos, broker, tmp_path):
    devices = [f"fleet{i}" for i in range(8)]
    sub = Subscriber(broker.port, "digit-edge/+/reading", tmp_path / "sub.txt")
    time.sleep(0.3)
    procs = [_camera_process(int8_model, videos["short"], broker.url, d, "--no-discovery")
             for d in devices]  # fmt: skip
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in results]
    published = sum(_lines(out)[-1]["mqtt"]["published"] for out, _ in results)
    assert sub.wait(lambda s: len(s.lines()) >= 8 * 60, timeout=30)
    time.sleep(0.3)
    sub.stop()
    got = {(t.split("/")[1], json.loads(p)["seq"]) for t, p in sub.lines()}
    print(f"fleet: {len(devices)} devices, {published} published, {len(got)} received")
    assert published == 8 * 60 and len(sub.lines()) == 8 * 60
    assert got == {(d, seq) for d in devices for seq in range(1, 61)}


def test_serve_publishes_too(int8_model, videos, broker, tmp_path):
    """`serve --mqtt`: the web app's camera loop feeds the broker as `camera` does."""
    sub = Subscriber(broker.port, "digit-edge/srv1/#", tmp_path / "sub.txt")
    time.sleep(0.3)
    args = ["serve", "--source", str(videos["short"]), "--model", str(int8_model), "--port",
            str(free_port()), "--mqtt", broker.url, "--device-id", "srv1"]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:  # the file plays once at its frame rate (2 s); then the loop ends, the page stays
        assert sub.wait(lambda s: ("digit-edge/srv1/status", "offline") in s.lines(), timeout=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        sub.stop()
    assert proc.returncode == 0, err
    assert [r["seq"] for r in sub.readings("digit-edge/srv1/reading")] == list(range(1, 61))
    assert "mqtt: 60 published, 0 queued, 0 dropped" in err
