"""`make bench`: readings per second through a local mosquitto from a fleet of camera processes.

    python -m tests.edge.mqtt_bench --model M [--devices 8] [--frames 400] [--runs 3]

N headless ``digit-edge camera`` processes read the same digit video (written here) and publish
to one private broker (tests/edge/mosquitto.py); one mosquitto_sub counts and timestamps what
arrives. The same fleet also runs without ``--mqtt`` in the same run, so the ratio shows what
publishing costs. Rates are readings over the span from the first to the last reading (the
readings' own ``time`` without MQTT, arrival times at the subscriber with it); medians of runs.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

from tests.edge.helpers import ROOT, write_video
from tests.edge.mosquitto import find_tool, running


def _fleet(model: Path, video: Path, devices: int, url: str | None) -> list[str]:
    """Run the fleet to its end; each process's stdout."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = []
    for i in range(devices):
        args = [sys.executable, "-m", "edge", "camera", "--source", str(video), "--model",
                str(model), "--headless"]  # fmt: skip
        if url:
            args += ["--mqtt", url, "--device-id", f"bench{i}", "--no-discovery"]
        procs.append(
            subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        )
    outs = [p.communicate(timeout=600)[0].decode() for p in procs]
    if any(p.returncode for p in procs):
        raise click.ClickException("a camera process failed")
    return outs


def _rate(stamps: list[float]) -> float:
    return (len(stamps) - 1) / (max(stamps) - min(stamps)) if len(stamps) > 1 else 0.0


def _without_mqtt(model: Path, video: Path, devices: int) -> float:
    outs = _fleet(model, video, devices, None)
    stamps = [
        json.loads(line)["time"]
        for out in outs
        for line in out.splitlines()
        if line.startswith('{"event": "frame"')
    ]
    return _rate(stamps)


def _with_mqtt(model: Path, video: Path, devices: int, broker, folder: Path) -> dict:
    out = folder / "arrivals.txt"
    with out.open("wb") as sink:
        sub = subprocess.Popen(
            [find_tool("mosquitto_sub"), "-p", str(broker.port), "-h", "127.0.0.1", "-q", "1",
             "-t", "digit-edge/+/reading", "-F", "@s.@N %t"],
            stdout=sink,
        )  # fmt: skip
        time.sleep(0.3)
        outs = _fleet(model, video, devices, broker.url)
        published = sum(json.loads(o.splitlines()[-1])["mqtt"]["published"] for o in outs)
        deadline = time.monotonic() + 30
        while len(out.read_bytes().splitlines()) < published and time.monotonic() < deadline:
            time.sleep(0.05)
        sub.terminate()
        sub.wait()
    arrivals = [line.split() for line in out.read_text().splitlines()]
    return {
        "published": published,
        "received": len(arrivals),
        "rate": _rate([float(t) for t, _ in arrivals]),
    }


@click.command()
@click.option("--model", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--devices", type=click.IntRange(1, 64), default=8, show_default=True)
@click.option("--frames", type=click.IntRange(10), default=400, show_default=True)
@click.option("--runs", type=click.IntRange(1), default=3, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def main(model: Path, devices: int, frames: int, runs: int, as_json: bool) -> None:
    """Readings/s of a fleet of cameras through a local broker, and without it."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        video = write_video(folder / "bench.avi", frames=frames, size=(160, 120))
        plain, through, lost = [], [], []
        with running(folder / "broker") as broker:
            for _ in range(runs):
                plain.append(_without_mqtt(model, video, devices))
                result = _with_mqtt(model, video, devices, broker, folder)
                through.append(result["rate"])
                lost.append(devices * frames - result["received"])
    report = {
        "devices": devices,
        "readings_per_run": devices * frames,
        "runs": runs,
        "lost": lost,
        "readings_per_s_through_broker": round(statistics.median(through), 1),
        "readings_per_s_without_mqtt": round(statistics.median(plain), 1),
        "ratio": round(statistics.median(through) / statistics.median(plain), 3),
    }
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(
        f"MQTT fleet: {devices} camera processes x {frames} frames, {runs} runs: "
        f"{report['readings_per_s_through_broker']} readings/s through mosquitto "
        f"(median), {report['readings_per_s_without_mqtt']} without --mqtt "
        f"(ratio {report['ratio']}); lost per run {lost}"
    )


if __name__ == "__main__":
    main()
