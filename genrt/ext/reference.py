"""Plain numpy implementations of genrt's image kernels: the definition and the test oracle.

Each function here states the rule that the Cython kernels in `_kernels.pyx`
implement; the kernels must agree with these bit for bit. They also serve as the
fallback when the compiled extension is absent (`genrt.ext.BACKEND == "numpy"`).

Inputs are assumed valid (the public wrappers in `genrt.ext` check them once).
All arithmetic is float32, in exactly the order written, with no fused
multiply-add, so that C and numpy round identically:

    to_uint8:  t = (x - lo) / (hi - lo) * 255 + 0.5;  u8 = clamp(floor(t), 0, 255);  NaN -> 0
    to_float:  x = u8 / 255 * (hi - lo) + lo
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

F32_255 = np.float32(255.0)
F32_HALF = np.float32(0.5)


def range_params(value_range: Sequence[float]) -> tuple[np.float32, np.float32]:
    """Return (lo, hi - lo) as float32: the two constants both implementations use."""
    lo = np.float32(value_range[0])
    hi = np.float32(value_range[1])
    with np.errstate(over="ignore"):  # an infinite span is refused by the caller
        return lo, np.float32(hi - lo)


def quantize(x: np.ndarray, lo: np.float32, span: np.float32) -> np.ndarray:
    """The to_uint8 rule, element by element, any shape; float16 input is widened exactly."""
    x = x.astype(np.float32, copy=False)
    with np.errstate(invalid="ignore", over="ignore"):
        t = np.floor((x - lo) / span * F32_255 + F32_HALF)
        u = np.clip(t, 0, 255)
    u[np.isnan(u)] = 0
    result: np.ndarray = u.astype(np.uint8)
    return result


def dequantize(u: np.ndarray, lo: np.float32, span: np.float32) -> np.ndarray:
    """The to_float rule, element by element, any shape."""
    return u.astype(np.float32) / F32_255 * span + lo


def to_uint8(images: np.ndarray, value_range: Sequence[float] = (-1.0, 1.0), layout: str = "NHWC") -> np.ndarray:
    """float32/float16 N x C x H x W -> uint8 N x H x W x C (or N x C x H x W)."""
    u = quantize(images, *range_params(value_range))
    if layout == "NHWC":
        u = u.transpose(0, 2, 3, 1)
    return np.ascontiguousarray(u)


def to_float(images: np.ndarray, value_range: Sequence[float] = (-1.0, 1.0)) -> np.ndarray:
    """uint8 N x H x W x C -> float32 N x C x H x W scaled into value_range."""
    x = dequantize(images, *range_params(value_range))
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


class GridGeometry(NamedTuple):
    """Where tiles go in a grid (torchvision make_grid layout)."""

    ncols: int  # tiles per grid row: min(nrow, n)
    nrows: int  # grid rows: ceil(n / ncols)
    height: int  # grid height in pixels
    width: int  # grid width in pixels


def grid_geometry(n: int, tile_h: int, tile_w: int, nrow: int, padding: int) -> GridGeometry:
    """Grid of `n` tiles, `nrow` per row, `padding` pixels between and around them.

    Like torchvision's make_grid, except that a single image is padded too, so the
    geometry depends only on n, nrow and padding.
    """
    ncols = min(nrow, n)
    nrows = -(-n // ncols)
    return GridGeometry(
        ncols=ncols,
        nrows=nrows,
        height=nrows * (tile_h + padding) + padding,
        width=ncols * (tile_w + padding) + padding,
    )


def make_grid(images: np.ndarray, nrow: int = 8, padding: int = 2, pad_value: int = 0) -> np.ndarray:
    """uint8 N x H x W x C -> one uint8 grid image  H' x W' x C."""
    n, h, w, c = images.shape
    geo = grid_geometry(n, h, w, nrow, padding)
    grid = np.full((geo.height, geo.width, c), pad_value, dtype=np.uint8)
    for k in range(n):
        row, col = divmod(k, geo.ncols)
        y = row * (h + padding) + padding
        x = col * (w + padding) + padding
        grid[y : y + h, x : x + w] = images[k]
    return grid


def to_grid(images: np.ndarray, value_range: Sequence[float] = (-1.0, 1.0), nrow: int = 8, padding: int = 2,
            pad_value: int = 0) -> np.ndarray:
    """float N x C x H x W -> uint8 grid H' x W' x C: to_uint8 then make_grid."""
    return make_grid(to_uint8(images, value_range, "NHWC"), nrow, padding, pad_value)

