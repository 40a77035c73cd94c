"""Latency statistics: the summary `genrt bench` reports for each batch size and target."""

from __future__ import annotations

import numpy as np

PERCENTILES = (50, 90, 95, 99)
FIELDS = ("mean", "std", "min", "p50", "p90", "p95", "p99", "max")


def latency_stats(seconds) -> dict[str, float]:
    """mean, std, min, p50, p90, p95, p99, max of per-call latencies, in milliseconds.

    Percentiles are numpy's default (linear interpolation between closest ranks);
    std is the population standard deviation (ddof=0).
    """
    ms = np.asarray(seconds, dtype=np.float64) * 1e3
    if ms.size == 0:
        raise ValueError("no latencies to summarise")
    stats = {"mean": float(ms.mean()), "std": float(ms.std()), "min": float(ms.min())}
    for q, value in zip(PERCENTILES, np.percentile(ms, PERCENTILES)):
        stats[f"p{q}"] = float(value)
    stats["max"] = float(ms.max())
    return {k: stats[k] for k in FIELDS}
