"""The convert report: a terminal table, ``report.json``, ``report.md`` and two plots.

Every number comes from the :class:`convert.results.StageReport` built by
:mod:`convert.pipeline`; the renderers only format it, so the terminal, the JSON and the
Markdown cannot disagree.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from convert import calibration
from convert.results import DeviceResult, FileResult, StageReport, json_default
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
    ("2.14", "loads and runs in tflite-runtime 2.14 (.venv-edge); `table` = version table only"),
    ("2.14 µs", "single-image latency p50 on tflite-runtime 2.14, same machine"),
    ("2.14 Δpp", "drift in pp of the same file's predictions on tflite-runtime 2.14"),
    ("LiteRT", "loads and runs in ai-edge-litert as Raspberry Pi OS trixie installs it (pinned)"),
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


def compat_cell(f: FileResult) -> str:
    mark = {True: "yes", False: "NO", None: "?"}[f.device.runs]
    return mark if f.device.checked else f"{mark} (table)"


def litert_cell(f: FileResult) -> str:
    """ai-edge-litert's answer; no op-version table exists for it, so unchecked is unknown."""
    if not (f.litert and f.litert.checked):
        return "—"
    return {True: "yes", False: "NO", None: "?"}[f.litert.runs]


def rows(report: StageReport) -> list[list[str]]:
    """The summary table, one Keras row then one row per file, per model."""
    out = []
    for name, m in report.models.items():
        lat = m.keras_latency_us
        out.append(
            [
                name, "keras", _fmt_int(m.keras_bytes), "", f"{100 * m.keras_accuracy:.2f}",
                "", "", "", f"{lat['p50']:.0f}/{lat['p90']:.0f}/{lat['p99']:.0f}", "", "", "", "",
                "",
            ]
        )  # fmt: skip
        for f in (f for f in report.files if f.model == name):
            lat, dev, c = f.latency_us, f.device, f.comparison
            mode = f.mode + (f" ({f.io_dtype} I/O)" if f.io_dtype == "uint8" else "")
            out.append(
                [
                    "", mode, _fmt_int(f.bytes), _fmt(f.size_ratio_vs_float32, ".3f"),
                    f"{100 * c.accuracy:.2f}", f"{c.drift_pp:+.2f}",
                    f"{100 * c.agreement:.2f}", f"{c.max_abs_prob_delta:.4f}",
                    f"{lat['p50']:.1f}/{lat['p90']:.1f}/{lat['p99']:.1f}",
                    _kilo(f.throughput_ips), compat_cell(f),
                    _fmt(dev.latency_us_p50, ".1f"), _fmt(dev.drift_pp, "+.2f"), litert_cell(f),
                ]
            )  # fmt: skip
    return out


def ops_text(f: FileResult) -> str:
    return ", ".join(o.label for o in f.ops)


def device_note(f: FileResult) -> str:
    """Why a file does not run on the device: the interpreter's error or the table's blockers."""
    note = f.device.error or "; ".join(f.device.table_blockers or [])
    return f": {note}" if note and not f.device.runs else ""


def validation_lines(report: StageReport) -> list[str]:
    """One line on how the int8 and dynamic files were chosen on the validation split."""
    parts, images = [], 0
    for f in report.files:
        v = f.validation_choice
        if not v or not v["candidates"]:
            continue
        images = v["images"]
        figs = ", ".join(
            f"{k} {c['disagreements']}/{c['mean_abs_dp']:.4f}" for k, c in v["candidates"].items()
        )
        parts.append(f"{f.model} {f.mode}: {v['chosen']} ({figs})")
    if not parts:
        return []
    return [
        f"chosen on {images:,} validation images (disagreements with Keras / mean Σ|Δp|): "
        + "; ".join(parts)
    ]


