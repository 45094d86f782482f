"""Readings to an MQTT broker: the reading topic, the device's status, Home Assistant discovery.

:class:`MqttPublisher` is all a command needs: ``publish(record)`` per reading, ``close()`` at the
end, ``stats`` for the summary. It never blocks its caller: paho-mqtt connects and reconnects on
its own network thread (``connect_async``, ``loop_start``, backoff from ``reconnect_delay_set``),
and ``publish`` only appends to a queue. The queue is ours, not paho's: paho's
``max_queued_messages`` refuses the *newest* message when full, while a device that was cut off
should deliver the *latest* readings, so the oldest are dropped here and counted. At most
:data:`WINDOW` readings are handed to paho unacknowledged; paho resends those after a reconnect.

Works with paho-mqtt 1.6 (Debian bookworm's ``python3-paho-mqtt``) and 2.x (callback API 2):
the callbacks take the arguments both versions pass. Topics and payloads: docs/mqtt.md.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from edge import __version__
from edge.errors import DigitEdgeError
from edge.quiet import terminal_stream

DEFAULT_PREFIX = "digit-edge"
DEFAULT_QUEUE = 1000
DISCOVERY_PREFIX = "homeassistant"  # Home Assistant's default discovery prefix
HA_STATUS_TOPIC = "homeassistant/status"  # where Home Assistant says "online" after a restart
WINDOW = 32  # readings handed to paho and not yet acknowledged (PUBACK), at most
SCHEMES = {"mqtt": (False, 1883), "mqtts": (True, 8883)}
KEEPALIVE_S = 30
RECONNECT_DELAY_S = (1, 30)  # paho's backoff: first retry after 1 s, doubling up to 30 s
CLOSE_TIMEOUT_S = 5.0  # at exit, wait this long for queued readings to reach the broker
_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]")


class MqttError(DigitEdgeError):
    """paho-mqtt is missing, or a credential file cannot be read."""


@dataclass(frozen=True)
class BrokerUrl:
    tls: bool
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{host}:{self.port}"


def parse_url(url: str) -> BrokerUrl:
    """``mqtt://host[:port]`` or ``mqtts://host[:port]``; ValueError says what is wrong."""
    parts = urlsplit(url.strip())
    if parts.scheme not in SCHEMES:
        raise ValueError(f"{url!r}: expected mqtt://host[:port] or mqtts://host[:port]")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            f"{url!r}: no credentials in the URL (they would show in `ps`): use --mqtt-user "
            "and --mqtt-password-file or DIGIT_EDGE_MQTT_PASSWORD"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{url!r}: expected no path or query after host[:port]")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{url!r}: the port must be a number from 1 to 65535") from None
    if not parts.hostname:
        raise ValueError(f"{url!r}: no host name")
    tls, default_port = SCHEMES[parts.scheme]
    return BrokerUrl(tls, parts.hostname, port or default_port)


def sanitize_device_id(name: str) -> str:
    """A topic-safe device id: every character outside ``[a-zA-Z0-9_-]`` becomes ``_``."""
    return _ID_CHARS.sub("_", name) or "device"


def default_device_id() -> str:
    """The host name (its first label), sanitised."""
    return sanitize_device_id(socket.gethostname().split(".")[0])


def check_prefix(prefix: str) -> str:
    """The topic prefix as given, or ValueError: no wildcards, no empty levels."""
    if not prefix or any(c in prefix for c in "+#\0") or "" in prefix.split("/"):
        raise ValueError(f"{prefix!r}: a topic prefix like digit-edge or home/digits (no + or #)")
    return prefix


def read_password(path: Path | None) -> str | None:
    """The password: the file's first line, else $DIGIT_EDGE_MQTT_PASSWORD, else the systemd
    credential ``mqtt-password`` (``LoadCredential=``), else None."""
    if path is None:
        env = os.environ.get("DIGIT_EDGE_MQTT_PASSWORD")
        if env:
            return env
        creds = os.environ.get("CREDENTIALS_DIRECTORY")
        if not creds or not (Path(creds) / "mqtt-password").is_file():
            return None
        path = Path(creds) / "mqtt-password"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise MqttError(f"{path}: cannot read the MQTT password ({exc})") from None
    if not lines or not lines[0]:
        raise MqttError(f"{path}: the MQTT password file is empty")
    return lines[0]


