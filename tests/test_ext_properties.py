"""Property tests: every genrt.ext kernel equals its numpy reference, bit for bit.

Shapes run from 1 to 4 in each dimension (zero-size inputs are refused: see
test_ext_validation.py) and wider rows that exercise the SIMD loops and their
tails; values include NaN, +-Inf, +-0, exact half-way points of the rounding
rule and values far outside the range.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import genrt.ext as ext
from genrt.ext import reference

RANGES = [(-1.0, 1.0), (0.0, 1.0), (-0.5, 2.0), (0.0, 255.0)]


def halfway_points(lo, hi):
    """x where (x - lo) / (hi - lo) * 255 + 0.5 lands on or next to an integer."""
    span = np.float32(hi) - np.float32(lo)
    k = np.arange(256, dtype=np.float32)
    exact = np.float32(lo) + k / np.float32(255) * span
    half = np.float32(lo) + (k + np.float32(0.5)) / np.float32(255) * span
    both = np.concatenate([exact, half])
    return np.concatenate([both, np.nextafter(both, np.float32(np.inf)), np.nextafter(both, -np.float32(np.inf))])


SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30, 3.4e38, -3.4e38, 1e-40, -1e-40]


def float_values(dtype, lo, hi):
    width = 16 if dtype == np.float16 else 32
    with np.errstate(over="ignore"):  # huge specials become +-inf in float16, on purpose
        pool = np.concatenate([halfway_points(lo, hi), np.array(SPECIALS, dtype=np.float32)]).astype(dtype)
    return st.one_of(
        st.floats(width=width, allow_nan=True, allow_infinity=True),
        st.floats(
            min_value=float(np.array(lo - 0.1 * (hi - lo), dtype)),
            max_value=float(np.array(hi + 0.1 * (hi - lo), dtype)),
            width=width,
        ),
        st.sampled_from([float(v) for v in pool]),
    )


def nchw_shapes(max_side=4):
    return st.tuples(
        st.integers(1, 4),
        st.sampled_from([1, 3, 4]),
        st.integers(1, max_side),
        st.one_of(st.integers(1, max_side), st.integers(5, 70)),
    )


@st.composite
def float_images(draw, dtype):
    lo, hi = draw(st.sampled_from(RANGES))
    shape = draw(nchw_shapes())
    images = draw(arrays(dtype, shape, elements=float_values(dtype, lo, hi)))
    return images, (lo, hi)


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@given(case=float_images(np.float32))
def test_to_uint8_float32_matches_reference(case, layout):
    images, value_range = case
    got = ext.to_uint8(images, value_range, layout)
    assert got.dtype == np.uint8 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, reference.to_uint8(images, value_range, layout))


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@given(case=float_images(np.float16))
def test_to_uint8_float16_matches_reference(case, layout):
    images, value_range = case
    np.testing.assert_array_equal(
        ext.to_uint8(images, value_range, layout), reference.to_uint8(images, value_range, layout)
    )


@st.composite
def uint8_images(draw):
    n, c, h, w = draw(nchw_shapes())
    return draw(arrays(np.uint8, (n, h, w, c)))


@given(images=uint8_images(), value_range=st.sampled_from(RANGES))
def test_to_float_matches_reference(images, value_range):
    got = ext.to_float(images, value_range)
    assert got.dtype == np.float32 and got.shape == (images.shape[0], images.shape[3], *images.shape[1:3])
    np.testing.assert_array_equal(got.view(np.uint32), reference.to_float(images, value_range).view(np.uint32))


grid_args = dict(
    nrow=st.integers(1, 10),
    padding=st.integers(0, 4),
    pad_value=st.integers(0, 255),
)


@given(images=uint8_images(), **grid_args)
def test_make_grid_matches_reference(images, nrow, padding, pad_value):
    got = ext.make_grid(images, nrow, padding, pad_value)
    np.testing.assert_array_equal(got, reference.make_grid(images, nrow, padding, pad_value))


@given(case=float_images(np.float32), **grid_args)
def test_to_grid_matches_reference(case, nrow, padding, pad_value):
    images, value_range = case
    got = ext.to_grid(images, value_range, nrow, padding, pad_value)
    np.testing.assert_array_equal(got, reference.to_grid(images, value_range, nrow, padding, pad_value))


@given(case=float_images(np.float16), **grid_args)
def test_to_grid_float16_matches_reference(case, nrow, padding, pad_value):
    images, value_range = case
    got = ext.to_grid(images, value_range, nrow, padding, pad_value)
    np.testing.assert_array_equal(got, reference.to_grid(images, value_range, nrow, padding, pad_value))


# Large inputs take the multi-threaded path (the hypothesis cases above are too small for it).
@pytest.mark.parametrize("shape", [(64, 3, 64, 64), (9, 1, 130, 70), (5, 4, 128, 96)])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_large_inputs_match_reference(shape, dtype):
    rng = np.random.default_rng(sum(shape))
    images = (rng.standard_normal(shape) * 1.5).astype(dtype)
    flat = images.reshape(-1)
    flat[rng.integers(0, flat.size, 500)] = np.nan
    flat[rng.integers(0, flat.size, 500)] = np.inf
    flat[rng.integers(0, flat.size, 500)] = -np.inf
    for layout in ("NHWC", "NCHW"):
        np.testing.assert_array_equal(ext.to_uint8(images, layout=layout), reference.to_uint8(images, layout=layout))
    np.testing.assert_array_equal(ext.to_grid(images, nrow=7, pad_value=3), reference.to_grid(images, nrow=7, pad_value=3))
    u8 = reference.to_uint8(images)
    np.testing.assert_array_equal(ext.make_grid(u8, nrow=5), reference.make_grid(u8, nrow=5))
    np.testing.assert_array_equal(ext.to_float(u8, (0, 1)), reference.to_float(u8, (0, 1)))


def test_rounding_rule_on_known_values():
    """The rule itself, independently of the reference: half-way rounds up, clamps, NaN -> 0."""
    x = np.array([-1.0, 1.0, 0.0, -2.0, 5.0, np.nan, np.inf, -np.inf, -1 + 0.5 * 2 / 255], dtype=np.float32)
    got = ext.to_uint8(x.reshape(1, 1, 1, -1), (-1, 1), "NCHW").ravel()
    np.testing.assert_array_equal(got, [0, 255, 128, 0, 255, 0, 255, 0, 1])


def test_to_float_inverts_to_uint8():
    levels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    for value_range in RANGES:
        back = ext.to_uint8(ext.to_float(levels, value_range), value_range)
        np.testing.assert_array_equal(back, levels)


def test_grid_layout_is_torchvision_like():
    """2 rows of 3 tiles, padding 1: pixel positions checked by hand."""
    tiles = np.arange(1, 6, dtype=np.uint8).reshape(5, 1, 1, 1).repeat(2, 1).repeat(2, 2)  # 5 tiles 2x2
    grid = ext.make_grid(tiles, nrow=3, padding=1, pad_value=0)
    assert grid.shape == (2 * 3 + 1, 3 * 3 + 1, 1)
    expected = np.array(
        [
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            [0, 1, 1, 0, 2, 2, 0, 3, 3, 0],
            [0, 1, 1, 0, 2, 2, 0, 3, 3, 0],
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            [0, 4, 4, 0, 5, 5, 0, 0, 0, 0],
            [0, 4, 4, 0, 5, 5, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ],
        dtype=np.uint8,
    )
    np.testing.assert_array_equal(grid[..., 0], expected)
