"""Run in the device-like environment (``.venv-edge``: tflite-runtime 2.14, NumPy 1.x, no
TensorFlow): load each file through the edge runtime, run it, time it, report as JSON.

Invoked by :mod:`convert.compat` as ``<edge python> -m convert.devicecheck REQUEST.json``. It
imports only ``edge`` and NumPy, so it runs exactly as the device would.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np


def check(path: str, images: np.ndarray, runtime: str, reps: int, probs_out: Path) -> dict:
    from edge.errors import DigitEdgeError
    from edge.model import open_model

    result: dict = {"file": path}
    try:
        clf = open_model(path, runtime=runtime)
        result["runtime"] = clf.runtime.describe()
        probs = clf.predict(images)
    except (DigitEdgeError, ValueError, RuntimeError) as exc:
        result.update(loads=False, error=str(exc).splitlines()[0])
        return result
    tensor = clf.to_input(images[:1])
    times = []
    for i in range(reps + reps // 5):
        t0 = time.perf_counter_ns()
        clf.invoke(tensor)
        if i >= reps // 5:  # warm-up excluded
            times.append(time.perf_counter_ns() - t0)
    np.save(probs_out, probs)
    result.update(
        loads=True,
        probs_file=str(probs_out),
        latency_us_p50=float(np.percentile(times, 50)) / 1e3 if times else None,
        latency_us_p90=float(np.percentile(times, 90)) / 1e3 if times else None,
    )
    return result


def main(argv: list[str]) -> int:
    request = json.loads(Path(argv[0]).read_text())
    images = np.load(request["images"])
    runtime = request.get("runtime", "tflite-runtime")
    reps = int(request.get("reps", 0))
    out = {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "results": [
            check(f, images, runtime, reps, Path(request["out_dir"]) / f"probs_{i}.npy")
            for i, f in enumerate(request["files"])
        ],
    }
    try:
        import tensorflow  # noqa: F401

        out["tensorflow_importable"] = True
    except ImportError:
        out["tensorflow_importable"] = False
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
