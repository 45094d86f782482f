"""``digit-edge serve``: the live camera view, its readings and an upload classifier over HTTP.

One camera loop (a thread running :func:`edge.camera.run`) feeds every viewer through the
:class:`Hub`, one of its consumers: each frame is drawn on and JPEG-encoded once (only while
someone watches), and the aiohttp event loop hands the latest bytes to every client. Ten viewers
cost ten socket writes per frame, never ten inferences or ten encodings.

aiohttp (Debian bookworm and Raspberry Pi OS ship 3.8 as python3-aiohttp) suits this: the MJPEG
stream and the server-sent events are long-lived responses, one coroutine each, on one thread.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hmac
import json
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import cv2
from aiohttp import web

from edge import imageio, overlay
from edge.camera import CameraOptions, FrameReading, StopFlag, Summary, run
from edge.classify import image_record, read_image
from edge.errors import DigitEdgeError
from edge.pipeline import DigitReader

if TYPE_CHECKING:
    from edge.mqtt import MqttPublisher

WEB = Path(__file__).resolve().parent / "web"
#: An upload larger than this is refused (413): a photo of a digit needs far less.
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
RECENT = 20  # readings the page lists
JPEG_QUALITY = 80
EVENTS_QUEUE = 64  # readings kept for a slow event client before the oldest are dropped
KEEPALIVE_S = 15.0  # a comment line on an idle event stream, so proxies keep it open
BOUNDARY = "frame"


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None  # every request must carry it (header or ?token=)


class Hub:
    """What the camera loop last saw, for every viewer.

    Called by the camera thread once per classified frame; everything else runs on the event
    loop, to which the camera thread hands each frame with ``call_soon_threadsafe``.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, about: dict[str, Any]) -> None:
        self.loop = loop
        self.about = about  # source, model, runtime: fixed for the run
        self.jpeg: bytes | None = None
        self.seq = 0  # number of the latest JPEG
        self.record: dict[str, Any] | None = None
        self.recent: collections.deque[dict[str, Any]] = collections.deque(maxlen=RECENT)
        self.summary: Summary | None = None
        self.state = "starting"  # running, ended, failed
        self.error: str | None = None
        self.viewers = 0  # open /stream.mjpg responses (read by the camera thread)
        self.last: FrameReading | None = None
        self._changed = asyncio.Event()
        self._listeners: set[asyncio.Queue[tuple[str, dict[str, Any]]]] = set()

    # -- the camera thread --------------------------------------------------------------------

    def __call__(self, event: FrameReading) -> None:
        self.last = event
        jpeg = encode(event) if self.viewers else None
        with contextlib.suppress(RuntimeError):  # the event loop closed: the server stops
            self.loop.call_soon_threadsafe(self._publish, jpeg, event.record, event.summary)

    # -- the event loop -----------------------------------------------------------------------

    def _publish(self, jpeg: bytes | None, record: dict[str, Any], summary: Summary) -> None:
        self.state, self.summary = "running", summary
        self.jpeg = jpeg  # None while nobody watches: a new viewer waits for a fresh frame
        if jpeg is not None:
            self.seq += 1
        self.record = record
        self.recent.appendleft(record)
        self._tell("reading", record)

    def finish(self, summary: Summary | None, error: str | None) -> None:
        """The loop ended (the source ended, or failed with ``error``)."""
        self.state, self.error = ("failed", error) if error else ("ended", None)
        if summary is not None:
            self.summary = summary
        if self.last is not None:  # the last frame stays on show for viewers who come later
            self.jpeg, self.seq = encode(self.last), self.seq + 1
        self._tell("end", self.status())

    def _tell(self, kind: str, data: dict[str, Any]) -> None:
        for queue in self._listeners:
            if queue.full():
                queue.get_nowait()  # a slow client loses the oldest reading, not the newest
            queue.put_nowait((kind, data))
        self._changed.set()
        self._changed = asyncio.Event()

    async def next_jpeg(self, after: int) -> tuple[int, bytes] | None:
        """The first JPEG newer than number ``after``; None once the loop has ended."""
        while self.seq <= after or self.jpeg is None:
            if self.state in ("ended", "failed"):
                return None
            await self._changed.wait()
        return self.seq, self.jpeg

    @contextlib.contextmanager
    def listening(self) -> Any:
        queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(EVENTS_QUEUE)
        self._listeners.add(queue)
        try:
            yield queue
        finally:
            self._listeners.discard(queue)

    def status(self) -> dict[str, Any]:
        s = self.summary
        return {
            **self.about,
            "state": self.state,
            "error": self.error,
            "fps": self.record["fps"] if self.record else 0.0,
            "bound_by": s.bound_by if s else None,
            "frames": s.frames if s else 0,
            "classified": s.classified if s else 0,
            "skipped": s.skipped if s else 0,
            "ended_by": s.ended_by if s and self.state != "running" else None,
            "viewers": self.viewers,
        }


