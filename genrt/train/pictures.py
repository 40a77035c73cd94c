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
    """Plot every loss in metrics.jsonl against the step, to a PNG (matplotlib, headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    if not os.path.exists(metrics_path):  # a run shorter than one logging interval
        return
    with open(metrics_path) as f:
        for line in f:
            row = json.loads(line)
            if row.get("event") == "step":
                rows.append(row)
    if not rows:
        return
    keys = [k for k in rows[-1] if k.endswith("loss") or k in ("recon", "kl")]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    steps = [r["step"] for r in rows]
    for key in keys:
        ax.plot(steps, [r.get(key, np.nan) for r in rows], label=key, linewidth=1)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    with atomic_write(path) as f:
        f.write(buffer.getvalue())
