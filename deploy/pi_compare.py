"""Compare the edge CLI's outputs on the emulated Raspberry Pi with the host's, and fail loudly.

    python deploy/pi_compare.py --host build/pi-test/out/host --pi build/pi-test/out/pi \\
        --expected build/pi-test/data/expected.json --limit 1000

Each side's folder holds what ``deploy/pi-test.sh`` captured: ``versions.json``,
``classify_<model>.json`` per model, ``eval.json`` and ``camera.jsonl``. The rules:

- the Pi is the Raspberry Pi OS release it emulates (``PI_EXPECTED``): aarch64 with that release's
  Python, NumPy and OpenCV from Debian, and the interpreter install.sh picks for it; the host ran
  the same interpreter (name and version);
- int8 models: every label identical, on every input (MNIST arrays through the edge API, image
  files through ``classify``, video frames through ``camera``), the same MNIST accuracy in
  ``eval``, and all ten probabilities identical, or on trixie at most one output step (1/256)
  apart (``INT8_STEPS``);
- float models: probabilities within ``--atol``, MNIST accuracy within ``--acc-tol``, and a
  label may differ only where the host's top two classes are closer than ``--atol``.

Prints a side-by-side table, then every failed check, and exits 1 if there is one.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

#: What the emulated Pi of each Raspberry Pi OS release must report (prefixes of versions.json).
PI_EXPECTED = {
    "trixie": {
        "platform": "aarch64",
        "python": "3.13.",
        "numpy": "2.2.",
        "opencv": "4.10.",
        "interpreter": "ai-edge-litert 2.3.0",
    },
    "bookworm": {
        "platform": "aarch64",
        "python": "3.11.",
        "numpy": "1.24.",
        "opencv": "4.6.",
        "interpreter": "tflite-runtime 2.14.",
    },
}


#: How far apart an int8 model's probabilities may be on host and Pi, per release. tflite-runtime
#: 2.14 gives identical bytes; ai-edge-litert 2.3's int8 kernels round a few outputs (about 1 in
#: 1,000) one step differently on x86 and Arm (docs/deploy.md, "host vs Pi"): labels still agree.
INT8_STEPS = {"trixie": 1 / 256, "bookworm": 0.0}


@dataclass(frozen=True)
class Tolerance:
    """The comparison rule for one model file: ``(labels_exact, probability tolerance)``."""

    atol: float  # float models
    int8_step: float  # int8 models

    def of(self, model_file: str) -> tuple[bool, float]:
        return (True, self.int8_step) if is_int8(model_file) else (False, self.atol)


@dataclass
class Checks:
    """Collects failures instead of stopping at the first, so one run shows them all."""

    failures: list[str] = field(default_factory=list)
    passed: int = 0

    def check(self, ok: bool, message: str) -> None:
        if ok:
            self.passed += 1
        else:
            self.failures.append(message)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise click.ClickException(f"{path}: missing (did the run fail?)") from None
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"{path}: not JSON ({exc})") from None


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [json.loads(line) for line in lines]
    except FileNotFoundError:
        raise click.ClickException(f"{path}: missing (did the run fail?)") from None
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"{path}: a line is not JSON ({exc})") from None


@dataclass(frozen=True)
class Prediction:
    key: str
    label: str | None  # None: no digit found
    probs: tuple[float, ...] | None  # by class, when the CLI printed all ten (--top-k 10)


def from_reading(key: str, record: dict[str, Any]) -> Prediction:
    """A ``classify --json`` or ``camera --headless`` line (run with ``--top-k 10``)."""
    top = {str(t["label"]): float(t["probability"]) for t in record.get("top_k") or []}
    probs = tuple(top[k] for k in sorted(top)) if len(top) == 10 else None
    label = record.get("label")
    return Prediction(key, None if label is None else str(label), probs)


def classify_predictions(path: Path) -> dict[str, Prediction]:
    out = {}
    for rec in read_jsonl(path):
        if rec.get("error"):
            raise click.ClickException(f"{path}: {rec['path']}: {rec['error']}")
        name = Path(rec["path"]).name
        out[name] = from_reading(name, rec)
    return out


def camera_predictions(path: Path) -> list[Prediction]:
    rows = [r for r in read_jsonl(path) if r.get("event") == "frame"]
    return [from_reading(str(r["frame"]), r) for r in rows]


def array_predictions(doc: dict[str, Any], model: str) -> list[Prediction]:
    m = doc["models"][model]
    return [
        Prediction(str(i), str(label), tuple(p))
        for i, (label, p) in enumerate(zip(m["labels"], m["probabilities"], strict=True))
    ]


def top2_margin(probs: tuple[float, ...] | None) -> float:
    if not probs or len(probs) < 2:
        return float("inf")
    a, b = sorted(probs, reverse=True)[:2]
    return a - b


def max_diff(a: tuple[float, ...] | None, b: tuple[float, ...] | None) -> float:
    if a is None or b is None:
        return 0.0 if a == b else float("inf")
    if len(a) != len(b):
        return float("inf")
    return max((abs(x - y) for x, y in zip(a, b, strict=True)), default=0.0)


def compare_predictions(
    checks: Checks,
    what: str,
    host: list[Prediction],
    pi: list[Prediction],
    exact: bool,
    atol: float,
) -> tuple[int, float]:
    """Check two lists of predictions; return (labels that differ, largest probability gap).

    Probabilities within ``atol``. ``exact``: labels identical; otherwise a label may differ
    only where the host's top two are within ``atol`` of each other (a tie).
    """
    checks.check(len(host) == len(pi), f"{what}: host has {len(host)} results, Pi {len(pi)}")
    differ, worst = 0, 0.0
    for h, p in zip(host, pi, strict=False):
        checks.check(h.key == p.key, f"{what}: results out of order ({h.key} vs {p.key})")
        gap = max_diff(h.probs, p.probs)
        worst = max(worst, gap)
        if h.label != p.label:
            differ += 1
            tie = not exact and top2_margin(h.probs) <= atol
            checks.check(tie, f"{what} #{h.key}: host says {h.label}, Pi says {p.label}")
        checks.check(gap <= atol, f"{what} #{h.key}: probabilities differ by {gap:.3g}")
    return differ, worst


def is_int8(model_file: str) -> bool:
    return "int8" in Path(model_file).stem.split("_")


def right(preds: list[Prediction], truth: list[str]) -> int:
    return sum(p.label == t for p, t in zip(preds, truth, strict=False))


Row = tuple[str, str, str, str]  # what, host, emulated Pi, verdict


def check_versions(
    checks: Checks, release: str, hv: dict[str, Any], pv: dict[str, Any]
) -> list[Row]:
    rows = []
    for key, prefix in PI_EXPECTED[release].items():
        ok = str(pv.get(key, "")).startswith(prefix)
        checks.check(ok, f"Pi {key} is {pv.get(key)!r}, expected {prefix}*")
        rows.append((key, str(hv.get(key)), str(pv.get(key)), "ok" if ok else "WRONG"))
    same = hv.get("interpreter") == pv.get("interpreter")
    checks.check(same, f"host ran {hv.get('interpreter')}, Pi {pv.get('interpreter')}")
    debian = str(pv.get("numpy_from", "")).startswith("/usr/lib/python3/dist-packages/")
    checks.check(debian, f"Pi NumPy is not Debian's: {pv.get('numpy_from')}")
    debian = debian and str(pv.get("opencv_from", "")).startswith("/usr/lib/python3/")
    checks.check(debian, f"Pi OpenCV is not Debian's: {pv.get('opencv_from')}")
    rows.append(("numpy/opencv from", "PyPI wheels", "Debian packages" if debian else "WRONG", ""))
    rows.append(("os", str(hv.get("os")), str(pv.get("os")), ""))
    return rows


def check_arrays(
    checks: Checks, host: dict[str, Any], pi: dict[str, Any], limit: int, tol: Tolerance
) -> list[Row]:
    """pi_predict.py: every MNIST test image's probabilities, per model."""
    rows = []
    checks.check(host["count"] == limit, f"predict: host read {host['count']} images, not {limit}")
    checks.check(pi["count"] == host["count"], f"predict: Pi read {pi['count']} images")
    checks.check(host["truth"] == pi["truth"], "predict: host and Pi read different labels")
    checks.check(sorted(host["models"]) == sorted(pi["models"]), "predict: different models")
    truth = [str(t) for t in host["truth"]]
    for model in sorted(host["models"]):
        h, p = array_predictions(host, model), array_predictions(pi, model)
        exact, atol = tol.of(model)
        differ, worst = compare_predictions(checks, f"predict {model}", h, p, exact, atol)
        rows.append(
            (
                f"{model}: MNIST test[:{len(h)}] correct",
                str(right(h, truth)),
                str(right(p, truth)),
                f"{differ} predictions differ, max |dp| {worst:.2g}",
            )
        )
        rows.append(check_single_image(checks, model, host, pi, truth, exact, atol))
    return rows