def encode(event: FrameReading) -> bytes:
    view = overlay.draw(event.frame, event.reading, event.fps)
    return cv2.imencode(".jpg", view, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1].tobytes()


def json_error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers or None)


def make_app(hub: Hub, upload_reader: DigitReader, token: str | None) -> web.Application:
    """The web app: its routes (:class:`Routes`) behind the token and JSON-error middleware."""
    routes = Routes(hub, upload_reader)
    app = web.Application(middlewares=[guard(token)], client_max_size=MAX_UPLOAD_BYTES)
    app.router.add_get("/", routes.index)
    app.router.add_get("/stream.mjpg", routes.stream)
    app.router.add_get("/api/reading", routes.reading)
    app.router.add_get("/api/status", routes.status)
    app.router.add_get("/api/events", routes.events)
    app.router.add_post("/api/classify", routes.classify)
    app.router.add_get("/healthz", routes.healthz)
    return app


def guard(token: str | None) -> Any:
    """Middleware: 401 without the token (when there is one), and every 4xx/5xx aiohttp raises
    (404, 405, 413 ...) as a JSON error rather than an HTML page."""

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        if token is not None and not authorized(request, token):
            return refused(request)
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}
            return json_error(exc.status, exc.reason, **allow)  # a 405 says what is allowed
        except Exception as exc:  # a bug of ours: said in the log, and as JSON to the client
            click.echo(f"digit-edge: error: {request.method} {request.path}: {exc!r}", err=True)
            return json_error(500, f"internal error: {type(exc).__name__}")

    return middleware


def refused(request: web.Request) -> web.Response:
    """401: JSON for the API; for the page, a form asking for the token, since a browser does
    not prompt for a Bearer token."""
    given = "token" in request.query or "Authorization" in request.headers
    why = "wrong token" if given else "a token is required"
    if request.path == "/" and request.method == "GET":
        page = TOKEN_PAGE.replace("{why}", why.capitalize())
        return web.Response(status=401, body=page, content_type="text/html", charset="utf-8")
    return json_error(
        401,
        f"{why}: Authorization: Bearer <token> or ?token=<token>",
        **{"WWW-Authenticate": "Bearer"},
    )


TOKEN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>digit-edge</title>
</head><body style="font-family: system-ui, sans-serif; margin: 2rem">
<h1>digit-edge</h1><p role="alert">{why}: this device's page needs the token it was started
with (<code>--token</code>).</p><form method="get"><label>Token
<input name="token" type="password" autocomplete="current-password" required autofocus>
</label> <button>Open</button></form></body></html>
"""


class Routes:
    """The handlers. ``upload_reader`` is a second model instance (interpreters are not shared
    between threads), used for POST /api/classify one request at a time, off the event loop."""

    def __init__(self, hub: Hub, upload_reader: DigitReader) -> None:
        self.hub = hub
        self.upload_reader = upload_reader
        self.upload_lock = threading.Lock()
        self.page = (WEB / "index.html").read_bytes()

    async def index(self, _: web.Request) -> web.Response:
        return web.Response(body=self.page, content_type="text/html", charset="utf-8")

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """multipart/x-mixed-replace: the newest JPEG whenever this client is ready for one."""
        response = web.StreamResponse(
            headers={
                "Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                "Cache-Control": "no-cache, no-store",
            }
        )
        hub = self.hub
        if hub.jpeg is None and hub.state in ("ended", "failed"):
            return json_error(503, f"no picture: the source {hub.state} before its first frame")
        await response.prepare(request)
        hub.viewers += 1
        try:
            seq = 0
            while (item := await hub.next_jpeg(seq)) is not None:
                seq, jpeg = item
                head = (
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                    f"Content-Length: {len(jpeg)}\r\n\r\n"
                )
                await response.write(head.encode() + jpeg + b"\r\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            hub.viewers -= 1
        return response

    async def reading(self, _: web.Request) -> web.Response:
        if self.hub.record is None:
            return json_error(503, f"no reading yet (camera loop {self.hub.state})")
        return web.json_response(self.hub.record)

    async def status(self, _: web.Request) -> web.Response:
        return web.json_response({**self.hub.status(), "recent": list(self.hub.recent)})

    async def events(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: one per reading, then "end" with the status."""
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        with self.hub.listening() as queue:
            if self.hub.state in ("ended", "failed"):
                queue.put_nowait(("end", self.hub.status()))
            try:
                while True:
                    try:
                        kind, data = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                    except asyncio.TimeoutError:
                        await response.write(b": keep-alive\n\n")
                        continue
                    await response.write(f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode())
                    if kind == "end":
                        break
            except (ConnectionResetError, asyncio.CancelledError):
                pass
        return response

    async def classify(self, request: web.Request) -> web.Response:
        if (request.content_length or 0) > MAX_UPLOAD_BYTES:
            return json_error(413, f"upload larger than {MAX_UPLOAD_BYTES // 2**20} MB")
        data, name = await upload(request)
        if not data:
            return json_error(400, "empty upload: send the image as the body or as field 'image'")
        try:
            return web.json_response(await asyncio.to_thread(self._classify, data, name))
        except DigitEdgeError as exc:
            return json_error(400, str(exc))

    def _classify(self, data: bytes, name: str) -> dict[str, Any]:
        with self.upload_lock:
            reading = read_image(
                self.upload_reader, lambda: imageio.decode_scaled(data, name), name
            )
            return image_record(name, reading, self.upload_reader.model)

    async def healthz(self, _: web.Request) -> web.Response:
        hub = self.hub
        body = {"status": hub.state, "error": hub.error, "source": hub.about["source"]}
        return web.json_response(body, status=503 if hub.state == "failed" else 200)


