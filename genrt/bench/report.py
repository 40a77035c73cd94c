"""The bench report as a terminal table, CSV (one row per target and batch size) and a PNG plot."""

from __future__ import annotations

import csv
import io
import json

from genrt.bench.stats import FIELDS
from genrt.errors import DependencyError
from genrt.files import atomic_write

STAGES = ("latents", "inference", "to_uint8", "png_grid")
CSV_COLUMNS = (
    ["target", "batch", "iters"] + [f"{f}_ms" for f in FIELDS]
    + ["images_per_s", "peak_host_mb", "peak_device_mb", "genrt_time_ratio"] + [f"{s}_ms" for s in STAGES]
)


def table(report: dict) -> str:
    env, model, phases = report["environment"], report["model"], report["phases"]
    shape = "x".join(map(str, model["image_shape"] or ["?"]))
    gpu = f", GPU {env['gpu']['name']} (driver {env['gpu']['driver']})" if env.get("gpu") else ""
    lines = [
        f"model     {model['path']} ({model['kind']}, {shape}, {model['precision']}, sha256 {model['sha256'][:16]})",
        f"runs on   {env['provider']} (asked: {env['device_asked']}); CPU {env['cpu']}, {env['logical_cpus']} logical, "
        f"threads {env['threads']}{gpu}",
        f"versions  genrt {env['genrt']}, onnxruntime {env['onnxruntime']}, numpy {env['numpy']}",
        f"phases    session creation {phases['session_create_ms']:.1f} ms; first run (batch {phases['first_run_batch']}, "
        f"cold) {phases['first_run_ms']:.2f} ms",
        "",
        f"{'target':<19}{'batch':>6}{'iters':>7}" + "".join(f"{f:>9}" for f in FIELDS) + f"{'images/s':>10}   vs genrt",
    ]
    for row in report["results"]:
        stats = row["latency_ms"]
        ratio = ""
        if row["target"] in ("onnxruntime", "onnxruntime-device"):
            ratio = f"genrt takes {row['genrt_time_ratio']:.2f}x"
        elif row["target"].startswith("onnxruntime:"):
            ratio = f"genrt {1 / row['genrt_time_ratio']:.2f}x faster"
        elif row["target"] == "torch":
            ratio = f"genrt {1 / row['genrt_time_ratio']:.2f}x faster"
        lines.append(f"{row['target']:<19}{row['batch']:>6}{row['iters']:>7}"
                     + "".join(f"{_ms(stats[f]):>9}" for f in FIELDS) + f"{row['images_per_s']:>10.0f}   {ratio}")
    lines.append("(latency in ms; vs genrt compares medians)")
    for row in report["results"]:
        if row["target"] == "genrt":
            s = row["stages_ms"]
            device = (f", peak GPU memory in use {row['peak_device_mb']:.0f} MB (whole GPU)"
                      if row["peak_device_mb"] is not None else "")
            lines.append(f"batch {row['batch']:>4}: latents {_ms(s['latents'])} ms, inference {_ms(s['inference'])} ms, "
                         f"to uint8 {_ms(s['to_uint8'])} ms, PNG grid {_ms(s['png_grid'])} ms; peak host memory "
                         f"{row['peak_host_mb']:.0f} MB{device}")
    return "\n".join(lines)


def _ms(value: float) -> str:
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def csv_text(report: dict) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in report["results"]:
        flat = {"target": row["target"], "batch": row["batch"], "iters": row["iters"],
                "images_per_s": row["images_per_s"], "peak_host_mb": row["peak_host_mb"],
                "peak_device_mb": row["peak_device_mb"], "genrt_time_ratio": row.get("genrt_time_ratio")}
        flat.update({f"{f}_ms": row["latency_ms"][f] for f in FIELDS})
        flat.update({f"{s}_ms": row.get("stages_ms", {}).get(s) for s in STAGES})
        writer.writerow(flat)
    return buffer.getvalue()


def write_json(path: str, report: dict, overwrite: bool = True) -> None:
    with atomic_write(path, overwrite) as f:
        f.write(json.dumps(report, indent=2).encode())


def write_csv(path: str, report: dict, overwrite: bool = True) -> None:
    with atomic_write(path, overwrite) as f:
        f.write(csv_text(report).encode())


def write_plot(path: str, report: dict, overwrite: bool = True) -> None:
    """Latency percentiles (p50, p90, p99) and throughput against batch size, one line style per target."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise DependencyError("--plot needs matplotlib; pip install matplotlib (or genrt[train])") from None
    targets = list(dict.fromkeys(r["target"] for r in report["results"]))
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for i, target in enumerate(targets):
        rows = sorted((r for r in report["results"] if r["target"] == target), key=lambda r: r["batch"])
        batches = [r["batch"] for r in rows]
        color = f"C{i}"
        for q, style in (("p50", "-"), ("p90", "--"), ("p99", ":")):
            left.plot(batches, [r["latency_ms"][q] for r in rows], style, color=color, marker="o", markersize=3,
                      label=f"{target} {q}")
        right.plot(batches, [r["images_per_s"] for r in rows], "-", color=color, marker="o", label=target)
    model, env = report["model"], report["environment"]
    for axis, ylabel in ((left, "latency (ms)"), (right, "images/s")):
        axis.set_xscale("log", base=2)
        axis.set_xlabel("batch size")
        axis.set_ylabel(ylabel)
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=7)
    left.set_yscale("log")
    fig.suptitle(f"genrt bench: {model['kind']} {'x'.join(map(str, model['image_shape'] or []))} "
                 f"{model['precision']} on {env['provider']}", fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    with atomic_write(path, overwrite) as f:
        f.write(buffer.getvalue())