def check_single_image(
    checks: Checks,
    model: str,
    host: dict[str, Any],
    pi: dict[str, Any],
    truth: list[str],
    exact: bool,
    atol: float,
) -> Row:
    """The 28x28 single-image path: the same top-1 readings on both sides."""
    sides = []
    for doc in (host, pi):
        single = doc["models"][model].get("single_image", {})
        sides.append(
            [
                Prediction(str(i), str(label), (float(p),))
                for i, (label, p) in enumerate(
                    zip(single.get("labels", []), single.get("probabilities", []), strict=True)
                )
            ]
        )
    differ, worst = compare_predictions(checks, f"single image {model}", *sides, exact, atol)
    return (
        f"{model}: 28x28 single-image path",
        f"{right(sides[0], truth)} correct",
        f"{right(sides[1], truth)} correct",
        f"{differ} readings differ, max |dp| {worst:.2g}",
    )


def check_eval(
    checks: Checks, host: dict[str, Any], pi: dict[str, Any], limit: int, acc_tol: float
) -> list[Row]:
    """``digit-edge eval --json``: accuracies (int8 identical, float within acc_tol)."""
    rows = []
    hm = {Path(m["model"]).name: m for m in host["models"]}
    pm = {Path(m["model"]).name: m for m in pi["models"]}
    checks.check(sorted(hm) == sorted(pm), "eval: different models on host and Pi")
    checks.check(len(hm) >= 2, f"eval: expected the float32 and int8 CNN, got {sorted(hm)}")
    for model, h in sorted(hm.items()):
        p = pm.get(model, {"accuracy": float("nan"), "count": 0, "correct": 0})
        checks.check(h["count"] == limit, f"eval {model}: host used {h['count']} images")
        checks.check(p["count"] == h["count"], f"eval {model}: Pi used {p['count']} images")
        if is_int8(model):
            ok = h["correct"] == p["correct"]
        else:
            ok = abs(h["accuracy"] - p["accuracy"]) <= acc_tol
        checks.check(ok, f"eval {model}: accuracy host {h['accuracy']} vs Pi {p['accuracy']}")
        verdict = "identical" if h["accuracy"] == p["accuracy"] else "within tolerance"
        rows.append(
            (f"eval {model} accuracy", f"{h['accuracy']:.4f}", f"{p['accuracy']:.4f}", verdict)
        )
    return rows


