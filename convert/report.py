"""The convert report: a terminal table, ``report.json``, ``report.md`` and two plots.

Every number comes from the report dict built by :mod:`convert.pipeline`; the renderers only
format it, so the terminal, the JSON and the Markdown cannot disagree.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from convert.modes import MODES
from edge.fileio import atomic_path, atomic_write_text

#: (header, explanation) for every column; README.md "The convert report" repeats these.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("model", "trained model (artifacts/models/<model>.keras)"),
    ("mode", "quantization mode (convert/modes.py); `keras` is the float reference itself"),
    ("bytes", "size of the .tflite file"),
    ("×f32", "size relative to the same model's float32 .tflite"),
    ("acc %", "top-1 accuracy on the 10,000 MNIST test images, through edge.model"),
    ("drift pp", "accuracy minus the Keras model's, in percentage points (1 pp = 100 images)"),
    ("agree %", "share of test images where the file predicts the same class as Keras"),
    ("max|Δp|", "largest difference from Keras in any class probability, over all images"),
    ("p50/p90/p99 µs", "single-image invoke latency, one thread, warm-up excluded"),
    ("img/s", "evaluation throughput over the 10,000 images through DigitClassifier.predict"),
    ("XNN", "XNNPACK delegate partitions: host interpreter / tflite-runtime 2.14 (1 = whole)"),
    ("2.14", "loads and runs in tflite-runtime 2.14 (.venv-edge); `table` = version table only"),
    ("2.14 µs", "single-image latency p50 on tflite-runtime 2.14, same machine"),
    ("2.14 Δpp", "drift in pp of the same file's predictions on tflite-runtime 2.14"),
)


def _fmt_int(n) -> str:
    return f"{n:,}" if n is not None else "—"


def _fmt(v, spec: str, none: str = "—") -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return none
    return format(v, spec)


def _kilo(v) -> str:
    return f"{v / 1000:.0f}k" if v >= 10_000 else f"{v:,.0f}"


def pct(v) -> str:
    return _fmt(None if v is None else 100 * v, ".2f")


def partitions_cell(f: dict) -> str:
    host = f.get("host_partitions")
    dev = f["tflite_runtime_2_14"].get("partitions")
    return f"{_fmt(host, 'd', '?')}/{_fmt(dev, 'd', '—')}"


def compat_cell(f: dict) -> str:
    d = f["tflite_runtime_2_14"]
    runs = d.get("runs")
    mark = {True: "yes", False: "NO", None: "?"}[runs]
    return mark if d.get("checked") else f"{mark} (table)"


def rows(report: dict) -> list[list[str]]:
    """The summary table, one Keras row then one row per file, per model."""
    out = []
    for name, m in report["models"].items():
        lat = m["keras_latency_us"]
        out.append(
            [
                name, "keras", _fmt_int(m["keras_bytes"]), "", f"{100 * m['keras_accuracy']:.2f}",
                "", "", "",
                f"{lat['p50']:.0f}/{lat['p90']:.0f}/{lat['p99']:.0f}", "", "", "", "", "",
            ]
        )  # fmt: skip
        for f in (f for f in report["files"] if f["model"] == name):
            lat, dev = f["latency_us"], f["tflite_runtime_2_14"]
            mode = f["mode"] + (f" ({f['io_dtype']} I/O)" if f["io_dtype"] == "uint8" else "")
            out.append(
                [
                    "", mode, _fmt_int(f["bytes"]), _fmt(f["size_ratio_vs_float32"], ".3f"),
                    f"{100 * f['accuracy']:.2f}", f"{f['drift_pp']:+.2f}",
                    f"{100 * f['agreement']:.2f}", f"{f['max_abs_prob_delta']:.4f}",
                    f"{lat['p50']:.1f}/{lat['p90']:.1f}/{lat['p99']:.1f}",
                    _kilo(f["throughput_ips"]), partitions_cell(f), compat_cell(f),
                    _fmt(dev.get("latency_us_p50"), ".1f"), _fmt(dev.get("drift_pp"), "+.2f"),
                ]
            )  # fmt: skip
    return out


def ops_text(f: dict) -> str:
    return ", ".join(
        f"{o['name']} v{o['version']}" + (f" ×{o['count']}" if o["count"] > 1 else "")
        for o in f["ops"]
    )


def validation_lines(report: dict) -> list[str]:
    """One line on how the int8 and dynamic files were chosen on the validation split."""
    parts, images = [], 0
    for f in report["files"]:
        v = f.get("validation_choice")
        if not v or not v["candidates"]:
            continue
        images = v["images"]
        figs = ", ".join(
            f"{k} {c['disagreements']}/{c['mean_abs_dp']:.4f}" for k, c in v["candidates"].items()
        )
        parts.append(f"{f['model']} {f['mode']}: {v['chosen']} ({figs})")
    if not parts:
        return []
    return [
        f"chosen on {images:,} validation images (disagreements with Keras / mean Σ|Δp|): "
        + "; ".join(parts)
    ]


def header_lines(report: dict) -> list[str]:
    it = report["interpreter"]
    data = report["data"]
    rep = report["representative"]
    sha = ", ".join(f"{k} {v[:12]}…" for k, v in data["sha256"].items())
    lines = [
        f"Interpreter: {it['host']} on the host (all accuracy and latency columns, "
        f"{it['threads']} thread); device check: "
        + (f"{it['device']} in {it['device_python']}" if it["device"] else it["device_check"]),
        f"Data: {data['source']} ({data['test_images']:,} test images"
        + (", canonical MNIST" if data["verified_canonical"] else ", NOT verified canonical")
        + f"); sha256 {sha}",
        f"int8 calibration: {rep['count']:,} training images, seed {rep['seed']}, "
        f"per class {rep['per_class']}",
        *validation_lines(report),
        f"Machine: {report['machine']['cpus']} CPUs, load average "
        f"{report['machine']['loadavg_start'][0]} -> {report['machine']['loadavg_end'][0]}; "
        f"versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items() if v),
    ]
    return lines


def render_terminal(report: dict, console) -> None:
    """The rich table, then the operator list of each file and the gate verdict."""
    from rich.table import Table

    table = Table(title="digit-convert report", header_style="bold", show_lines=False)
    for header, _ in COLUMNS:
        justify = "left" if header in ("model", "mode") else "right"
        table.add_column(header, justify=justify, no_wrap=True)
    for row in rows(report):
        style = "dim" if row[1] == "keras" else None
        if row[1] != "keras" and row[11].startswith("NO"):
            style = "red"
        table.add_row(*row, style=style)
    console.print(table)
    for line in header_lines(report):
        console.print(line, style="dim", highlight=False)
    ops = Table(title="operators (version) and tflite-runtime 2.14", header_style="bold")
    ops.add_column("file")
    ops.add_column("ops")
    ops.add_column("min runtime")
    ops.add_column("2.14")
    for f in report["files"]:
        d = f["tflite_runtime_2_14"]
        why = d.get("error") or "; ".join(d.get("table_blockers") or []) or ""
        ops.add_row(
            f["file"],
            ops_text(f),
            f["min_runtime_version"] or "?",
            compat_cell(f) + (f": {why}" if why and not d.get("runs") else ""),
        )
    console.print(ops)
    gate = report["gate"]
    for item in gate["incompatible_with_tflite_runtime_2_14"]:
        console.print(f"does not run on tflite-runtime 2.14: {item}", style="bold red")
    if gate["max_drift_pp"] is not None:
        if gate["failed"]:
            console.print(
                f"drift gate {gate['max_drift_pp']} pp: FAILED {gate['failed']}", style="bold red"
            )
        else:
            console.print(f"drift gate {gate['max_drift_pp']} pp: passed", style="green")


def render_markdown(report: dict) -> str:
    headers = [h for h, _ in COLUMNS]
    lines = ["# digit-convert report", ""]
    lines += [f"- {line}" for line in header_lines(report)]
    cells = [h.replace("|", "\\|") for h in headers]
    lines += ["", "| " + " | ".join(cells) + " |", "|" + "---|" * len(headers)]
    for row in rows(report):
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    lines += ["", "## Per-class drift (pp) of the quantized files", ""]
    lines += ["| file | " + " | ".join(str(c) for c in range(10)) + " |", "|" + "---|" * 11]
    for f in report["files"]:
        if MODES[f["mode"]].quantized:
            cells = [f"{d:+.2f}" for d in f["per_class_drift_pp"]]
            lines.append(f"| {f['file']} | " + " | ".join(cells) + " |")
    lines += ["", "## Operators and the device runtime", ""]
    lines += [
        "| file | ops (version ×nodes) | min runtime | tflite-runtime 2.14 |",
        "|---|---|---|---|",
    ]
    for f in report["files"]:
        d = f["tflite_runtime_2_14"]
        note = d.get("error") or "; ".join(d.get("table_blockers") or [])
        lines.append(
            f"| {f['file']} | {ops_text(f)} | {f['min_runtime_version'] or '?'} | "
            f"{compat_cell(f)}{': ' + note if note and not d.get('runs') else ''} |"
        )
    lines += ["", "## On the device runtime (tflite-runtime 2.14, `.venv-edge`)", ""]
    lines += [
        "| file | loads | acc % | drift pp | agree % (Keras) | agree % (host) "
        "| max\\|Δp\\| vs host | p50 / p90 µs | XNNPACK partitions |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for f in report["files"]:
        d = f["tflite_runtime_2_14"]
        if not d.get("checked"):
            lines.append(f"| {f['file']} | not checked ({d.get('reason', '')}) |" + " |" * 7)
            continue
        lines.append(
            f"| {f['file']} | {'yes' if d.get('loads') else 'NO: ' + str(d.get('error'))} | "
            f"{pct(d.get('accuracy'))} | {_fmt(d.get('drift_pp'), '+.2f')} | "
            f"{pct(d.get('agreement'))} | {pct(d.get('agreement_with_host'))} | "
            f"{_fmt(d.get('max_abs_prob_delta_vs_host'), '.4f')} | "
            f"{_fmt(d.get('latency_us_p50'), '.1f')} / {_fmt(d.get('latency_us_p90'), '.1f')} | "
            f"{_fmt(d.get('partitions'), 'd')} |"
        )
    lines += ["", "## Columns", ""]
    lines += [f"- **{h}**: {text}" for h, text in COLUMNS]
    gate = report["gate"]
    if gate["max_drift_pp"] is not None:
        verdict = f"FAILED: {', '.join(gate['failed'])}" if gate["failed"] else "passed"
        lines += ["", f"Drift gate ±{gate['max_drift_pp']} pp: {verdict}"]
    lines += ["", "Plots: `accuracy_vs_size.png`, `disagreements.png`; data: `report.json`.", ""]
    return "\n".join(lines)


#: Where each mode's label sits next to its point (dynamic and int8 files are often neighbours).
LABEL_OFFSETS = {"float32": (5, 4), "dynamic": (-6, -11), "float16": (5, 4), "int8": (5, 6)}


def plot_accuracy_vs_size(report: dict, dest: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    markers = {"float32": "o", "dynamic": "s", "float16": "^", "int8": "D"}
    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=110)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, m) in enumerate(report["models"].items()):
        color = colors[i % len(colors)]
        ax.axhline(100 * m["keras_accuracy"], color=color, ls="--", lw=0.8, alpha=0.6)
        for f in (f for f in report["files"] if f["model"] == name):
            ax.scatter(
                f["bytes"],
                100 * f["accuracy"],
                color=color,
                marker=markers.get(f["mode"], "o"),
                s=45,
                zorder=3,
            )
            ax.annotate(
                f"{name} {f['mode']}",
                (f["bytes"], 100 * f["accuracy"]),
                textcoords="offset points",
                xytext=LABEL_OFFSETS.get(f["mode"], (5, 4)),
                ha="right" if f["mode"] == "dynamic" else "left",
                fontsize=7,
            )
    ax.set_xscale("log")
    ax.set_xlabel("file size (bytes, log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"Accuracy vs size ({report['interpreter']['host']}); dashed: Keras float")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def plot_disagreements(report, evals, references, x_test, y_test, dest: Path, per_file=8) -> None:
    """Test images where a quantized file and the Keras model predict different classes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = []
    for f in report["files"]:
        if not MODES[f["mode"]].quantized:
            continue
        probs, ref = evals[f["file"]].probs, references[f["model"]]
        idx = np.flatnonzero(probs.argmax(1) != ref.argmax(1))
        if len(idx):
            panels.append((f, idx[:per_file], probs, ref))
    nrows = max(1, len(panels))
    fig, axes = plt.subplots(
        nrows, per_file, figsize=(per_file * 1.35, nrows * 1.75 + 0.4), dpi=100, squeeze=False
    )
    for ax in axes.flat:
        ax.axis("off")
    if not panels:
        axes[0, 0].text(
            0,
            0.5,
            "no quantized file disagrees with the Keras model on any image",
            fontsize=10,
            transform=axes[0, 0].transAxes,
        )
    for r, (f, idx, probs, ref) in enumerate(panels):
        for c, i in enumerate(idx):
            ax = axes[r, c]
            ax.imshow(x_test[i], cmap="gray", vmin=0, vmax=1)
            k, q = int(ref[i].argmax()), int(probs[i].argmax())
            ax.set_title(
                f"#{i} true {int(y_test[i])}\nkeras {k} ({ref[i, k]:.2f})\n"
                f"{f['mode']} {q} ({probs[i, q]:.2f})",
                fontsize=6.5,
            )
        axes[r, 0].text(
            -0.15,
            0.5,
            f["file"].removesuffix(".tflite"),
            rotation=90,
            fontsize=7,
            va="center",
            ha="right",
            transform=axes[r, 0].transAxes,
        )
    fig.suptitle("Where a quantized file disagrees with the float Keras model", fontsize=9)
    fig.tight_layout()
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def write_all(folder: Path, report, evals, references, x_test, y_test, *, plots=True) -> list[Path]:
    folder = Path(folder)
    written = []
    if plots:
        plot_accuracy_vs_size(report, folder / "accuracy_vs_size.png")
        plot_disagreements(report, evals, references, x_test, y_test, folder / "disagreements.png")
        written += [folder / "accuracy_vs_size.png", folder / "disagreements.png"]
    atomic_write_text(folder / "report.md", render_markdown(report))
    atomic_write_text(folder / "report.json", json.dumps(report, indent=2, default=_json) + "\n")
    written += [folder / "report.md", folder / "report.json"]
    return written


def _json(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
