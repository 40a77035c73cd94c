"""Pictures of a training run: sample grids from fixed noise, and the loss curves."""

from __future__ import annotations

import io
import json
import os

import numpy as np

import genrt.ext as ext
from genrt.files import atomic_write, save_image


def save_grid(path, images: np.ndarray, value_range, nrow: int) -> None:
    """float N x C x H x W images -> one PNG grid, atomically."""
    grid = ext.to_grid(np.ascontiguousarray(images, dtype=np.float32), value_range=value_range, nrow=nrow)
    save_image(path, grid, "png")


def save_loss_curve(path, metrics_path, title: str) -> None:
    """Plot every loss in metrics.jsonl against the step, and beside them the quality scores if the run took
    any (`eval_every`), to a PNG (matplotlib, headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not os.path.exists(metrics_path):  # a run shorter than one logging interval
        return
    rows = {"step": [], "eval": []}
    with open(metrics_path) as f:
        for line in f:
            row = json.loads(line)
            if row.get("event") in rows:
                rows[row["event"]].append(row)
    steps, scores = rows["step"], rows["eval"]
    if not steps and not scores:
        return
    fig, axes = plt.subplots(1, 2 if scores else 1, figsize=(12 if scores else 7, 4), dpi=100, squeeze=False)
    ax = axes[0][0]
    keys = [k for k in steps[-1] if k.endswith("loss") or k in ("recon", "kl")] if steps else []
    for key in keys:
        ax.plot([r["step"] for r in steps], [r.get(key, np.nan) for r in steps], label=key, linewidth=1)
    _label(ax, "loss", title)
    if scores:
        _plot_scores(axes[0][1], scores)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    with atomic_write(path) as f:
        f.write(buffer.getvalue())


def _plot_scores(ax, scores: list[dict]) -> None:
    """FID against the step (the best marked: the last row the run flagged, or the lowest FID in rows from before
    the flag), and class accuracy on a second axis when the model has classes."""
    steps, fid = [r["step"] for r in scores], [r["fid"] for r in scores]
    ax.plot(steps, fid, "o-", color="tab:red", label="FID", linewidth=1, markersize=3)
    if any("best" in r for r in scores):  # the run's own choice (eval_min_accuracy may pass over the lowest FID)
        flagged = [i for i, r in enumerate(scores) if r.get("best")]
        best = flagged[-1] if flagged else None
    else:  # a metrics file from before the flag
        best = int(np.argmin(fid))
    if best is not None:
        ax.annotate(f"best {fid[best]:.1f}", (steps[best], fid[best]), textcoords="offset points", xytext=(0, 8),
                    ha="center", fontsize=8)
    _label(ax, "FID (lower is better)", "quality on the held-out images")
    if "class_accuracy" in scores[-1]:
        twin = ax.twinx()
        twin.plot(steps, [100 * r.get("class_accuracy", np.nan) for r in scores], "s--", color="tab:blue",
                  label="class accuracy", linewidth=1, markersize=3)
        twin.set_ylabel("class accuracy (%)")
        twin.legend(loc="upper center")


def _label(ax, ylabel: str, title: str) -> None:
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