def header_lines(report: StageReport) -> list[str]:
    header = report.header
    it, data, rep = header["interpreter"], header["data"], header["representative"]
    sha = ", ".join(f"{k} {v[:12]}…" for k, v in data["sha256"].items())
    lines = [
        f"Interpreter: {it['host']} on the host (all accuracy and latency columns, "
        f"{it['threads']} thread); device check: "
        + (f"{it['device']} in {it['device_python']}" if it["device"] else it["device_check"])
        + (f", {it['device_trixie']} (trixie's) here" if it.get("device_trixie") else ""),
        f"Data: {data['source']} ({data['test_images']:,} test images"
        + (", canonical MNIST" if data["verified_canonical"] else ", NOT verified canonical")
        + f"); sha256 {sha}",
        f"int8 calibration: {rep['count']:,} training images, seed {rep['seed']}, "
        f"per class {rep['per_class']}",
        *validation_lines(report),
        f"Machine: {header['machine']['cpus']} CPUs, load average "
        f"{header['machine']['loadavg_start'][0]} -> {header['machine']['loadavg_end'][0]}; "
        f"versions: " + ", ".join(f"{k} {v}" for k, v in header["versions"].items() if v),
    ]
    return lines


def render_terminal(report: StageReport, console) -> None:
    """The rich table, then the operator list of each file and the gate verdict."""
    from rich.table import Table

    table = Table(title="digit-convert report", header_style="bold", show_lines=False)
    for header, _ in COLUMNS:
        justify = "left" if header in ("model", "mode") else "right"
        table.add_column(header, justify=justify, no_wrap=True)
    for row in rows(report):
        style = "dim" if row[1] == "keras" else None
        if row[1] != "keras" and "NO" in (row[10][:2], row[13]):
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
    for f in report.files:
        ops.add_row(
            f.file, ops_text(f), f.min_runtime_version or "?", compat_cell(f) + device_note(f)
        )
    console.print(ops)
    gate = report.gate
    for item in gate.incompatible:
        console.print(f"does not run on tflite-runtime 2.14: {item}", style="bold red")
    for item in gate.incompatible_litert:
        console.print(f"does not run on ai-edge-litert: {item}", style="bold red")
    for item in gate.unverified:
        console.print(f"device check did not answer (no file verified): {item}", style="bold red")
    if gate.max_drift_pp is not None:
        if gate.failed:
            console.print(
                f"drift gate {gate.max_drift_pp} pp: FAILED {gate.failed}", style="bold red"
            )
        else:
            console.print(f"drift gate {gate.max_drift_pp} pp: passed", style="green")


