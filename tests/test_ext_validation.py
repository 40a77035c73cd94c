"""genrt.ext refuses what its kernels were not built for, naming the argument and the fix."""

import numpy as np
import pytest

import genrt.ext as ext
from genrt.ext import reference


def floats(shape, dtype=np.float32):
    return np.random.default_rng(0).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.uint8, np.bool_])
def test_to_uint8_rejects_wrong_dtype(dtype):
    with pytest.raises(TypeError, match=r"images must have dtype float32 or float16, got"):
        ext.to_uint8(np.zeros((1, 3, 2, 2), dtype=dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.int16])
def test_uint8_functions_reject_wrong_dtype(dtype):
    for fn in (ext.to_float, ext.make_grid):
        with pytest.raises(TypeError, match=r"images must have dtype uint8"):
            fn(np.zeros((1, 2, 2, 3), dtype=dtype))


@pytest.mark.parametrize("shape", [(3, 2, 2), (1, 1, 3, 2, 2), (6,)])
def test_rejects_wrong_rank(shape):
    with pytest.raises(ValueError, match=r"must be 4-D \(N x C x H x W\), got shape"):
        ext.to_uint8(np.zeros(shape, dtype=np.float32))
    with pytest.raises(ValueError, match=r"must be 4-D \(N x H x W x C\)"):
        ext.make_grid(np.zeros(shape, dtype=np.uint8))


@pytest.mark.parametrize("channels", [2, 5, 64])
def test_rejects_unsupported_channel_counts(channels):
    with pytest.raises(ValueError, match=rf"1, 3 or 4 channels on axis 1, got {channels}"):
        ext.to_uint8(np.zeros((1, channels, 2, 2), dtype=np.float32))
    with pytest.raises(ValueError, match=rf"1, 3 or 4 channels on axis 3, got {channels}"):
        ext.to_float(np.zeros((1, 2, 2, channels), dtype=np.uint8))


@pytest.mark.parametrize("shape", [(0, 3, 4, 4), (2, 3, 0, 4), (2, 1, 4, 0)])
def test_rejects_zero_size(shape):
    with pytest.raises(ValueError, match="is empty"):
        ext.to_uint8(np.zeros(shape, dtype=np.float32))
    with pytest.raises(ValueError, match="is empty"):
        ext.to_grid(np.zeros(shape, dtype=np.float32))


def test_rejects_non_arrays():
    with pytest.raises(TypeError, match="images must be a numpy array, got list"):
        ext.to_uint8([[[[0.0]]]])


@pytest.mark.parametrize("value_range", [(1, 1), (1, -1), (0, np.inf), (np.nan, 1), (-3e38, 3e38)])
def test_rejects_bad_ranges(value_range):
    with pytest.raises(ValueError, match="value_range must be finite with lo < hi"):
        ext.to_uint8(floats((1, 1, 2, 2)), value_range)


@pytest.mark.parametrize("value_range", [(1,), (0, 1, 2), 5, "ab"])
def test_rejects_malformed_ranges(value_range):
    with pytest.raises((ValueError, TypeError), match="value_range must"):
        ext.to_uint8(floats((1, 1, 2, 2)), value_range)


def test_rejects_bad_layout_and_grid_arguments():
    x = floats((2, 3, 4, 4))
    with pytest.raises(ValueError, match="layout must be 'NHWC' or 'NCHW', got 'HWC'"):
        ext.to_uint8(x, layout="HWC")
    with pytest.raises(ValueError, match="nrow must be >= 1, got 0"):
        ext.to_grid(x, nrow=0)
    with pytest.raises(ValueError, match="padding must be >= 0, got -1"):
        ext.to_grid(x, padding=-1)
    with pytest.raises(ValueError, match="pad_value must be between 0 and 255, got 256"):
        ext.to_grid(x, pad_value=256)
    with pytest.raises(TypeError, match="nrow must be an integer, got 2.5"):
        ext.to_grid(x, nrow=2.5)
    with pytest.raises(TypeError, match="padding must be an integer, got True"):
        ext.to_grid(x, padding=True)


def test_non_contiguous_and_fortran_inputs_are_copied_not_misread():
    base = floats((4, 3, 8, 10))
    views = {
        "strided": base[::2],
        "fortran": np.asfortranarray(base),
        "channel slice": floats((2, 6, 8, 10))[:, ::2],
        "transposed": np.ascontiguousarray(base.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2),
    }
    for name, view in views.items():
        assert not view.flags.c_contiguous, name
        np.testing.assert_array_equal(ext.to_uint8(view), reference.to_uint8(np.ascontiguousarray(view)), err_msg=name)
        np.testing.assert_array_equal(ext.to_grid(view, nrow=3), reference.to_grid(np.ascontiguousarray(view), nrow=3))
    u8 = reference.to_uint8(base)[:, ::-1]  # negative strides
    np.testing.assert_array_equal(ext.make_grid(u8), reference.make_grid(np.ascontiguousarray(u8)))
    np.testing.assert_array_equal(ext.to_float(u8), reference.to_float(np.ascontiguousarray(u8)))


def test_out_buffers_are_filled_and_checked():
    x = floats((3, 3, 5, 6))
    out = np.full((3, 5, 6, 3), 7, dtype=np.uint8)
    assert ext.to_uint8(x, out=out) is out
    np.testing.assert_array_equal(out, reference.to_uint8(x))
    grid = np.empty(ext.grid_shape(x.shape, nrow=2), dtype=np.uint8)
    assert ext.to_grid(x, nrow=2, out=grid) is grid
    np.testing.assert_array_equal(grid, reference.to_grid(x, nrow=2))
    back = np.empty((3, 3, 5, 6), dtype=np.float32)
    assert ext.to_float(out, out=back) is back
    with pytest.raises(ValueError, match=r"out must be a uint8 array of shape \(3, 5, 6, 3\), got uint8 \(3, 6, 5, 3\)"):
        ext.to_uint8(x, out=np.empty((3, 6, 5, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="out must be a uint8 array"):
        ext.to_uint8(x, out=np.empty((3, 5, 6, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        ext.to_uint8(x, out=np.empty((3, 5, 6, 3), dtype=np.uint8, order="F"))
