# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Cython kernels behind genrt.ext: float NCHW <-> uint8 NHWC, image grids.

Do not call these directly: `genrt.ext` validates dtypes, shapes, contiguity and
ranges once, allocates the output, and then calls a kernel that trusts its
arguments (no bounds checks). The rules are in `reference.py`, which these
kernels match bit for bit.

Every kernel releases the GIL and splits its rows across OpenMP threads when the
job is large enough to pay for the threads (`PARALLEL_MIN_BYTES`).
"""

from cython.parallel cimport prange
from libc.stdint cimport uint8_t, uint16_t
from libc.string cimport memcpy, memset

cdef extern from "omp_compat.h" nogil:
    int genrt_openmp_enabled()
    int genrt_openmp_max_threads()

cdef extern from "rows.h" nogil:
    void genrt_fill(uint8_t* dst, Py_ssize_t n, int value)
    void genrt_quantize_row(const float* src, Py_ssize_t plane, Py_ssize_t C, Py_ssize_t W,
                            uint8_t* dst, float lo, float span)
    void genrt_dequantize_row(const uint8_t* src, Py_ssize_t C, Py_ssize_t W,
                              float* dst, Py_ssize_t plane, float lo, float span)

# Below this many input bytes a single thread is faster than waking a team.
cdef Py_ssize_t PARALLEL_MIN_BYTES = 1 << 17

ctypedef fused pixel_t:
    float      # float32 pixels, quantized arithmetically
    uint16_t   # float16 pixels (raw bits), quantized through a 65536-entry table


def openmp_enabled():
    """True when the extension was compiled with OpenMP."""
    return bool(genrt_openmp_enabled())


def openmp_max_threads():
    """Threads an OpenMP parallel region would use now (1 for the serial build)."""
    return genrt_openmp_max_threads()


cdef inline void convert_row(const pixel_t* src, Py_ssize_t plane, Py_ssize_t C,
                             Py_ssize_t W, uint8_t* dst, float lo, float span,
                             const uint8_t* lut) noexcept nogil:
    """One image row: C planes of W pixels (plane stride `plane`) -> W*C interleaved bytes."""
    cdef Py_ssize_t x, c
    if pixel_t is float:
        genrt_quantize_row(src, plane, C, W, dst, lo, span)   # SIMD clones in rows.h
    else:
        for c in range(C):
            for x in range(W):
                dst[x * C + c] = lut[src[c * plane + x]]


cdef struct Grid:
    # Where tiles go: see reference.grid_geometry. Byte offsets include channels.
    uint8_t* data
    Py_ssize_t row_bytes    # bytes per grid row
    Py_ssize_t tile_h
    Py_ssize_t tile_bytes   # bytes per tile row (tile_w * C)
    Py_ssize_t pad_rows     # padding in pixels
    Py_ssize_t pad_bytes    # padding * C
    Py_ssize_t ncols
    int pad_value


cdef inline Grid grid_of(uint8_t[:, :, ::1] grid, Py_ssize_t tile_h, Py_ssize_t tile_w,
                         Py_ssize_t ncols, Py_ssize_t padding, int pad_value) noexcept nogil:
    cdef Grid g
    cdef Py_ssize_t C = grid.shape[2]
    g.data = &grid[0, 0, 0]
    g.row_bytes = grid.shape[1] * C
    g.tile_h = tile_h
    g.tile_bytes = tile_w * C
    g.pad_rows = padding
    g.pad_bytes = padding * C
    g.ncols = ncols
    g.pad_value = pad_value
    return g


cdef inline uint8_t* slot_row(const Grid* g, Py_ssize_t k, Py_ssize_t y) noexcept nogil:
    """Address of row `y` of grid slot `k` (slots run left to right, top to bottom)."""
    cdef Py_ssize_t tile_row = k // g.ncols, col = k % g.ncols
    return (g.data + (tile_row * (g.tile_h + g.pad_rows) + g.pad_rows + y) * g.row_bytes
            + g.pad_bytes + col * (g.tile_bytes + g.pad_bytes))


cdef inline void pad_around(const Grid* g, Py_ssize_t k, Py_ssize_t y, uint8_t* row) noexcept nogil:
    """Padding owned by row `y` of slot `k`: the gap to its right, the gap to its left in
    column 0, and the padding band below its last row (above its first in grid row 0).
    Together with the slots' own pixels this covers every grid byte exactly once."""
    cdef Py_ssize_t span_bytes = g.tile_bytes + g.pad_bytes, i
    cdef uint8_t* band_start
    if g.pad_rows == 0:
        return
    genrt_fill(row + g.tile_bytes, g.pad_bytes, g.pad_value)
    band_start = row
    if k % g.ncols == 0:
        genrt_fill(row - g.pad_bytes, g.pad_bytes, g.pad_value)
        band_start = row - g.pad_bytes
        span_bytes = span_bytes + g.pad_bytes
    if y == g.tile_h - 1:
        for i in range(1, g.pad_rows + 1):
            genrt_fill(band_start + i * g.row_bytes, span_bytes, g.pad_value)
    if y == 0 and k < g.ncols:
        for i in range(1, g.pad_rows + 1):
            genrt_fill(band_start - i * g.row_bytes, span_bytes, g.pad_value)