@dataclass(frozen=True)
class MqttSettings:
    """Where and what to publish (the ``--mqtt*`` options)."""

    url: BrokerUrl
    device_id: str
    prefix: str = DEFAULT_PREFIX
    user: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    queue: int = DEFAULT_QUEUE
    on_change: bool = False  # publish a reading only when the label changes ...
    every_s: float | None = None  # ... or when this long passed since the last one published
    discovery: bool = True
    model: str = ""  # the model file's name, for Home Assistant's device card

    @property
    def reading_topic(self) -> str:
        return f"{self.prefix}/{self.device_id}/reading"

    @property
    def status_topic(self) -> str:
        return f"{self.prefix}/{self.device_id}/status"

    @property
    def discovery_topic(self) -> str:
        return f"{DISCOVERY_PREFIX}/sensor/{self.device_id}_digit/config"


def discovery_config(settings: MqttSettings) -> dict[str, Any]:
    """Home Assistant's MQTT discovery payload for the digit sensor of this device.

    State from the reading topic's ``label`` (null, no digit, becomes "None": Home Assistant's
    "unknown"), probability and frame number as attributes, available while status is online.
    A number (``--number``) has no ``probability``: its lowest digit's stands for it.
    """
    return {
        "name": "Digit",
        "unique_id": f"{settings.device_id}_digit",
        "state_topic": settings.reading_topic,
        "value_template": "{{ value_json.label }}",
        "json_attributes_topic": settings.reading_topic,
        "json_attributes_template": (
            "{{ {'probability': value_json.probability"
            " | default(value_json.lowest_probability),"
            " 'seq': value_json.seq, 'no_digit': value_json.no_digit} | tojson }}"
        ),
        "availability_topic": settings.status_topic,
        "payload_available": "online",
        "payload_not_available": "offline",
        "qos": 1,
        "icon": "mdi:numeric",
        "device": {
            "identifiers": [f"digit-edge_{settings.device_id}"],
            "name": f"digit-edge {settings.device_id}",
            "manufacturer": "digit-edge",
            "model": settings.model or "digit reader",
            "sw_version": __version__,
        },
    }


class ChangeFilter:
    """``--mqtt-on-change``: pass a reading when its label differs from the last one passed,
    or ``every_s`` seconds after it; without on-change every reading passes."""

    def __init__(self, on_change: bool, every_s: float | None) -> None:
        self.on_change, self.every_s = on_change, every_s
        self._last: object = object()
        self._last_at = 0.0

    def passes(self, label: str | None, now: float) -> bool:
        if not self.on_change:
            return True
        stale = self.every_s is not None and now - self._last_at >= self.every_s
        if label == self._last and not stale:
            return False
        self._last, self._last_at = label, now
        return True


@dataclass
class MqttStats:
    """What happened to the readings: acknowledged by the broker, still held (queued or in
    flight) at the end, dropped (oldest first) when the queue was full, skipped unchanged."""

    broker: str
    published: int = 0
    queued: int = 0
    dropped: int = 0
    skipped: int = 0
    connects: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class AckTracker:
    """The messages handed to paho that await the broker's acknowledgement, by message id.

    paho's network thread may report the acknowledgement before ``publish()`` has returned
    the id to the caller's thread; such an early id is remembered until the caller adds it.
    Not thread-safe by itself: the publisher calls it under its lock.
    """

    def __init__(self) -> None:
        self.waiting: dict[int, bool] = {}  # mid -> is a reading
        self._early: set[int] = set()

    def sent(self, mid: int, reading: bool) -> bool:
        """Record a handed message; True when it was acknowledged already."""
        if mid in self._early:
            self._early.discard(mid)
            return True
        self.waiting[mid] = reading
        return False

    def acked(self, mid: int) -> bool | None:
        """The broker acknowledged ``mid``: whether it was a reading (None: not added yet)."""
        if mid in self.waiting:
            return self.waiting.pop(mid)
        self._early.add(mid)
        return None

    @property
    def readings(self) -> int:
        return sum(self.waiting.values())


def stderr_log() -> Callable[[str], None]:
    """Messages to stderr through a duplicate of fd 2: the camera loop mutes fd 2 while OpenCV
    opens a source, and paho's thread may have something to say meanwhile."""
    stream = terminal_stream(2)
    return lambda message: print(f"digit-edge: {message}", file=stream, flush=True)