def device_lines(report: StageReport, attribute: str, where: str) -> list[str]:
    """The Markdown section of one of the Pi's interpreters (``FileResult.device`` or
    ``.litert``): every file's load, accuracy, agreement and latency there."""
    results: list[tuple[str, DeviceResult | None]] = [
        (f.file, getattr(f, attribute)) for f in report.files
    ]
    runtime = next((d.runtime for _, d in results if d and d.runtime), None)
    lines = ["", f"## On the Pi's interpreter {runtime or attribute} ({where})", ""]
    lines += [
        "| file | loads | acc % | drift pp | agree % (Keras) | agree % (host) "
        "| max\\|Δp\\| vs host | p50 / p90 µs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for file, d in results:
        if d is None or not d.checked:
            reason = d.reason if d else "not run"
            lines.append(f"| {file} | not checked ({reason or ''}) |" + " |" * 6)
            continue
        lines.append(
            f"| {file} | {'yes' if d.loads else 'NO: ' + str(d.error)} | "
            f"{pct(d.accuracy)} | {_fmt(d.drift_pp, '+.2f')} | "
            f"{pct(d.agreement)} | {pct(d.agreement_with_host)} | "
            f"{_fmt(d.max_abs_prob_delta_vs_host, '.4f')} | "
            f"{_fmt(d.latency_us_p50, '.1f')} / {_fmt(d.latency_us_p90, '.1f')} |"
        )
    return lines


def render_markdown(report: StageReport) -> str:
    headers = [h for h, _ in COLUMNS]
    lines = ["# digit-convert report", ""]
    lines += [f"- {line}" for line in header_lines(report)]
    cells = [h.replace("|", "\\|") for h in headers]
    lines += ["", "| " + " | ".join(cells) + " |", "|" + "---|" * len(headers)]
    for row in rows(report):
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    lines += ["", "## Per-class drift (pp) of the quantized files", ""]
    lines += ["| file | " + " | ".join(str(c) for c in range(10)) + " |", "|" + "---|" * 11]
    for f in report.files:
        if f.quantized:
            cells = [f"{d:+.2f}" for d in f.comparison.per_class_drift_pp]
            lines.append(f"| {f.file} | " + " | ".join(cells) + " |")
    lines += ["", "## Operators and the device runtime", ""]
    lines += [
        "| file | ops (version ×nodes) | min runtime | tflite-runtime 2.14 |",
        "|---|---|---|---|",
    ]
    for f in report.files:
        lines.append(
            f"| {f.file} | {ops_text(f)} | {f.min_runtime_version or '?'} | "
            f"{compat_cell(f)}{device_note(f)} |"
        )
    for d, where in (("device", "`.venv-edge`"), ("litert", "the host environment")):
        lines += device_lines(report, d, where)
    lines += calibration.markdown(report.calibration)
    lines += ["", "## Columns", ""]
    lines += [f"- **{h}**: {text}" for h, text in COLUMNS]
    gate = report.gate
    if gate.max_drift_pp is not None:
        verdict = f"FAILED: {', '.join(gate.failed)}" if gate.failed else "passed"
        lines += ["", f"Drift gate ±{gate.max_drift_pp} pp: {verdict}"]
    lines += ["", "Plots: `accuracy_vs_size.png`, `disagreements.png`, `coverage.png`; data: "
              "`report.json`.", ""]  # fmt: skip
    return "\n".join(lines)


#: Where each mode's label sits next to its point (dynamic and int8 files are often neighbours).
LABEL_OFFSETS = {"float32": (5, 4), "dynamic": (-6, -11), "float16": (5, 4), "int8": (5, 6)}


def plot_accuracy_vs_size(report: StageReport, dest: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    markers = {"float32": "o", "dynamic": "s", "float16": "^", "int8": "D"}
    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=110)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, m) in enumerate(report.models.items()):
        color = colors[i % len(colors)]
        ax.axhline(100 * m.keras_accuracy, color=color, ls="--", lw=0.8, alpha=0.6)
        for f in (f for f in report.files if f.model == name):
            point = (f.bytes, 100 * f.comparison.accuracy)
            ax.scatter(*point, color=color, marker=markers.get(f.mode, "o"), s=45, zorder=3)
            ax.annotate(
                f"{name} {f.mode}",
                point,
                textcoords="offset points",
                xytext=LABEL_OFFSETS.get(f.mode, (5, 4)),
                ha="right" if f.mode == "dynamic" else "left",
                fontsize=7,
            )
    ax.set_xscale("log")
    ax.set_xlabel("file size (bytes, log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"Accuracy vs size ({report.header['interpreter']['host']}); dashed: Keras float")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def plot_disagreements(report: StageReport, x_test, y_test, dest: Path, per_file=8) -> None:
    """Test images where a quantized file and the Keras model predict different classes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = []
    for f in report.files:
        if not f.quantized:
            continue
        probs, ref = f.probs, report.models[f.model].probs
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
                f"{f.mode} {q} ({probs[i, q]:.2f})",
                fontsize=6.5,
            )
        axes[r, 0].text(
            -0.15,
            0.5,
            f.file.removesuffix(".tflite"),
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


def write_all(folder: Path, report: StageReport, x_test, y_test, *, plots=True) -> list[Path]:
    folder = Path(folder)
    written = []
    if plots:
        plot_accuracy_vs_size(report, folder / "accuracy_vs_size.png")
        plot_disagreements(report, x_test, y_test, folder / "disagreements.png")
        written += [folder / "accuracy_vs_size.png", folder / "disagreements.png"]
        if calibration.plot(report.calibration, folder / "coverage.png"):
            written.append(folder / "coverage.png")
    atomic_write_text(folder / "report.md", render_markdown(report))
    text = json.dumps(report.to_dict(), indent=2, default=json_default) + "\n"
    atomic_write_text(folder / "report.json", text)
    written += [folder / "report.md", folder / "report.json"]
    return written