def check_readings(
    checks: Checks,
    what: str,
    host: list[Prediction],
    pi: list[Prediction],
    truth: list[str],
    exact: bool,
    atol: float,
) -> Row:
    """classify / camera on pictures: the same rules as the MNIST arrays. Both sides run the
    bundle's edge code; the pictures go through each side's own OpenCV (PyPI 4.x on the host,
    Debian 4.6 on the Pi), so a failure here can also mean the two OpenCVs disagree."""
    checks.check(len(host) == len(truth), f"{what}: host gave {len(host)} of {len(truth)} results")
    checks.check(all(h.probs is not None for h in host), f"{what}: no full probabilities (top-k)")
    differ, worst = compare_predictions(checks, what, host, pi, exact, atol)
    n = len(truth)
    return (
        what,
        f"{right(host, truth)}/{n} right",
        f"{right(pi, truth)}/{n} right",
        f"{differ} labels differ, max |dp| {worst:.2g}",
    )


#: The camera's other sources pi-test runs on the video (camera_<name>.jsonl), and where: the
#: host's .venv-edge has PyPI's OpenCV, without GStreamer (`make test-debian` covers the host).
SOURCES = {"stdin (MJPEG)": ("stdin", ("host", "pi")), "GStreamer pipeline": ("gst", ("pi",))}


