"""A stand-in for Raspberry Pi's picamera2, written from its documented API, for the tests.

picamera2 needs libcamera and a camera module, neither of which exists here. This module has
the calls edge.sources.Picamera2Source makes, with the documented signatures and behaviour:

- ``Picamera2.global_camera_info()``: one dict per camera libcamera sees ([] for none);
- ``Picamera2(camera_num=0)``: acquires the camera; when another process holds it, picamera2
  logs "Camera __init__ sequence did not complete." and raises RuntimeError of that text while
  handling "Failed to acquire camera: Device or resource busy";
- ``create_video_configuration(main=..., lores=..., buffer_count=6, display="main",
  encode="main", ...)``: a dict; ``configure`` checks it as libcamera would (lores no larger
  than main, YUV420 lores, at least one buffer);
- ``start()``, ``capture_array(name)``: a YUV420 stream comes back as an array of
  ``height * 3 // 2`` rows of ``stride`` bytes (rows padded to 64 bytes), Y plane first;
- ``stop()``, ``close()``.

Frames come from the video named by STANDIN_PICAMERA2_VIDEO (played round and round, as a camera
never ends); STANDIN_PICAMERA2_CAMERAS=0 means no camera (=error: libcamera failing to list
them), STANDIN_PICAMERA2_BUSY=1 a camera held by another process; STANDIN_PICAMERA2_LOG names
a file each call is appended to.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

__all__ = ["Picamera2"]


def _log(call: str) -> None:
    path = os.environ.get("STANDIN_PICAMERA2_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(call + "\n")


class Picamera2:
    @staticmethod
    def global_camera_info() -> list[dict]:
        if os.environ.get("STANDIN_PICAMERA2_CAMERAS") == "error":
            raise RuntimeError("libcamera: failed to create camera manager")
        count = int(os.environ.get("STANDIN_PICAMERA2_CAMERAS", "1"))
        return [
            {"Model": "imx708", "Location": 2, "Rotation": 180, "Id": f"/base/cam{i}", "Num": i}
            for i in range(count)
        ]

    def __init__(self, camera_num: int = 0, tuning: object = None) -> None:
        self.started = self.closed = False
        self.config: dict | None = None
        if camera_num >= len(self.global_camera_info()):
            raise IndexError("list index out of range")
        if os.environ.get("STANDIN_PICAMERA2_BUSY") == "1":
            try:
                raise RuntimeError("Failed to acquire camera: Device or resource busy")
            except RuntimeError:
                raise RuntimeError("Camera __init__ sequence did not complete.")  # noqa: B904
        self.video = cv2.VideoCapture(os.environ["STANDIN_PICAMERA2_VIDEO"])
        _log("open")

    def create_video_configuration(
        self,
        main: dict | None = None,
        lores: dict | None = None,
        raw: dict | None = None,
        buffer_count: int = 6,
        display: str | None = "main",
        encode: str | None = "main",
        queue: bool = True,
        controls: dict | None = None,
    ) -> dict:
        main = {"format": "XBGR8888", "size": (1280, 720), **(main or {})}
        if lores is not None:
            lores = {"format": "YUV420", "size": main["size"], **lores}
        return {"use_case": "video", "main": main, "lores": lores, "buffer_count": buffer_count,
                "display": display, "encode": encode, "queue": queue}  # fmt: skip

    def configure(self, config: dict) -> None:
        lores, main = config.get("lores"), config["main"]
        if config["buffer_count"] < 1:
            raise RuntimeError("buffer_count must be at least 1")
        if lores is not None:
            if lores["size"][0] > main["size"][0] or lores["size"][1] > main["size"][1]:
                raise RuntimeError("lores stream dimensions may not exceed main stream")
            if lores["format"] != "YUV420":
                raise RuntimeError("lores stream must be YUV")
        self.config = config
        _log(f"configure buffers={config['buffer_count']} display={config['display']}")

    def start(self, config: dict | None = None, show_preview: bool = False) -> None:
        if self.config is None:
            raise RuntimeError("Camera has not been configured")
        self.started = True
        _log(f"start preview={show_preview}")

    def capture_array(self, name: str = "main", wait: object = None) -> np.ndarray:
        if not self.started:
            raise RuntimeError("Camera is not running")
        stream = self.config.get(name) if self.config else None
        if stream is None:
            raise RuntimeError(f"Stream {name!r} is not defined")
        ok, bgr = self.video.read()
        if not ok:  # a camera never ends: round and round
            self.video.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, bgr = self.video.read()
        w, h = stream["size"]
        bgr = cv2.resize(bgr, (w, h), interpolation=cv2.INTER_AREA)
        if stream["format"] != "YUV420":
            return cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
        yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)  # (h * 3 // 2, w), Y plane first
        stride = (w + 63) // 64 * 64
        padded = np.full((h * 3 // 2, stride), 77, np.uint8)  # padding a reader must drop
        padded[:, :w] = yuv
        return padded

    def stop(self) -> None:
        self.started = False
        _log("stop")

    def close(self) -> None:
        self.closed = True
        self.video.release()
        _log("close")
