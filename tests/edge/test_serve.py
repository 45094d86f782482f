"""`digit-edge serve`: a real server process on 127.0.0.1, real HTTP clients, real Chromium.

Every server here listens on 127.0.0.1 only and is stopped by its process id.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.edge.helpers import ROOT, digit_on_paper, edge_cli, write_video

pytest.importorskip("aiohttp")
HOST = "127.0.0.1"
SCREENSHOT = ROOT / "build" / "serve-screenshot.png"


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("video") / "digits.avi", frames=90)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    """`digit-edge serve` in its own process; stopped by its pid (SIGTERM) on exit."""

    def __init__(self, model: Path, source: str, *args: str, port: int | None = None) -> None:
        self.port = port or free_port()
        self.base = f"http://{HOST}:{self.port}"
        cmd = [sys.executable, "-m", "edge", "serve", "--source", source, "--model", str(model),
               "--host", HOST, "--port", str(self.port), *args]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=env, cwd=ROOT,
        )  # fmt: skip
        self.stderr = ""

    def __enter__(self) -> Server:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.communicate()[1]
            with contextlib.suppress(OSError):
                socket.create_connection((HOST, self.port), timeout=0.2).close()
                return self
            time.sleep(0.1)
        raise AssertionError("serve did not start listening")

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()  # by its pid: SIGTERM
        try:
            self.stderr = self.proc.communicate(timeout=20)[1]
        finally:
            self.proc.kill()

    def get(self, path: str, headers: dict | None = None) -> tuple[int, dict | bytes]:
        return self.request("GET", path, headers=headers)

    def request(self, method, path, body=None, headers=None) -> tuple[int, dict | bytes]:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        if response.getheader("Content-Type", "").startswith("application/json"):
            return response.status, json.loads(data)
        return response.status, data

    def status(self) -> dict:
        return self.get("/api/status")[1]

    def wait_for(self, state: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while (status := self.status())["state"] != state:
            assert time.monotonic() < deadline, status
            time.sleep(0.1)
        return status

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")


def read_mjpeg_frames(port: int, count: int, path: str = "/stream.mjpg") -> list[np.ndarray]:
    """The first ``count`` JPEGs of the multipart stream, decoded."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    conn.request("GET", path)
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type") == "multipart/x-mixed-replace; boundary=frame"
    frames = []
    try:
        while len(frames) < count:
            line = response.fp.readline()
            if not line:
                break
            if line.strip() != b"--frame":
                continue
            headers = {}
            while (h := response.fp.readline().strip()) != b"":
                key, value = h.decode().split(":", 1)
                headers[key.lower()] = value.strip()
            assert headers["content-type"] == "image/jpeg"
            data = response.fp.read(int(headers["content-length"]))
            frames.append(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
    finally:
        conn.close()
    return frames


def test_endpoints(int8_model, video, tmp_path):
    camera = edge_cli("camera", "--source", str(video), "--model", str(int8_model), "--json")
    assert camera.returncode == 0, camera.stderr
    frames_out = [json.loads(x) for x in camera.stdout.splitlines()][:-1]
    with Server(int8_model, str(video)) as server:
        code, health = server.get("/healthz")
        assert code == 200 and health["status"] in ("starting", "running")
        page = server.get("/")[1]
        assert b"<title>digit-edge</title>" in page and b"stream.mjpg" in page
        shots = read_mjpeg_frames(server.port, 3)
        assert len(shots) == 3 and all(s is not None and s.shape == (240, 320, 3) for s in shots)
        events = _read_events(server.port, 3)
        assert [e["event"] for e in events] == ["frame"] * 3
        assert [e["frame"] for e in events] == sorted(e["frame"] for e in events)
        status = server.wait_for("ended")
        assert status["ended_by"] == "end of video" and status["frames"] == 90
        assert status["bound_by"] == "the video's frame rate"
        code, reading = server.get("/api/reading")
        assert code == 200
        last = frames_out[-1]
        # the same JSON `camera --json` prints for the video's last frame (timings aside)
        assert {k: v for k, v in reading.items() if k not in ("timings_ms", "time")} == {
            k: v for k, v in last.items() if k not in ("timings_ms", "fps", "time")
        } | {"fps": reading["fps"]}
        assert _read_events(server.port, 1)[0]["state"] == "ended"  # late: told it ended
        _check_classify(server, int8_model, tmp_path)
        _check_bad_uploads(server)
        assert server.get("/healthz")[0] == 200  # still serving
    assert "ended by end of video" in server.stderr


def _read_events(port: int, count: int) -> list[dict]:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    conn.request("GET", "/api/events")
    response = conn.getresponse()
    assert response.getheader("Content-Type").startswith("text/event-stream")
    events = []
    try:
        while len(events) < count:
            line = response.fp.readline()
            if not line:
                break
            if line.startswith(b"data: "):
                events.append(json.loads(line[6:]))
    finally:
        conn.close()
    return events


def _check_classify(server: Server, model: Path, tmp_path: Path) -> None:
    photo = tmp_path / "seven.png"
    cv2.imwrite(str(photo), digit_on_paper(7))
    cli = edge_cli("classify", str(photo), "--model", str(model), "--json")
    expected = json.loads(cli.stdout)
    raw = photo.read_bytes()
    code, body = server.request("POST", "/api/classify", raw, {"Content-Type": "image/png"})
    assert code == 200 and body["label"] == expected["label"] == "7"
    assert body["box"] == expected["box"] and body["probability"] == expected["probability"]
    assert set(body) == set(expected) and body["error"] is None
    boundary = "digitedgeboundary"
    part = 'Content-Disposition: form-data; name="image"; filename="seven.png"'
    head = f"--{boundary}\r\n{part}\r\nContent-Type: image/png\r\n\r\n"
    form = head.encode() + raw + f"\r\n--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    code, body = server.request("POST", "/api/classify", form, headers)
    assert code == 200 and body["label"] == "7" and body["path"] == "seven.png"


def _check_bad_uploads(server: Server) -> None:
    for body, status, words in (
        (b"", 400, "empty upload"),
        (b"this is not an image", 400, "not an image"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 100, 400, "truncated JPEG"),
    ):
        code, answer = server.request("POST", "/api/classify", body)
        assert code == status and words in answer["error"], answer
    for content_type in ("multipart/form-data", "multipart/form-data; boundary=xyz"):
        body = digit_on_paper(7)[:8].tobytes()  # no part, or not with the boundary named
        code, answer = server.request("POST", "/api/classify", body, {"Content-Type": content_type})
        assert code == 400 and "malformed multipart upload" in answer["error"], answer
    code, answer = _post_large(server.port, 50 * 1024 * 1024)
    assert code == 413 and "larger than" in answer["error"]
    code, answer = server.get("/nowhere")
    assert code == 404 and "error" in answer
    conn = http.client.HTTPConnection(HOST, server.port, timeout=30)
    try:
        conn.request("DELETE", "/healthz")
        response = conn.getresponse()
        answer = json.loads(response.read())
    finally:
        conn.close()
    assert response.status == 405 and "error" in answer
    assert set(response.getheader("Allow", "").split(",")) >= {"GET"}  # HTTP requires it


def _post_large(port: int, size: int) -> tuple[int, dict]:
    """POST ``size`` bytes; the server may answer (413) before it has read them all."""
    sock = socket.create_connection((HOST, port), timeout=30)
    head = (
        f"POST /api/classify HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: image/jpeg\r\n"
        f"Content-Length: {size}\r\nConnection: close\r\n\r\n"
    )
    sock.sendall(head.encode())
    with contextlib.suppress(OSError):  # the server closes once it has answered
        chunk = b"\0" * (1 << 20)
        for _ in range(size // len(chunk)):
            sock.sendall(chunk)
    data = b""
    with contextlib.suppress(OSError):
        while part := sock.recv(65536):
            data += part
    sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_token(int8_model, video, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token\n")
    with Server(int8_model, str(video), "--token-file", str(token_file), "--loop") as server:
        for path in ("/healthz", "/api/reading", "/stream.mjpg", "/api/events"):
            code, body = server.get(path)
            assert code == 401 and "token" in body["error"], path
        assert server.get("/healthz?token=wrong")[0] == 401
        assert server.get("/healthz", {"Authorization": "Bearer wrong"})[0] == 401
        assert server.request("POST", "/api/classify", b"x")[0] == 401
        assert server.get("/healthz?token=s3cret-token")[0] == 200
        assert server.get("/healthz", {"Authorization": "Bearer s3cret-token"})[0] == 200
        assert server.get("/healthz", {"Authorization": "bearer s3cret-token"})[0] == 200
        assert len(read_mjpeg_frames(server.port, 2, "/stream.mjpg?token=s3cret-token")) == 2
        # A browser opening the page is asked for the token (it prompts for no Bearer token)
        code, page = server.get("/")
        assert code == 401 and b'<input name="token"' in page and b"A token is required" in page
        assert b"Wrong token" in server.get("/?token=wrong")[1]
        assert server.get("/api/status?token=wrong")[1]["error"].startswith("wrong token")


def test_a_token_file_holds_a_pass_phrase_on_its_first_line(int8_model, video, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("correct horse battery staple\nsecond line\n")
    with Server(int8_model, str(video), "--token-file", str(token_file), "--loop") as server:
        assert server.get("/healthz?token=correct")[0] == 401
        phrase = "correct%20horse%20battery%20staple"
        assert server.get(f"/healthz?token={phrase}")[0] == 200


def test_sigterm_with_open_streams_stops_promptly(int8_model, video):
    """systemd's stop: SIGTERM while a stream and an event client are open ends the server
    within seconds, exit 0, with the camera summary in the log."""
    server = Server(int8_model, str(video), "--loop")
    with server:
        server.wait_for("running")
        clients = [
            threading.Thread(target=read_mjpeg_frames, args=(server.port, 10**6), daemon=True),
            threading.Thread(target=_read_events, args=(server.port, 10**6), daemon=True),
        ]
        for client in clients:
            client.start()
        time.sleep(1)
        assert server.status()["viewers"] == 1
        start = time.monotonic()
    assert time.monotonic() - start < 10 and server.proc.returncode == 0
    assert "ended by server stopped" in server.stderr


def test_number_and_min_confidence_as_camera_prints_them(int8_model, video):
    """serve takes camera's --number and --min-confidence: /api/reading is what camera prints."""
    args = ("--number", "--min-confidence", "0.3")
    camera = edge_cli("camera", "--source", str(video), "--model", str(int8_model), "--json", *args)
    assert camera.returncode == 0, camera.stderr
    last = [json.loads(x) for x in camera.stdout.splitlines()][-2]
    with Server(int8_model, str(video), *args) as server:
        server.wait_for("ended")
        reading = server.get("/api/reading")[1]
    assert reading["number"] == last["number"] and reading["digits"] == last["digits"]
    assert reading["frame"] == last["frame"] == 90 and reading["min_confidence"] == 0.3


def test_bad_options_are_one_line(int8_model, video, tmp_path):
    busy = socket.socket()
    busy.bind((HOST, 0))
    busy.listen()
    try:
        port = str(busy.getsockname()[1])
        result = edge_cli("serve", "--source", str(video), "--model", str(int8_model),
                          "--port", port)  # fmt: skip
        assert result.returncode == 2
        assert f"{HOST}:{port}: cannot listen" in result.stderr.strip().splitlines()[-1]
    finally:
        busy.close()
    empty = tmp_path / "empty"
    empty.write_text("\n")
    result = edge_cli("serve", "--model", str(int8_model), "--token-file", str(empty))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"digit-edge: error: {empty}: empty token file"
    result = edge_cli("serve", "--model", str(int8_model), "--token", "")  # --token "$UNSET"
    assert result.returncode == 2
    assert "Invalid value for '--token': is empty" in result.stderr
    blank_first = tmp_path / "blank-first"
    blank_first.write_text("\ntoken-on-line-2\n")
    result = edge_cli("serve", "--model", str(int8_model), "--token-file", str(blank_first))
    assert result.returncode == 2 and "the first line, the token, is empty" in result.stderr
    # DIGIT_EDGE_TOKEN= in a settings file: click reads it as no value; still an error
    result = edge_cli("serve", "--model", str(int8_model), env={"DIGIT_EDGE_TOKEN": ""})
    assert result.returncode == 2 and "is empty: every request would pass" in result.stderr


def test_a_source_camera_cannot_start_on_stops_serve_at_start(int8_model, video, tmp_path):
    """As `camera` does: exit 2 and one line naming the source, before anything listens."""
    text = tmp_path / "notes.avi"
    text.write_text("not a video\n")
    cut = tmp_path / "cut.avi"
    data = video.read_bytes()
    cut.write_bytes(data[: data.index(b"\xff\xd8") + 2])  # a header OpenCV opens, no frame
    missing = tmp_path / "missing.avi"
    cases = {
        missing: f"{missing}: no such video file (or use a camera index like 0)",
        text: f"{text}: cannot be opened (not a video OpenCV can read?)",
        cut: f"{cut}: no frames (not a video OpenCV can read?)",
    }
    for source, reason in cases.items():
        port = free_port()
        args = ["--source", str(source), "--model", str(int8_model), "--port", str(port)]
        serve = edge_cli("serve", *args, timeout=30)
        camera = edge_cli("camera", "--headless", *args[:4], timeout=30)
        assert serve.returncode == camera.returncode == 2, (serve.stderr, camera.stderr)
        assert serve.stderr.strip().splitlines() == [f"digit-edge: error: {reason}"]
        assert camera.stderr.strip().splitlines()[-1] == f"digit-edge: error: {reason}"
        with pytest.raises(OSError):  # it never listened
            socket.create_connection((HOST, port), timeout=0.5).close()


def test_a_damaged_model_is_named_before_a_missing_source(int8_model, tmp_path):
    """As `camera` says it: the model is what is wrong first, whatever the source."""
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(int8_model.read_bytes()[:100])
    missing = tmp_path / "missing.avi"
    args = ["--source", str(missing), "--model", str(cut)]
    serve = edge_cli("serve", *args, "--port", str(free_port()), timeout=30)
    camera = edge_cli("camera", "--headless", *args, timeout=30)
    assert serve.returncode == camera.returncode == 2, (serve.stderr, camera.stderr)
    assert serve.stderr.strip() == camera.stderr.strip()
    assert serve.stderr.strip().startswith(f"digit-edge: error: {cut}: damaged or truncated")


def test_a_source_failing_after_start_shows_on_the_page_and_healthz(int8_model):
    """Standard input is not checked before serving (its frames are the loop's): an empty one
    fails in the loop, and the page and /healthz say so."""
    with Server(int8_model, "-") as server:
        status = server.wait_for("failed")
        assert "no complete JPEG on standard input" in status["error"]
        code, health = server.get("/healthz")
        assert code == 503 and health["status"] == "failed"
        assert server.get("/api/reading")[0] == 503
        code, answer = server.get("/stream.mjpg")  # not a stream that never sends a picture
        assert code == 503 and "no picture: the source failed" in answer["error"]


CLIENTS = 10
ONE_CLIENT_S, TEN_CLIENTS_S = 10.0, 30.0


@pytest.mark.skipif(
    os.environ.get("DIGIT_EDGE_LOAD_TEST") != "1",
    reason="50 s: runs once, in `make test-debian` (Debian's aiohttp 3.8 and OpenCV, as on a Pi)",
)
def test_ten_viewers_cost_no_camera_fps_and_no_memory(int8_model, tmp_path):
    """One camera loop for every viewer: the loop's FPS with ten stream clients is within 10%
    of its FPS with one, and the server's memory stays flat over 30 s of ten clients.

    Each client gets the latest frame when it is ready for one: frames the camera thread hands
    over within one turn of the event loop are sent once, as the newest of them."""
    fast = write_video(tmp_path / "fast.avi", frames=300, fps=60.0)
    with Server(int8_model, str(fast), "--loop") as server:
        server.wait_for("running")
        one = _measure(server, 1, ONE_CLIENT_S)
        ten = _measure(server, CLIENTS, TEN_CLIENTS_S)
    received = [n / TEN_CLIENTS_S for n in ten["per_client"]]
    print(f"\n10-client test: camera loop {one['fps']:.1f} FPS with 1 client "
          f"({one['per_client'][0] / ONE_CLIENT_S:.1f} received), {ten['fps']:.1f} FPS with "
          f"{CLIENTS} (ratio {ten['fps'] / one['fps']:.3f}; received per client "
          f"{min(received):.1f}-{max(received):.1f} FPS); server RSS {ten['rss_start_kb']} -> "
          f"{ten['rss_end_kb']} kB over {TEN_CLIENTS_S:.0f} s")  # fmt: skip
    assert one["fps"] > 50 and abs(ten["fps"] / one["fps"] - 1) <= 0.10
    assert min(received) >= 0.7 * ten["fps"]
    assert ten["rss_end_kb"] - ten["rss_start_kb"] < 8 * 1024  # flat: under 8 MB of drift


def _measure(server: Server, clients: int, seconds: float) -> dict:
    """Camera-loop FPS (frames counted by the server) while ``clients`` streams are read."""
    stop = threading.Event()
    counts = [0] * clients

    def viewer(i: int) -> None:
        conn = http.client.HTTPConnection(HOST, server.port, timeout=30)
        conn.request("GET", "/stream.mjpg")
        response = conn.getresponse()
        while not stop.is_set():
            line = response.fp.readline()
            if not line:
                break
            if line.startswith(b"Content-Length:"):
                response.fp.read(int(line.split()[1]) + 2)
                counts[i] += 1
        conn.close()

    threads = [threading.Thread(target=viewer, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    time.sleep(2)  # every client connected and streaming
    start_counts = list(counts)
    f0, t0, rss0 = server.status()["frames"], time.monotonic(), server.rss_kb()
    time.sleep(seconds)
    f1, t1, rss1 = server.status()["frames"], time.monotonic(), server.rss_kb()
    per_client = [c - s for c, s in zip(counts, start_counts, strict=True)]
    stop.set()
    for t in threads:
        t.join(timeout=10)
    return {"fps": (f1 - f0) / (t1 - t0), "rss_start_kb": rss0, "rss_end_kb": rss1,
            "per_client": per_client}  # fmt: skip


CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


NEEDS_CHROMIUM = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER) and os.environ.get("CI") != "true",
    reason="Debian's chromium and chromium-driver are not installed (make apt-deps)",
)


def headless_chromium(tmp_path: Path, size: str = "1000,700"):
    """Debian's Chromium through its chromedriver, a fresh profile, a window of ``size``."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", f"--window-size={size}",
                f"--user-data-dir={tmp_path / 'chromium-profile'}"):  # fmt: skip
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


LIVE_PICTURE_WIDTH = (
    "const i = document.getElementById('live'); return i.complete && i.naturalWidth"
)


@NEEDS_CHROMIUM
def test_the_page_in_headless_chromium(int8_model, tmp_path):
    long_video = write_video(tmp_path / "long.avi", frames=240)  # 8 s at 30 FPS
    with Server(int8_model, str(long_video)) as server:
        driver = headless_chromium(tmp_path)
        try:
            driver.get(server.base + "/")
            _wait(lambda: driver.execute_script(LIVE_PICTURE_WIDTH) == 320)
            _wait(lambda: driver.find_element("id", "label").text not in ("–", ""))
            assert driver.find_element("id", "runtime").text == server.status()["runtime"]
            first = driver.find_element("id", "frame").text
            _wait(lambda: driver.find_element("id", "frame").text != first)  # it is live
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(SCREENSHOT))
            _wait(lambda: "the source ended" in driver.find_element("id", "state").text, 30)
            time.sleep(1.5)  # the page's last status refresh
            reading = server.get("/api/reading")[1]
            page = {k: driver.find_element("id", k).text for k in ("label", "frame", "fps")}
            assert page["label"] == (reading["label"] or "no digit")
            assert page["frame"] == str(reading["frame"]) == "240"
            assert page["fps"] == f"{reading['fps']:.1f}"
            # the page shows what the server measured (which side set the pace depends on load)
            pace = server.status()["bound_by"] or "–"
            assert driver.find_element("id", "bound-by").text == pace
            rows = driver.find_elements("css selector", "#recent tr")
            assert len(rows) == 20 and rows[0].text.split()[0] == "240"
        finally:
            driver.quit()
    shot = cv2.imread(str(SCREENSHOT))
    assert shot is not None and shot.shape[1] >= 900 and shot.std() > 10


@NEEDS_CHROMIUM
def test_the_page_on_a_phone_through_a_server_restart(int8_model, tmp_path):
    """A phone-sized window: no sideways scroll, no black band under the picture, an unsure
    reading's candidates; then the server restarts (a service's restart, a reboot) and the
    page says it lost it and comes back by itself, picture and readings."""
    video = write_video(tmp_path / "vga.avi", frames=60, size=(640, 480))
    args = ("--loop", "--min-confidence", "0.9999")  # almost every reading unsure
    port = free_port()
    driver = headless_chromium(tmp_path)
    try:  # the narrowest phones (a window is at least 500 px wide)
        metrics = {"width": 320, "height": 700, "deviceScaleFactor": 1, "mobile": False}
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        with Server(int8_model, str(video), *args, port=port) as server:
            driver.get(server.base + "/")
            _wait(lambda: driver.execute_script(LIVE_PICTURE_WIDTH) == 640)
            _wait(lambda: text_of(driver, "label") == "?")
            assert text_of(driver, "why").startswith("unsure: ")
            layout = driver.execute_script(
                "const v = document.getElementById('view').getBoundingClientRect();"
                "const i = document.getElementById('live').getBoundingClientRect();"
                "return [document.documentElement.scrollWidth, innerWidth, v.height, i.height]"
            )
            assert layout[0] <= layout[1], layout  # nothing wider than the window
            assert abs(layout[2] - layout[3]) < 1, layout  # the box is the picture
        _wait(lambda: "lost the server" in text_of(driver, "state"))
        with Server(int8_model, str(video), *args, port=port):
            _wait(lambda: text_of(driver, "state") == "running")
            _wait(lambda: driver.execute_script(LIVE_PICTURE_WIDTH) == 640)
            first = text_of(driver, "frame")
            _wait(lambda: text_of(driver, "frame") != first)
    finally:
        driver.quit()


def text_of(driver, element_id: str) -> str:
    """An element's text, read afresh (the page may have reloaded since the last look)."""
    return driver.execute_script(
        "const e = document.getElementById(arguments[0]); return e ? e.textContent : null",
        element_id,
    )


def _wait(condition, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting in the browser"
        time.sleep(0.1)


def test_serve_without_aiohttp_says_what_to_install(int8_model, tmp_path):
    """The module aiohttp is hidden from a fresh process: one line naming the package."""
    blocker = tmp_path / "aiohttp.py"
    blocker.write_text("raise ImportError('blocked for the test', name='aiohttp')\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    result = subprocess.run(
        [sys.executable, "-m", "edge", "serve", "--model", str(int8_model)],
        capture_output=True, text=True, timeout=60, env=env, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert "serve needs aiohttp" in last and "python3-aiohttp" in last
