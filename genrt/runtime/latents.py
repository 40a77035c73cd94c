"""Seeded latents, counter-based: the latent of image i depends only on (seed, i).

genrt's seed promise, for every command and the Python API. The latents of seed s
(0 <= s <= MAX_SEED) form an unbounded table of D columns; image i takes row i:

  words    row i is words [i*W, (i+1)*W) of the raw stream of numpy.random.Philox(key=s)
           (its `random_raw`), W = 4*ceil(D/8): whole Philox blocks of four 64-bit words,
           each word making two values.
  radius   word k's high 32 bits h: r_k = sqrt(-2 ln u), u = (h + 1) / 2**32, in (0, 1].
  angle    its low 32 bits l: t_k = 2 pi l / 2**32 - pi, in [-pi, pi).
  values   column k < W is r_k cos t_k, column W + k is r_k sin t_k; the first D of the
           2W columns are kept, computed in float64 and rounded to float32.

This is Box-Muller on Philox4x64-10 (Salmon et al., "Parallel random numbers: as easy
as 1, 2, 3", SC 2011; numpy's implementation), as counter-based generators make
normals (cuRAND's Philox normals are Box-Muller too). Any range of rows is one
positioning of Philox's 256-bit counter (block i*W/4) and one vectorized draw, so a
shard, a batch, a server request or a Ray worker draws exactly its own rows, and the
images never depend on how rows are grouped. Values are exact for one machine; another CPU kind may round the float64 log, sin and
cos differently in the last bit (as onnxruntime's own kernels do).

`interpolate_latents` walks between two latents (slerp or lerp) for interpolation strips.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator

import numpy as np

from genrt.errors import InputError
from genrt.limits import integer, positive_int
from genrt.spec import MAX_SEED

ROWS_PER_DRAW = 4096  # rows computed at once: the float64 temporaries stay near 10 MB for D = 100
_RADIUS_UNIT = 1.0 / (1 << 32)
_ANGLE_UNIT = 2 * np.pi / (1 << 32)
_LOW_32, _HIGH = np.uint64(0xFFFFFFFF), np.uint64(32)


class _ThreadPhilox(threading.local):
    def __init__(self) -> None:
        self.bits = np.random.Philox(key=0)


_per_thread = _ThreadPhilox()


def row_words(width: int) -> int:
    """W: the Philox words one latent row of `width` values takes (two values a word, whole blocks of four)."""
    return 4 * -(-width // 8)


def check_seed(seed: object) -> int:
    """`seed` as an int in 0..MAX_SEED, or InputError naming it."""
    number = integer(seed)
    if number is None or not 0 <= number <= MAX_SEED:
        raise InputError(f"`seed` must be an integer from 0 to 2**64 - 1, got {seed!r}")
    return number


def check_sampling(n: object, seed: object, truncation: object, start: object = 0) -> int:
    """`n` as an int after checking what a sample call asks for: n >= 1 images, a seed (or None), a truncation in
    (0, 1], and `start` (the index of the first image) >= 0; InputError naming the first that is wrong."""
    count = positive_int(n, "n")
    if not (isinstance(truncation, (int, float)) and 0.0 < truncation <= 1.0):
        raise InputError(f"truncation must be in (0, 1] (1.0 = off), got {truncation!r}")
    if seed is not None:
        check_seed(seed)
    first = integer(start)
    if first is None or first < 0:
        raise InputError(f"`start` must be a non-negative integer (the index of the first image), got {start!r}")
    return count


def fresh_seed() -> int:
    """A seed drawn from the OS's entropy, for calls that pass seed=None."""
    return secrets.randbits(64)


def _philox_at(seed: int, block: int) -> np.random.Philox:
    """This thread's Philox bit generator, keyed by `seed`, whose next word is the first of block `block`.

    numpy's Philox adds one to its counter before each block, so the stream of
    Philox(key=seed) starts at counter 1; `block` b of it is counter b + 1.
    """
    bits = _per_thread.bits
    counter = [(block >> shift) & 0xFFFFFFFFFFFFFFFF for shift in (0, 64, 128, 192)]
    bits.state = {"bit_generator": "Philox",
                  "state": {"counter": np.array(counter, np.uint64), "key": np.array([seed, 0], np.uint64)},
                  "buffer": np.zeros(4, np.uint64), "buffer_pos": 4, "has_uint32": 0, "uinteger": 0}
    return bits


def _rows_into(out: np.ndarray, seed: int, start: int) -> None:
    """Fill float32 `out` (rows x D) with rows start.. of seed's latents (the module's rule).

    Few numpy calls on purpose: at batch 1 their fixed cost is most of the time.
    """
    rows, width = out.shape
    words = row_words(width)
    raw = _philox_at(seed, start * words // 4).random_raw(rows * words).reshape(rows, words)
    radius = np.log(((raw >> _HIGH) + 1) * _RADIUS_UNIT)
    radius *= -2.0
    np.sqrt(radius, out=radius)
    angle = (raw & _LOW_32) * _ANGLE_UNIT
    angle -= np.pi
    out[:, : min(words, width)] = (radius * np.cos(angle))[:, :width]
    if width > words:
        out[:, words:] = (radius * np.sin(angle))[:, : width - words]


def latent_rows(seed: int, start: int, stop: int, width: int) -> np.ndarray:
    """float32 (stop - start) x width: rows start..stop-1 of the latents of `seed` (the module's rule)."""
    seed = check_seed(seed)
    out = np.empty((stop - start, width), dtype=np.float32)
    for first in range(0, stop - start, ROWS_PER_DRAW):
        _rows_into(out[first: first + ROWS_PER_DRAW], seed, start + first)
    return out


def latent_chunks(seed: int, start: int, stop: int, width: int, rows: int) -> Iterator[np.ndarray]:
    """latent_rows(seed, start, stop, width), `rows` rows at a time: the same values, in bounded memory."""
    for first in range(start, stop, rows):
        yield latent_rows(seed, first, min(first + rows, stop), width)


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
    if (integer(steps) or 0) < 2:
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
