"""The manifest that travels beside every ``.tflite``: what the device and a deployer need to know.

``convert`` writes it, ``edge`` reads it. A model without one still runs, with MNIST defaults.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge.errors import ModelError
from edge.fileio import atomic_write_text

FORMAT = "digit-edge-manifest/1"
MNIST_LABELS: tuple[str, ...] = tuple(str(d) for d in range(10))

#: What the models were trained on: white digit on black, 20x20 box centred by mass in 28x28,
#: pixels scaled to [0, 1]. The edge normalisation produces exactly this from a photo.
MNIST_PREPROCESSING: dict[str, Any] = {
    "size": [28, 28],
    "polarity": "white-on-black",
    "value_range": [0.0, 1.0],
    "pixel_scale": 1.0 / 255.0,
    "normalisation": "mnist-20x20-centre-of-mass",
}


@dataclass
class Manifest:
    """Everything about one converted file, beside it as ``<stem>.manifest.json``."""

    model: str
    mode: str
    file: str
    sha256: str
    bytes: int
    input: dict[str, Any]
    output: dict[str, Any]
    labels: list[str] = field(default_factory=lambda: list(MNIST_LABELS))
    preprocessing: dict[str, Any] = field(default_factory=lambda: dict(MNIST_PREPROCESSING))
    accuracy: dict[str, Any] = field(default_factory=dict)
    compatibility: dict[str, Any] = field(default_factory=dict)
    producer: dict[str, Any] = field(default_factory=dict)
    #: temperature, calibration error, the default minimum confidence (edge/confidence.py)
    calibration: dict[str, Any] = field(default_factory=dict)
    format: str = FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False) + "\n"

    def write(self, path: str | os.PathLike[str]) -> None:
        atomic_write_text(path, self.to_json())

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> Manifest:
        path = Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelError(f"{path}: unreadable manifest ({exc})") from None
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise ModelError(f"{path}: not a {FORMAT} manifest")
        known = set(cls.__dataclass_fields__)
        try:
            manifest = cls(**{k: v for k, v in raw.items() if k in known})
        except TypeError as exc:
            raise ModelError(f"{path}: incomplete manifest ({exc})") from None
        check_calibration(manifest.calibration, path)
        return manifest


def check_calibration(calibration: Any, path: Path) -> None:
    """Refuse a default minimum confidence that is not a probability.

    Why: every reading is compared with it, so 1.7 made every digit unsure and NaN turned the
    threshold off without a word (every comparison with NaN is false); a manifest edited by
    hand is the likely source, and the error names it.
    """
    if not isinstance(calibration, dict):
        raise ModelError(f"{path}: calibration is {type(calibration).__name__}, not an object")
    if "min_confidence" not in calibration:
        return
    p = calibration["min_confidence"]
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p <= 1.0:
        raise ModelError(
            f"{path}: calibration.min_confidence is {p!r}; expected a probability from 0 to 1"
        )


def manifest_path(model_path: str | os.PathLike[str]) -> Path:
    """``models/lenet_int8.tflite`` -> ``models/lenet_int8.manifest.json``."""
    p = Path(model_path)
    return p.with_name(p.stem + ".manifest.json")


def check_matches(manifest: Manifest, model_path: Path, data: bytes) -> None:
    """Refuse a model file that is not the one its manifest was written for.

    Why: damage inside a weight buffer (a bad SD card, a copy that went wrong) leaves a model
    that loads and answers wrongly, and a file replaced without its manifest is read with
    another model's threshold and stroke target. The manifest's sha256 tells both apart from
    the file convert wrote; a manifest with no sha256 (written by hand) is not checked.
    """
    digest = hashlib.sha256(data).hexdigest()
    if not manifest.sha256 or digest == manifest.sha256:
        return
    sizes = f"{len(data):,} bytes"
    if isinstance(manifest.bytes, int) and manifest.bytes not in (0, len(data)):
        sizes += f" where it says {manifest.bytes:,}"
    raise ModelError(
        f"{model_path}: not the file {manifest_path(model_path).name} was written for "
        f"(sha256 {digest[:12]}…, {sizes}): damaged, or replaced without its manifest; "
        "copy the .tflite and its .manifest.json again from the same convert run"
    )


def find_manifest(model_path: str | os.PathLike[str]) -> Manifest | None:
    """The manifest beside a model, or None when there is none."""
    path = manifest_path(model_path)
    return Manifest.read(path) if path.is_file() else None
