"""genrt.ext: image pre/post-processing at memory speed (Cython, OpenMP, GIL released).

Public functions (all validate their arguments once, then call a kernel that trusts them):

    to_uint8(images, value_range=(-1, 1), layout="NHWC", out=None)   float N,C,H,W -> uint8 N,H,W,C
    to_float(images, value_range=(-1, 1))                             uint8 N,H,W,C -> float32 N,C,H,W
    make_grid(images, nrow=8, padding=2, pad_value=0)                 uint8 N,H,W,C -> uint8 H',W',C
    to_grid(images, value_range=(-1, 1), nrow=8, padding=2, pad_value=0)   float -> grid, one pass
    grid_shape(images_shape, nrow=8, padding=2)                       the grid's (H', W', C)

Each converter also takes `out=`, a caller-owned output array that is filled
and returned (no allocation: the runtime reuses its buffers this way).

The rules are defined in `genrt.ext.reference` (plain numpy), which is also the
fallback when the compiled extension is missing: `BACKEND` says which serves
("cython" or "numpy"); both give identical bytes. Set GENRT_EXT=numpy to force
the fallback.

Non-contiguous or Fortran-order inputs are copied to C order first; wrong dtypes
raise TypeError and wrong shapes or values raise genrt.errors.InputError (a ValueError), naming the argument.

The compiled module loads on first use. Importing genrt.ext changes no process
state; the `genrt` command asks for passive OpenMP waiting before it loads
(genrt.cli.prefer_passive_openmp_wait says why); an application sets
OMP_WAIT_POLICY=PASSIVE itself.
"""

from __future__ import annotations

import functools
import importlib
import math
import os
from collections.abc import Sequence
from numbers import Real
from types import ModuleType
from typing import Any

import numpy as np

from genrt.errors import InputError
from genrt.limits import integer
from genrt.ext import reference

__all__ = ["BACKEND", "backend_info", "check_range", "grid_shape", "make_grid", "to_float", "to_grid", "to_uint8"]

CHANNELS = (1, 3, 4)
LAYOUTS = ("NHWC", "NCHW")


# (compiled module or None, why the numpy fallback serves or None), set on first use
_loaded: tuple[ModuleType | None, str | None] | None = None


def _compiled() -> Any:
    """The compiled kernels module, or None when the numpy fallback serves; imported on first use."""
    global _loaded
    if _loaded is None:
        if os.environ.get("GENRT_EXT", "").lower() == "numpy":
            _loaded = None, "GENRT_EXT=numpy is set"
        else:
            try:
                _loaded = importlib.import_module("genrt.ext._kernels"), None
            except ImportError as exc:  # not compiled: a source checkout without a build
                _loaded = None, f"compiled extension not importable ({exc}); reinstall genrt with a C compiler"
    return _loaded[0]


def __getattr__(name: str) -> str:
    if name == "BACKEND":  # "cython" or "numpy": which implementation serves (loads the kernels)
        return "cython" if _compiled() is not None else "numpy"
    raise AttributeError(f"module 'genrt.ext' has no attribute {name!r}")


def backend_info() -> dict[str, Any]:
    """Which implementation serves, and its OpenMP threads (0 when serial or numpy)."""
    kernels = _compiled()
    if kernels is None:
        return {"backend": "numpy", "openmp": False, "threads": 0, "reason": _loaded[1] if _loaded else None}
    openmp = kernels.openmp_enabled()
    return {
        "backend": "cython",
        "openmp": openmp,
        "threads": kernels.openmp_max_threads() if openmp else 0,
        "wait_policy": os.environ.get("OMP_WAIT_POLICY") if openmp else None,
        "reason": None,
    }


# ---------------------------------------------------------------- validation


def _check_images(images: object, name: str, dtypes: tuple[type[np.generic], ...], channel_axis: int) -> np.ndarray:
    """Return `images` as a C-contiguous 4-D array, or raise naming what is wrong."""
    if not isinstance(images, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(images).__name__}")
    if images.dtype not in dtypes:
        expected = " or ".join(str(np.dtype(d)) for d in dtypes)
        raise TypeError(f"{name} must have dtype {expected}, got {images.dtype}; convert it with .astype()")
    if images.ndim != 4:
        layout = "N x C x H x W" if channel_axis == 1 else "N x H x W x C"
        raise InputError(f"{name} must be 4-D ({layout}), got shape {images.shape}")
    channels = images.shape[channel_axis]
    if channels not in CHANNELS:
        raise InputError(
            f"{name} must have 1, 3 or 4 channels on axis {channel_axis}, got {channels} (shape {images.shape})"
        )
    if images.size == 0:
        raise InputError(f"{name} is empty (shape {images.shape}); pass at least one image of at least 1x1 pixels")
    return np.ascontiguousarray(images)


