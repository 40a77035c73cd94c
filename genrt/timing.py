"""Timing contenders side by side on a shared, noisy machine: interleaved rounds, medians.

Used by `genrt optimize` to choose rewrites and by the scripts in benchmarks/.
"""

from __future__ import annotations

import random
import statistics
import time


def time_interleaved(funcs: dict, repeats: int, number: int = 1, warmup: int = 2) -> dict:
    """Median seconds per call of each function, timed in alternating rounds (see sample_interleaved)."""
    samples = sample_interleaved(funcs, repeats, number, warmup)
    return {name: statistics.median(s) for name, s in samples.items()}


def sample_interleaved(funcs: dict, repeats: int, number: int = 1, warmup: int = 2) -> dict[str, list[float]]:
    """Seconds per call of each function in each of `repeats` alternating rounds.

    Each round times every function once (`number` back-to-back calls, averaged),
    in an order shuffled every round (seeded): drift on a shared machine hits all
    contenders alike, and no function always runs right after the same neighbour,
    whose cache and TLB footprint it would inherit.
    """
    for f in funcs.values():  # warm up: page faults, tables, thread pools, provider set-up
        for _ in range(warmup):
            f()
    samples = {name: [] for name in funcs}
    names = list(funcs)
    order = random.Random(0)
    for _ in range(repeats):
        order.shuffle(names)
        for name in names:
            f = funcs[name]
            start = time.perf_counter()
            for _ in range(number):
                f()
            samples[name].append((time.perf_counter() - start) / number)
    return samples