def authorized(request: web.Request, token: str) -> bool:
    """The token from ``Authorization: Bearer`` (the scheme in any case, as HTTP's are), else
    from ``?token=``."""
    given = request.query.get("token", "")
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        given = credentials.strip()
    return hmac.compare_digest(given.encode(), token.encode())


async def upload(request: web.Request) -> tuple[bytes, str]:
    """The image's bytes and a name for it: the multipart field ``image``, or the raw body."""
    if request.content_type == "multipart/form-data":
        try:
            form = await request.post()
        except ValueError as exc:  # no boundary, or not the boundary the header names
            raise web.HTTPBadRequest(reason=f"malformed multipart upload ({exc})") from None
        field = form.get("image")
        if field is None:
            raise web.HTTPBadRequest(reason="multipart upload without a field named 'image'")
        if isinstance(field, str):
            return field.encode(), "image"
        return field.file.read(), field.filename or "image"
    return await request.read(), "upload"


def serve(
    reader: DigitReader,
    upload_reader: DigitReader,
    camera: CameraOptions,
    options: ServeOptions,
    about: dict[str, Any],
    mqtt: MqttPublisher | None = None,
) -> int:
    """Run until SIGINT/SIGTERM: the web app, and the camera loop on its own thread (which
    also feeds ``mqtt``, the ``--mqtt`` publisher, when given)."""
    return asyncio.run(_serve(reader, upload_reader, camera, options, about, mqtt))


async def _serve(
    reader: DigitReader,
    upload_reader: DigitReader,
    camera: CameraOptions,
    options: ServeOptions,
    about: dict[str, Any],
    mqtt: MqttPublisher | None,
) -> int:
    loop = asyncio.get_running_loop()
    hub = Hub(loop, about)
    runner = web.AppRunner(make_app(hub, upload_reader, options.token), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, options.host, options.port).start()
    except OSError as exc:
        await runner.cleanup()
        raise DigitEdgeError(
            f"{options.host}:{options.port}: cannot listen ({exc.strerror or exc})"
        ) from None
    stopped = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    stop = StopFlag()
    thread = threading.Thread(
        target=_camera,
        args=(reader, camera, hub, stop, mqtt),
        name="digit-edge-camera",
        daemon=True,
    )
    # Said before the camera thread starts: opening a source mutes stderr for a moment.
    click.echo(f"digit-edge: serving http://{options.host}:{options.port}/", err=True)
    thread.start()
    await stopped.wait()
    stop.reason = "server stopped"
    await runner.cleanup()
    await asyncio.to_thread(thread.join, 10)
    return 0


def _camera(
    reader: DigitReader,
    camera: CameraOptions,
    hub: Hub,
    stop: StopFlag,
    mqtt: MqttPublisher | None,
) -> None:
    """The camera loop's thread: runs it, then tells the hub (and the log) how it ended."""
    from edge.cli import summary_line

    summary, error = None, None
    try:
        summary = run(reader, camera, [hub] if mqtt is None else [hub, mqtt], stop)
        mqtt_stats = {} if mqtt is None else {"mqtt": mqtt.stats.as_dict()}
        click.echo(f"digit-edge: {summary_line({**summary.as_dict(), **mqtt_stats})}", err=True)
    except DigitEdgeError as exc:
        error = str(exc)
        click.echo(f"digit-edge: error: {error}", err=True)
    with contextlib.suppress(RuntimeError):
        hub.loop.call_soon_threadsafe(hub.finish, summary, error)