def new_client(client_id: str) -> Any:
    """A paho client of either major version (callback API 2 where it exists)."""
    try:
        import paho.mqtt.client as paho
    except ImportError:
        raise MqttError(
            "--mqtt needs paho-mqtt: pip install paho-mqtt (Raspberry Pi OS: "
            "sudo apt install python3-paho-mqtt)"
        ) from None
    if hasattr(paho, "CallbackAPIVersion"):  # paho-mqtt 2.x
        return paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id)
    return paho.Client(client_id=client_id)  # 1.x: Debian bookworm ships 1.6.1


@dataclass
class _State:
    pending: collections.deque[bytes] = field(default_factory=collections.deque)
    acks: AckTracker = field(default_factory=AckTracker)
    connected: bool = False
    tried: bool = False  # the first connection attempt ended (connected, refused or failed)
    warned: bool = False  # the broker's absence was reported (once per outage)
    closing: bool = False


def _reason(rc: Any) -> str:
    """A CONNACK result as words: paho 2 passes a ReasonCode, paho 1 an int."""
    if isinstance(rc, int):
        import paho.mqtt.client as paho

        return paho.connack_string(rc).rstrip(".")
    return str(rc)


class MqttPublisher:
    """Publishes reading records to ``<prefix>/<device-id>/reading``; never blocks the caller.

    ``stats`` counts as it goes; ``close()`` sends what it can, says offline and disconnects.
    """

    def __init__(
        self,
        settings: MqttSettings,
        log: Callable[[str], None] | None = None,
        close_timeout: float = CLOSE_TIMEOUT_S,
    ) -> None:
        self.settings = settings
        self.close_timeout = close_timeout
        self.stats = MqttStats(str(settings.url))
        self._log = log or stderr_log()
        self._lock = threading.Lock()  # guards _state and the counters of stats
        self._sending = threading.Lock()  # one thread hands readings to paho at a time
        self._state = _State()
        self._filter = ChangeFilter(settings.on_change, settings.every_s)
        self._client = self._make_client()
        self._client.connect_async(settings.url.host, settings.url.port, keepalive=KEEPALIVE_S)
        self._client.loop_start()

    def _make_client(self) -> Any:
        s = self.settings
        client = new_client(f"digit-edge-{s.device_id}-{os.getpid()}")
        if s.user is not None:
            client.username_pw_set(s.user, s.password)
        if s.url.tls:
            try:
                client.tls_set(ca_certs=str(s.ca_file) if s.ca_file else None)
            except (OSError, ValueError) as exc:
                raise MqttError(f"{s.ca_file}: not a CA certificate file ({exc})") from None
        client.will_set(s.status_topic, "offline", qos=1, retain=True)
        client.reconnect_delay_set(*RECONNECT_DELAY_S)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def __call__(self, event: Any) -> None:
        """As a consumer of the camera loop (:func:`edge.camera.run`, which also closes it)."""
        self.publish(event.record)

    def publish(self, record: dict[str, Any]) -> None:
        """Queue one reading (the JSON ``camera --json`` prints) and send what can go now.

        A full queue drops its oldest reading: after an outage the latest readings matter most.
        """
        if not self._filter.passes(record.get("label"), time.monotonic()):
            self.stats.skipped += 1
            return
        payload = json.dumps(record).encode()
        with self._lock:
            if self._state.closing:
                return
            if len(self._state.pending) >= self.settings.queue:
                self._state.pending.popleft()
                self.stats.dropped += 1
            self._state.pending.append(payload)
        self._pump()

    def close(self) -> MqttStats:
        """Wait up to ``close_timeout`` s for held readings to reach the broker (while connected, or
        still connecting for the first time), publish ``offline`` on the status topic
        (retained), disconnect; the final stats."""
        if self._client is None:  # closed already
            return self.stats
        deadline = time.monotonic() + self.close_timeout
        while time.monotonic() < deadline and self._flushing():
            self._pump()
            time.sleep(0.02)
        with self._lock:
            self._state.closing = True
            connected, silent = self._state.connected, not self._state.tried
        if silent and (held := self.held()):  # nothing answered: say so, or "N queued" says why not
            self._log(
                f"warning: {self.stats.broker}: no answer from the broker in "
                f"{self.close_timeout:g} s; {held} reading(s) not sent"
            )
        if connected:
            self._send(self.settings.status_topic, b"offline", retain=True)
            offline_by = max(deadline, time.monotonic() + 1.0)
            while time.monotonic() < offline_by and self._unacked():
                time.sleep(0.02)
        self._client.disconnect()
        self._client.loop_stop()
        self._client = None
        with self._lock:
            self.stats.queued = len(self._state.pending) + self._state.acks.readings
        return self.stats

    def held(self) -> int:
        """Readings queued or in flight right now."""
        with self._lock:
            return len(self._state.pending) + self._state.acks.readings

    # -- sending (any thread) ----------------------------------------------------------------

    def _pump(self) -> None:
        """Hand queued readings to paho while connected and the window has room.

        One thread hands at a time, so readings keep their order; a thread that finds another
        at it leaves, and that one looks again after letting go, so no wake-up is lost. The
        lock is never waited for: paho calls ``_on_publish`` holding its own lock, which
        ``client.publish`` needs.
        """
        while self._sending.acquire(blocking=False):
            try:
                while payload := self._next():
                    self._send(self.settings.reading_topic, payload, reading=True)
            finally:
                self._sending.release()
            with self._lock:
                if not self._can_send():
                    return

    def _next(self) -> bytes | None:
        with self._lock:
            return self._state.pending.popleft() if self._can_send() else None

    def _can_send(self) -> bool:
        st = self._state
        return st.connected and bool(st.pending) and st.acks.readings < WINDOW

    def _send(
        self, topic: str, payload: bytes, retain: bool = False, reading: bool = False
    ) -> None:
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        with self._lock:
            if self._state.acks.sent(info.mid, reading) and reading:
                self.stats.published += 1

    def _flushing(self) -> bool:
        with self._lock:
            st = self._state
            return (st.connected or not st.tried) and bool(st.pending or st.acks.readings)

    def _unacked(self) -> bool:
        with self._lock:
            return self._state.connected and bool(self._state.acks.waiting)

    def _send_discovery(self) -> None:
        config = json.dumps(discovery_config(self.settings)).encode()
        self._send(self.settings.discovery_topic, config, retain=True)

    # -- paho's callbacks (its network thread; arguments of paho 1.x and 2.x alike) ----------

    def _on_connect(self, client: Any, _userdata: Any, _flags: Any, rc: Any, *_: Any) -> None:
        if rc != 0:
            self._failed(f"the broker refused the connection ({_reason(rc)})")
            return
        with self._lock:
            self._state.connected, self._state.tried, self._state.warned = True, True, False
            self.stats.connects += 1
        self._log(f"mqtt: connected to {self.stats.broker} as {self.settings.device_id}")
        self._send(self.settings.status_topic, b"online", retain=True)
        if self.settings.discovery:
            client.subscribe(HA_STATUS_TOPIC, qos=1)
            self._send_discovery()
        self._pump()

    def _on_connect_fail(self, _client: Any, _userdata: Any) -> None:
        self._failed("cannot connect to the broker")

    def _on_disconnect(self, _client: Any, _userdata: Any, *_: Any) -> None:
        with self._lock:
            was, self._state.connected = self._state.connected, False
        # Never connected: something answered the port and hung up without a CONNACK (a web
        # server on it, say); a refusal was reported by _on_connect already (warned once).
        self._failed(
            "lost the connection to the broker"
            if was
            else "the connection closed before the broker accepted it (is this an MQTT port?)"
        )

    def _on_publish(self, _client: Any, _userdata: Any, mid: int, *_: Any) -> None:
        with self._lock:
            if self._state.acks.acked(mid):
                self.stats.published += 1
        self._pump()

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        if message.topic == HA_STATUS_TOPIC and message.payload == b"online":
            self._send_discovery()  # Home Assistant restarted: it asks for discovery again

    def _failed(self, what: str) -> None:
        """A connection attempt failed or ended: warn once per outage (not while closing)."""
        with self._lock:
            st = self._state
            st.tried = True
            warn = not st.warned and not st.closing
            st.warned = st.warned or warn
        if warn:
            self._log(
                f"warning: {self.stats.broker}: {what}; retrying with backoff, readings queue "
                f"meanwhile (up to {self.settings.queue}, then the oldest are dropped)"
            )