def float_to_grid(const pixel_t[:, :, :, ::1] src, uint8_t[:, :, ::1] grid,
                  Py_ssize_t ncols, Py_ssize_t padding, int pad_value,
                  float lo, float span, const uint8_t[::1] lut):
    """Quantize N x C x H x W pixels straight into a grid (H' x W' x C uint8).

    With ncols=1 and padding=0 the grid *is* the N x H x W x C array, so this one
    kernel serves both `to_uint8(layout="NHWC")` and the fused `to_grid`. One pass
    in source order over every slot row (empty slots of the last grid row included)
    writes each grid byte exactly once.
    """
    cdef Py_ssize_t N = src.shape[0], C = src.shape[1], H = src.shape[2], W = src.shape[3]
    cdef Py_ssize_t plane = H * W, slots = ((N + ncols - 1) // ncols) * ncols, r, k, y
    cdef const pixel_t* base = &src[0, 0, 0, 0]
    cdef const uint8_t* table = &lut[0] if lut.shape[0] > 0 else NULL
    cdef bint threaded = N * C * plane * <Py_ssize_t>sizeof(pixel_t) >= PARALLEL_MIN_BYTES
    cdef Grid g = grid_of(grid, H, W, ncols, padding, pad_value)
    cdef uint8_t* row

    for r in prange(slots * H, nogil=True, schedule="static", use_threads_if=threaded):
        k = r // H
        y = r % H
        row = slot_row(&g, k, y)
        if k < N:
            convert_row(base + k * C * plane + y * W, plane, C, W, row, lo, span, table)
        else:
            memset(row, pad_value, g.tile_bytes)
        pad_around(&g, k, y, row)


def float_to_uint8_flat(const pixel_t[::1] src, uint8_t[::1] dst, float lo, float span,
                        const uint8_t[::1] lut):
    """Quantize element by element, keeping the layout (for layout="NCHW")."""
    cdef Py_ssize_t total = src.shape[0], block = 1 << 14
    cdef Py_ssize_t nblocks = (total + block - 1) // block
    cdef Py_ssize_t b, i, end
    cdef const pixel_t* s = &src[0]
    cdef uint8_t* d = &dst[0]
    cdef const uint8_t* table = &lut[0] if lut.shape[0] > 0 else NULL
    cdef bint threaded = total * <Py_ssize_t>sizeof(pixel_t) >= PARALLEL_MIN_BYTES

    for b in prange(nblocks, nogil=True, schedule="static", use_threads_if=threaded):
        end = min((b + 1) * block, total)
        if pixel_t is float:
            genrt_quantize_row(s + b * block, 0, 1, end - b * block, d + b * block, lo, span)
        else:
            for i in range(b * block, end):
                d[i] = table[s[i]]


def uint8_to_grid(const uint8_t[:, :, :, ::1] src, uint8_t[:, :, ::1] grid,
                  Py_ssize_t ncols, Py_ssize_t padding, int pad_value):
    """Tile N x H x W x C uint8 images into a grid (H' x W' x C), one memcpy per tile row."""
    cdef Py_ssize_t N = src.shape[0], H = src.shape[1], W = src.shape[2], C = src.shape[3]
    cdef Py_ssize_t slots = ((N + ncols - 1) // ncols) * ncols, r, k, y
    cdef bint threaded = N * H * W * C >= PARALLEL_MIN_BYTES
    cdef Grid g = grid_of(grid, H, W, ncols, padding, pad_value)
    cdef uint8_t* row

    for r in prange(slots * H, nogil=True, schedule="static", use_threads_if=threaded):
        k = r // H
        y = r % H
        row = slot_row(&g, k, y)
        if k < N:
            memcpy(row, &src[k, y, 0, 0], W * C)
        else:
            memset(row, pad_value, g.tile_bytes)
        pad_around(&g, k, y, row)


def uint8_to_float(const uint8_t[:, :, :, ::1] src, float[:, :, :, ::1] dst, float lo, float span):
    """N x H x W x C uint8 -> N x C x H x W float32, x = u / 255 * span + lo."""
    cdef Py_ssize_t N = src.shape[0], H = src.shape[1], W = src.shape[2], C = src.shape[3]
    cdef Py_ssize_t r, n, y
    cdef bint threaded = N * H * W * C * 5 >= PARALLEL_MIN_BYTES

    for r in prange(N * H, nogil=True, schedule="static", use_threads_if=threaded):
        n = r // H
        y = r % H
        genrt_dequantize_row(&src[n, y, 0, 0], C, W, &dst[n, 0, y, 0], H * W, lo, span)

