"""Compare the edge CLI's outputs on the emulated Raspberry Pi with the host's, and fail loudly.

    python deploy/pi_compare.py --host build/pi-test/out/host --pi build/pi-test/out/pi \\
        --expected build/pi-test/data/expected.json --limit 1000

Each side's folder holds what ``deploy/pi-test.sh`` captured: ``versions.json``,
``classify_<model>.json`` per model, ``eval.json`` and ``camera.jsonl``. The rules:

- the Pi is what the issue promises: aarch64, Python 3.11, NumPy 1.24 and OpenCV 4.6 from Debian,
  tflite-runtime 2.14;
- int8 models: every prediction (label) identical, on every input, and the same MNIST accuracy;
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

PI_EXPECTED = {
    "platform": "aarch64",
    "python": "3.11.",
    "numpy": "1.24.",
    "opencv": "4.6.",
    "interpreter": "tflite-runtime 2.14.",
}


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
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    try:
        return [json.loads(line) for line in lines]
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"{path}: a line is not JSON ({exc})") from None


def pick(record: dict[str, Any], *keys: str) -> Any:
    """The first of ``keys`` present in ``record`` (the CLI's field names, tolerantly)."""
    for key in keys:
        if key in record:
            return record[key]
    raise click.ClickException(f"none of {keys} in {sorted(record)}")


def as_records(doc: Any, *keys: str) -> list[dict[str, Any]]:
    """The list of per-item objects in a CLI JSON document (a list, or a list under a key)."""
    if isinstance(doc, list):
        return doc
    for key in keys:
        if isinstance(doc, dict) and isinstance(doc.get(key), list):
            return doc[key]
    raise click.ClickException(f"no list of results in JSON with keys {sorted(doc)}")


@dataclass(frozen=True)
class Prediction:
    key: str
    label: str | None  # None: no digit found
    probs: tuple[float, ...] | None


def prediction(record: dict[str, Any], key: str) -> Prediction:
    label = pick(record, "label", "prediction", "digit", "predicted")
    probs = next((record[k] for k in ("probabilities", "probs", "scores") if k in record), None)
    return Prediction(
        key, None if label is None else str(label), tuple(probs) if probs is not None else None
    )


def classify_predictions(path: Path) -> dict[str, Prediction]:
    records = as_records(read_json(path), "results", "images", "predictions")
    out = {}
    for rec in records:
        name = Path(str(pick(rec, "path", "file", "image", "source"))).name
        out[name] = prediction(rec, name)
    return out


def camera_predictions(path: Path) -> list[Prediction]:
    rows = [r for r in read_jsonl(path) if r.get("type", "frame") == "frame"]
    return [prediction(r, str(r.get("frame", i))) for i, r in enumerate(rows)]


def eval_results(path: Path) -> dict[str, dict[str, Any]]:
    """Model file name -> its eval record (accuracy, count, and whatever else the CLI gives)."""
    records = as_records(read_json(path), "models", "results", "evaluations")
    return {Path(str(pick(r, "model", "path", "file"))).name: r for r in records}


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
    """Check one list of predictions; return (labels that differ, largest probability gap)."""
    checks.check(len(host) == len(pi), f"{what}: host has {len(host)} results, Pi {len(pi)}")
    differ, worst = 0, 0.0
    for h, p in zip(host, pi, strict=False):
        checks.check(h.key == p.key, f"{what}: result order differs ({h.key} vs {p.key})")
        gap = max_diff(h.probs, p.probs)
        worst = max(worst, gap)
        if h.label != p.label:
            differ += 1
            near_tie = not exact and top2_margin(h.probs) <= atol
            checks.check(near_tie, f"{what} {h.key}: host says {h.label}, Pi says {p.label}")
        if exact:
            checks.check(gap == 0.0, f"{what} {h.key}: int8 probabilities differ by {gap:.3g}")
        else:
            checks.check(gap <= atol, f"{what} {h.key}: probabilities differ by {gap:.3g}")
    return differ, worst


def mode_of(model_file: str) -> str:
    return "int8" if "int8" in model_file else "float"


@click.command()
@click.option("--host", "host_dir", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--pi", "pi_dir", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--expected", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--limit", default=1000, show_default=True, help="MNIST images eval should cover.")
@click.option("--atol", default=1e-4, show_default=True, help="Float probability tolerance.")
@click.option("--acc-tol", default=0.002, show_default=True, help="Float accuracy tolerance.")
def main(
    host_dir: Path, pi_dir: Path, expected: Path, limit: int, atol: float, acc_tol: float
) -> None:
    """Compare host and emulated-Pi results; exit 1 on any mismatch."""
    checks = Checks()
    truth = read_json(expected)
    rows: list[tuple[str, str, str, str]] = []  # what, host, Pi, verdict

    # Versions: the Pi must be the Pi the issue describes.
    hv, pv = read_json(host_dir / "versions.json"), read_json(pi_dir / "versions.json")
    for key, prefix in PI_EXPECTED.items():
        ok = str(pv.get(key, "")).startswith(prefix)
        checks.check(ok, f"Pi {key} is {pv.get(key)!r}, expected {prefix}*")
        rows.append((key, str(hv.get(key)), str(pv.get(key)), "ok" if ok else "WRONG"))
    debian = str(pv.get("numpy_from", "")).startswith("/usr/lib/python3/dist-packages/")
    checks.check(debian, f"Pi NumPy is not Debian's: {pv.get('numpy_from')}")
    rows.append(("os", str(hv.get("os")), str(pv.get("os")), ""))

    # classify, per model.
    for path in sorted(host_dir.glob("classify_*.json")):
        model = path.stem.removeprefix("classify_")
        host, pi = classify_predictions(path), classify_predictions(pi_dir / path.name)
        checks.check(sorted(host) == sorted(pi), f"classify {model}: different image sets")
        names = sorted(host)
        exact = mode_of(model) == "int8"
        differ, worst = compare_predictions(
            checks,
            f"classify {model}",
            [host[n] for n in names],
            [pi[n] for n in names if n in pi],
            exact,
            atol,
        )
        right = {
            side: sum(preds[n].label == str(truth["images"].get(n)) for n in names if n in preds)
            for side, preds in (("host", host), ("pi", pi))
        }
        rows.append(
            (
                f"classify {model} ({len(names)} images)",
                f"{right['host']}/{len(names)} right",
                f"{right['pi']}/{len(names)} right",
                f"{differ} labels differ, max |dp| {worst:.2g}",
            )
        )
        checks.check(len(names) == len(truth["images"]), f"classify {model}: images missing")

    # eval on MNIST.
    host_eval, pi_eval = eval_results(host_dir / "eval.json"), eval_results(pi_dir / "eval.json")
    checks.check(sorted(host_eval) == sorted(pi_eval), "eval: different models on host and Pi")
    checks.check(len(host_eval) >= 2, f"eval: expected float32 and int8, got {sorted(host_eval)}")
    for model, h in sorted(host_eval.items()):
        p = pi_eval.get(model, {})
        h_acc, p_acc = float(pick(h, "accuracy")), float(pick(p, "accuracy"))
        count = pick(h, "count", "n", "images", "samples")
        checks.check(count == limit, f"eval {model}: host evaluated {count} images, not {limit}")
        checks.check(pick(p, "count", "n", "images", "samples") == count, f"eval {model}: counts")
        if mode_of(model) == "int8":
            ok = h_acc == p_acc
            checks.check(ok, f"eval {model}: int8 accuracy host {h_acc} != Pi {p_acc}")
        else:
            ok = abs(h_acc - p_acc) <= acc_tol
            checks.check(ok, f"eval {model}: accuracy host {h_acc} vs Pi {p_acc} > {acc_tol}")
        verdict = "identical" if h_acc == p_acc else f"diff {p_acc - h_acc:+.4f}"
        rows.append(
            (f"eval {model} (MNIST test[:{count}])", f"{h_acc:.4f}", f"{p_acc:.4f}", verdict)
        )
        for key in ("predictions", "confusion"):
            if key in h or key in p:
                same = h.get(key) == p.get(key)
                checks.check(
                    same or mode_of(model) != "int8", f"eval {model}: int8 {key} differ host vs Pi"
                )

    # The headless camera on the same video.
    host_cam = camera_predictions(host_dir / "camera.jsonl")
    pi_cam = camera_predictions(pi_dir / "camera.jsonl")
    frames = truth["video"]["frames"]
    checks.check(len(host_cam) == frames, f"camera: host gave {len(host_cam)} frames, not {frames}")
    differ, worst = compare_predictions(checks, "camera", host_cam, pi_cam, True, atol)
    labels = [str(x) for x in truth["video"]["labels"]]
    right = {
        side: sum(p.label == t for p, t in zip(cam, labels, strict=False))
        for side, cam in (("host", host_cam), ("pi", pi_cam))
    }
    rows.append(
        (
            f"camera ({frames} frames)",
            f"{right['host']}/{frames} right",
            f"{right['pi']}/{frames} right",
            f"{differ} labels differ, max |dp| {worst:.2g}",
        )
    )

    widths = [max(len(r[i]) for r in [("", "host", "emulated Pi", ""), *rows]) for i in range(4)]
    header = ("", "host", "emulated Pi", "")
    for row in [header, tuple("-" * w for w in widths), *rows]:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    if checks.failures:
        for failure in checks.failures:
            click.echo(f"FAIL: {failure}", err=True)
        click.echo(f"{checks.passed} passed, {len(checks.failures)} failed")
        sys.exit(1)
    click.echo(f"{checks.passed} passed, 0 failed")


if __name__ == "__main__":
    main()
