"""Seeded latents: exactly `numpy.random.default_rng(seed).standard_normal(shape, float32)`, built faster.

That expression is genrt's seed promise. Building the generator costs about 12 us
(numpy hashes the seed in a Python-level loop), and measured in place, right
before a session run, it costs the run about 50 us more, a quarter of a batch-1
run of the bundled model. So each thread keeps one PCG64 generator and moves it
to the state numpy would derive from the seed: SeedSequence's words come from
`genrt.ext.seed_words` (compiled), and PCG64's seeding is two steps of its
128-bit LCG. The result is checked against numpy once per process; any mismatch,
a seed outside 0 <= seed < 2**64, or the numpy fallback of genrt.ext takes the
plain `default_rng` path, so the numbers never depend on which path served.

`interpolate_latents` walks between two latents (slerp or lerp) for interpolation strips.
"""

from __future__ import annotations

import threading
from numbers import Integral

import numpy as np

import genrt.ext as ext
from genrt.errors import InputError

PCG64_MULTIPLIER = 0x2360ED051FC65DA44385DF649FCCF645  # PCG's default 128-bit LCG multiplier
MASK_128 = (1 << 128) - 1


def pcg64_state(seed: int) -> dict:
    """The `PCG64.state` dict of numpy.random.PCG64(seed), for 0 <= seed < 2**64.

    PCG64 takes SeedSequence(seed).generate_state(4, uint64) = (s0, s1, i0, i1) as
    initstate = s0:s1 and initseq = i0:i1 (high:low), then runs PCG's srandom:
    inc = 2 * initseq + 1; state = (inc + initstate) * multiplier + inc.
    """
    s0, s1, i0, i1 = ext.seed_words(seed)
    inc = ((i0 << 64 | i1) << 1 | 1) & MASK_128
    state = ((inc + (s0 << 64 | s1)) * PCG64_MULTIPLIER + inc) & MASK_128
    return {"bit_generator": "PCG64", "state": {"state": state, "inc": inc}, "has_uint32": 0, "uinteger": 0}


class _ThreadGenerator(threading.local):
    def __init__(self):
        self.bits = np.random.PCG64(0)
        self.generator = np.random.Generator(self.bits)


_per_thread = _ThreadGenerator()
_fast_path_checked: bool | None = None  # None until checked against numpy on first use


def _fast_path_ok() -> bool:
    global _fast_path_checked
    if _fast_path_checked is None:
        seed = 0x9E3779B97F4A7C15
        _fast_path_checked = ext.BACKEND == "cython" and pcg64_state(seed) == np.random.PCG64(seed).state
    return _fast_path_checked


def seeded_generator(seed) -> np.random.Generator:
    """A numpy Generator in the state `numpy.random.default_rng(seed)` starts in (this thread's own).

    Only valid until the thread's next call: draw from it at once. seed=None draws fresh OS entropy.
    """
    if isinstance(seed, Integral) and 0 <= seed < 1 << 64 and _fast_path_ok():
        _per_thread.bits.state = pcg64_state(int(seed))
        return _per_thread.generator
    return np.random.default_rng(seed)


def standard_normal(shape, seed) -> np.ndarray:
    """float32 standard normal values of `shape`, identical to numpy.random.default_rng(seed)'s."""
    return seeded_generator(seed).standard_normal(shape, dtype=np.float32)


def standard_normal_rows(n: int, width: int, seed, rows: int):
    """standard_normal((n, width), seed), `rows` rows at a time: the same values, in bounded memory.

    The draws continue one stream, so the chunks concatenate to the single draw. The
    stream has its own generator, started in seeded_generator's state (the thread's
    generator would be moved by any draw in between).
    """
    generator = np.random.Generator(np.random.PCG64())
    generator.bit_generator.state = seeded_generator(seed).bit_generator.state
    for start in range(0, n, rows):
        yield generator.standard_normal((min(rows, n - start), width), dtype=np.float32)


INTERPOLATION_MODES = ("slerp", "lerp")


def interpolate_latents(a: np.ndarray, b: np.ndarray, steps: int, mode: str = "slerp", start: int = 0,
                        stop: int | None = None) -> np.ndarray:
    """float32 steps x D latents from `a` to `b` inclusive, by spherical ("slerp") or linear ("lerp") steps.

    Slerp is the formula of White, "Sampling Generative Networks" (2016):
    sin((1-t)w)/sin(w) a + sin(tw)/sin(w) b, with w the angle between a and b; it
    keeps intermediate latents at a typical Gaussian norm, where lerp would pass
    near the origin. For (anti)parallel vectors the arc is undefined and it falls
    back to lerp. Computed in float64, returned as float32 with exact ends.
    `start`, `stop`: only steps start..stop-1 of the path (the same values), for long paths.
    """
    if isinstance(steps, bool) or not isinstance(steps, Integral) or steps < 2:
        raise InputError(f"steps must be at least 2 (both ends are included) and an integer, got {steps!r}")
    if mode not in INTERPOLATION_MODES:
        raise InputError(f"mode must be one of {', '.join(INTERPOLATION_MODES)}, got {mode!r}")
    stop = steps if stop is None else stop
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    t = (np.arange(start, stop, dtype=np.float64) * (1.0 / (steps - 1)))[:, None]  # np.linspace(0, 1, steps)'s values
    path = (1.0 - t) * a64 + t * b64
    norms = np.linalg.norm(a64) * np.linalg.norm(b64)
    if mode == "slerp" and norms > 0.0:
        omega = np.arccos(np.clip(a64 @ b64 / norms, -1.0, 1.0))
        if np.sin(omega) > 1e-6:
            path = (np.sin((1.0 - t) * omega) * a64 + np.sin(t * omega) * b64) / np.sin(omega)
    if start == 0:
        path[0] = a64
    if stop == steps:
        path[-1] = b64
    return path.astype(np.float32)