def check_range(value_range: Sequence[float]) -> tuple[np.float32, np.float32]:
    """(lo, hi - lo) in float32 for a value range every kernel accepts: two finite numbers, lo < hi in float32.

    Raises InputError (or TypeError for non-numbers) otherwise. Cached per range.
    """
    try:
        lo, hi = value_range
    except (TypeError, ValueError):
        raise InputError(f"value_range must be a pair (lo, hi), got {value_range!r}") from None
    try:
        return _range_constants(lo, hi)
    except TypeError:  # not numbers (or not hashable)
        raise TypeError(f"value_range must hold two numbers, got {value_range!r}") from None


@functools.lru_cache(maxsize=64)
def _range_constants(lo: object, hi: object) -> tuple[np.float32, np.float32]:
    """(lo, span) in float32, checked; cached, as every batch of a run asks for the same range."""
    if not (isinstance(lo, Real) and isinstance(hi, Real)):
        raise TypeError("not numbers")
    lo32, span = reference.range_params((float(lo), float(hi)))
    if not (math.isfinite(lo32) and math.isfinite(span) and span > 0):
        raise InputError(f"value_range must be finite with lo < hi (float32), got {(lo, hi)!r}")
    return lo32, span


def _check_int(value: object, name: str, low: int, high: int | None = None) -> int:
    number = integer(value)
    if number is None:
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if number < low or (high is not None and number > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise InputError(f"{name} must be {bound}, got {number}")
    return number


# ---------------------------------------------------------------- lookup tables


@functools.lru_cache(maxsize=16)
def _float16_table(lo: float, span: float) -> np.ndarray:
    """uint8 result for each of the 65536 float16 bit patterns, by the reference rule."""
    halves = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16)
    return reference.quantize(halves, np.float32(lo), np.float32(span))


_NO_TABLE = np.zeros(0, dtype=np.uint8)


def _pixels_and_table(images: np.ndarray, lo: np.float32, span: np.float32) -> tuple[np.ndarray, np.ndarray]:
    """float16 pixels go to the kernel as raw bits plus their table; float32 as is."""
    if images.dtype == np.float16:
        return images.view(np.uint16), _float16_table(float(lo), float(span))
    return images, _NO_TABLE


# ---------------------------------------------------------------- public API


def to_uint8(images: np.ndarray, value_range: Sequence[float] = (-1.0, 1.0), layout: str = "NHWC",
             out: np.ndarray | None = None) -> np.ndarray:
    """float32/float16 N x C x H x W -> uint8 N x H x W x C (or N x C x H x W with layout="NCHW").

    u8 = clamp(floor((x - lo) / (hi - lo) * 255 + 0.5), 0, 255), NaN -> 0, in float32.
    `out`, when given, must be a C-contiguous uint8 array of the output shape; it is
    filled and returned (no allocation).
    """
    images = _check_images(images, "images", (np.float32, np.float16), channel_axis=1)
    lo, span = check_range(value_range)
    if layout not in LAYOUTS:
        raise InputError(f"layout must be 'NHWC' or 'NCHW', got {layout!r}")
    n, c, h, w = images.shape
    shape = (n, h, w, c) if layout == "NHWC" else (n, c, h, w)
    out = _check_out(out, shape)
    kernels = _compiled()
    if kernels is None:
        out[...] = reference.to_uint8(images, value_range, layout)
        return out
    pixels, table = _pixels_and_table(images, lo, span)
    if layout == "NHWC":
        kernels.float_to_grid(pixels, out.reshape(n * h, w, c), 1, 0, 0, lo, span, table)
    else:
        kernels.float_to_uint8_flat(pixels.reshape(-1), out.reshape(-1), lo, span, table)
    return out


