"""Timing contenders side by side on a shared, noisy machine: interleaved rounds, medians.

Used by `genrt optimize` to choose rewrites, by `genrt bench`, and by the scripts in benchmarks/: the one
timing loop, with one ordering rule.
"""

from __future__ import annotations

import random
import statistics
import time


def time_interleaved(funcs: dict, repeats: int, number: int = 1, warmup: int = 2) -> dict:
    """Median seconds per call of each function, timed in alternating rounds (see sample_interleaved)."""
    samples = sample_interleaved(funcs, repeats, number, warmup)
    return {name: statistics.median(s) for name, s in samples.items()}


def sample_interleaved(funcs: dict, repeats: int | None, number: int = 1, warmup: int = 2,
                       seconds: float | None = None, min_rounds: int = 1, on_round=None,
                       call=None) -> dict[str, list[float]]:
    """Seconds per call of each function in each of a number of alternating rounds.

    Each round times every function once (`number` back-to-back calls, averaged),
    in an order shuffled every round (seeded): drift on a shared machine hits all
    contenders alike, and no function always runs right after the same neighbour,
    whose cache and TLB footprint it would inherit.

    The rounds stop after `repeats` of them, or (repeats None) once `seconds` have
    passed and at least `min_rounds` ran. `on_round(rounds, elapsed)` is called after
    each round (a progress bar); `call(name, f)` runs one call (default: f()).
    """
    if repeats is None and seconds is None:
        raise ValueError("give `repeats` or `seconds`")
    call = call or (lambda _name, f: f())
    for name, f in funcs.items():  # warm up: page faults, tables, thread pools, provider set-up
        for _ in range(warmup):
            call(name, f)
    samples = {name: [] for name in funcs}
    names = list(funcs)
    order = random.Random(0)
    rounds, began = 0, time.perf_counter()
    while repeats is None or rounds < repeats:
        order.shuffle(names)
        for name in names:
            f = funcs[name]
            start = time.perf_counter()
            for _ in range(number):
                call(name, f)
            samples[name].append((time.perf_counter() - start) / number)
        rounds += 1
        elapsed = time.perf_counter() - began
        if on_round is not None:
            on_round(rounds, elapsed)
        if repeats is None and elapsed >= seconds and rounds >= min_rounds:
            break
    return samples