def check_sources(checks: Checks, host_dir: Path, pi_dir: Path) -> list[Row]:
    """``camera --source -`` and a ``filesrc ! decodebin ! videoconvert ! appsink`` pipeline
    read the video's frames as the file source did on the same side: the same labels, frame for
    frame."""
    rows = []
    for what, (name, sides) in SOURCES.items():
        cells = []
        for side, folder in (("host", host_dir), ("pi", pi_dir)):
            if side not in sides:
                cells.append("not run")
                continue
            want = [p.label for p in camera_predictions(folder / "camera.jsonl")]
            got = [p.label for p in camera_predictions(folder / f"camera_{name}.jsonl")]
            checks.check(
                got == want, f"camera --source {what} on the {side}: {got} vs the file's {want}"
            )
            same = sum(a == b for a, b in zip(got, want, strict=False))
            cells.append(f"{same}/{len(want)} as the file")
        rows.append((f"camera --source {what}", *cells, "same labels as the file source"))
    reading = read_json(pi_dir / "serve_reading.json")
    last = camera_predictions(pi_dir / "camera.jsonl")[-1]
    same = str(reading.get("frame")) == last.key and reading.get("label") == last.label
    checks.check(same, f"serve on the Pi: /api/reading {reading} is not the video's last frame")
    cell = f"frame {reading.get('frame')}: {reading.get('label')}"
    rows.append(("serve /api/reading at the end", "not run", cell, "the file's last reading"))
    return rows


@click.command()
@click.option("--release", type=click.Choice(sorted(PI_EXPECTED)), required=True,
              help="The Raspberry Pi OS release the Pi emulates.")  # fmt: skip
@click.option("--host", "host_dir", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--pi", "pi_dir", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--expected", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--camera-model", required=True,
              help="The model file camera.jsonl was read with (the service's).")  # fmt: skip
@click.option("--limit", default=1000, show_default=True, help="MNIST images eval should cover.")
@click.option("--atol", default=1e-5, show_default=True, help="Float probability tolerance.")
@click.option("--acc-tol", default=0.002, show_default=True, help="Float accuracy tolerance.")
def main(
    release: str,
    host_dir: Path,
    pi_dir: Path,
    expected: Path,
    camera_model: str,
    limit: int,
    atol: float,
    acc_tol: float,
) -> None:
    """Compare host and emulated-Pi results; exit 1 on any mismatch."""
    checks = Checks()
    truth = read_json(expected)
    rows: list[Row] = []

    def both(name: str) -> tuple[Any, Any]:
        return read_json(host_dir / name), read_json(pi_dir / name)

    rows += check_versions(checks, release, *both("versions.json"))
    tol = Tolerance(atol, INT8_STEPS[release])
    rows += check_arrays(checks, *both("predict.json"), limit, tol)
    rows += check_eval(checks, *both("eval.json"), limit, acc_tol)

    classify_files = sorted(host_dir.glob("classify_*.json"))
    checks.check(len(classify_files) >= 2, "classify: expected outputs for two models")
    for path in classify_files:
        model = path.stem.removeprefix("classify_")
        host, pi = classify_predictions(path), classify_predictions(pi_dir / path.name)
        checks.check(sorted(host) == sorted(pi), f"classify {model}: different image sets")
        names = sorted(truth["images"])
        pick = [host[n] for n in names if n in host], [pi[n] for n in names if n in pi]
        labels = [str(truth["images"][n]) for n in names]
        rows.append(
            check_readings(
                checks, f"classify {model} ({len(names)} images)", *pick, labels,
                *tol.of(model),
            )
        )  # fmt: skip

    video = truth["video"]
    host_cam = camera_predictions(host_dir / "camera.jsonl")
    pi_cam = camera_predictions(pi_dir / "camera.jsonl")
    labels = [str(x) for x in video["labels"]]
    rows.append(
        check_readings(
            checks, f"camera {video['frames']} frames", host_cam, pi_cam, labels,
            *tol.of(camera_model),
        )
    )  # fmt: skip

    rows += check_sources(checks, host_dir, pi_dir)

    header: Row = ("", "host", f"emulated Pi ({release})", "")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    for failure in checks.failures[:50]:
        click.echo(f"FAIL: {failure}", err=True)
    click.echo(f"pi-compare: {checks.passed} passed, {len(checks.failures)} failed")
    if checks.failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