def _check_out(out: object, shape: tuple[int, ...], dtype: type[np.generic] = np.uint8) -> np.ndarray:
    """A fresh output array, or the caller's after checking it fits."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    if not isinstance(out, np.ndarray) or out.dtype != dtype or out.shape != tuple(shape):
        found = f"{out.dtype} {out.shape}" if isinstance(out, np.ndarray) else type(out).__name__
        raise InputError(f"out must be a {np.dtype(dtype)} array of shape {tuple(shape)}, got {found}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise InputError("out must be C-contiguous and writeable")
    return out


def to_float(images: np.ndarray, value_range: Sequence[float] = (-1.0, 1.0), out: np.ndarray | None = None
             ) -> np.ndarray:
    """uint8 N x H x W x C -> float32 N x C x H x W with x = u8 / 255 * (hi - lo) + lo.

    `out`, when given, must be a C-contiguous float32 array of the output shape.
    """
    images = _check_images(images, "images", (np.uint8,), channel_axis=3)
    lo, span = check_range(value_range)
    n, h, w, c = images.shape
    out = _check_out(out, (n, c, h, w), np.float32)
    kernels = _compiled()
    if kernels is None:
        out[...] = reference.to_float(images, value_range)
        return out
    kernels.uint8_to_float(images, out, lo, span)
    return out


def make_grid(images: np.ndarray, nrow: int = 8, padding: int = 2, pad_value: int = 0,
              out: np.ndarray | None = None) -> np.ndarray:
    """Tile uint8 N x H x W x C images into one H' x W' x C image, `nrow` per row.

    torchvision make_grid layout: `padding` pixels of `pad_value` between and around
    tiles; the last row may be partly empty (filled with pad_value). Unlike
    torchvision, one image is padded too and 1-channel images stay 1-channel.
    """
    images = _check_images(images, "images", (np.uint8,), channel_axis=3)
    nrow, padding, pad_value = _check_grid_args(nrow, padding, pad_value)
    n, h, w, c = images.shape
    geo, grid = _grid_and_out(n, c, h, w, nrow, padding, out)
    kernels = _compiled()
    if kernels is None:
        grid[...] = reference.make_grid(images, nrow, padding, pad_value)
        return grid
    kernels.uint8_to_grid(images, grid, geo.ncols, padding, pad_value)
    return grid


def to_grid(
    images: np.ndarray, value_range: Sequence[float] = (-1.0, 1.0), nrow: int = 8, padding: int = 2,
    pad_value: int = 0, out: np.ndarray | None = None
) -> np.ndarray:
    """Fused to_uint8 + make_grid: float N x C x H x W -> uint8 grid H' x W' x C in one pass.

    `out`, when given, must be a C-contiguous uint8 array of the grid's shape
    (`grid_shape(images.shape, nrow, padding)`).
    """
    images = _check_images(images, "images", (np.float32, np.float16), channel_axis=1)
    lo, span = check_range(value_range)
    nrow, padding, pad_value = _check_grid_args(nrow, padding, pad_value)
    n, c, h, w = images.shape
    geo, grid = _grid_and_out(n, c, h, w, nrow, padding, out)
    kernels = _compiled()
    if kernels is None:
        grid[...] = reference.to_grid(images, value_range, nrow, padding, pad_value)
        return grid
    pixels, table = _pixels_and_table(images, lo, span)
    kernels.float_to_grid(pixels, grid, geo.ncols, padding, pad_value, lo, span, table)
    return grid


def grid_shape(images_shape: Sequence[int], nrow: int = 8, padding: int = 2, layout: str = "NCHW"
               ) -> tuple[int, int, int]:
    """Shape (H', W', C) of the grid that to_grid / make_grid build from images of this shape."""
    n, c, h, w = images_shape if layout == "NCHW" else (images_shape[0], images_shape[3], *images_shape[1:3])
    nrow, padding, _ = _check_grid_args(nrow, padding, 0)
    geo = reference.grid_geometry(n, h, w, nrow, padding)
    return (geo.height, geo.width, c)


def _grid_and_out(n: int, c: int, h: int, w: int, nrow: int, padding: int, out: object
                  ) -> tuple[reference.GridGeometry, np.ndarray]:
    """The grid's geometry, and the array to fill: the caller's `out` once checked, or a new one."""
    geo = reference.grid_geometry(n, h, w, nrow, padding)
    return geo, _check_out(out, (geo.height, geo.width, c))


def _check_grid_args(nrow: object, padding: object, pad_value: object) -> tuple[int, int, int]:
    return (
        _check_int(nrow, "nrow", 1),
        _check_int(padding, "padding", 0),
        _check_int(pad_value, "pad_value", 0, 255),
    )

