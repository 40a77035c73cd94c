"""genrt.runtime.latents: row i of a seed's latents is the module's rule, whatever range it is drawn in."""

import math
import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from genrt.errors import InputError
from genrt.runtime import latents
from genrt.spec import MAX_SEED

SEEDS = [0, 1, 12345, 2**32 - 1, 2**32, 2**63, MAX_SEED, np.int64(7), np.uint64(MAX_SEED)]


def rule(seed: int, rows: int, width: int) -> np.ndarray:
    """The docstring's rule written out word by word with the math module: the oracle."""
    words = 4 * math.ceil(width / 8)
    stream = np.random.Philox(key=int(seed)).random_raw(rows * words)
    out = np.empty((rows, width), np.float32)
    for i in range(rows):
        values = [0.0] * (2 * words)
        for k in range(words):
            word = int(stream[i * words + k])
            r = math.sqrt(-2.0 * math.log(((word >> 32) + 1) / 2**32))
            t = 2 * math.pi * (word & (2**32 - 1)) / 2**32 - math.pi
            values[k], values[words + k] = r * math.cos(t), r * math.sin(t)
        out[i] = values[:width]
    return out


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("width", [1, 3, 8, 9, 100])
def test_rows_follow_the_documented_rule(seed, width):
    got = latents.latent_rows(seed, 0, 5, width)
    assert got.dtype == np.float32 and got.shape == (5, width)
    # numpy's vectorized log/sin/cos and the math module may differ in the last float64 bit
    np.testing.assert_array_max_ulp(got, rule(seed, 5, width), maxulp=1)


@given(seed=st.integers(0, MAX_SEED), cuts=st.lists(st.integers(0, 300), min_size=1, max_size=4),
       width=st.sampled_from([2, 5, 16, 100]))
def test_any_cut_of_the_rows_draws_the_same_values(seed, cuts, width):
    whole = latents.latent_rows(seed, 0, 300, width)
    bounds = sorted({0, 300, *cuts})
    parts = [latents.latent_rows(seed, a, b, width) for a, b in zip(bounds, bounds[1:])]
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_chunks_and_long_draws_agree_with_one_draw():
    whole = latents.latent_rows(3, 10, 10 + 2 * latents.ROWS_PER_DRAW + 5, 20)
    chunks = np.concatenate(list(latents.latent_chunks(3, 10, 10 + 2 * latents.ROWS_PER_DRAW + 5, 20, 999)))
    np.testing.assert_array_equal(chunks, whole)
    np.testing.assert_array_equal(latents.latent_rows(3, 5000, 5001, 20), whole[4990:4991])


def test_values_are_standard_normal():
    stats = pytest.importorskip("scipy.stats", reason="scipy (the dev extra) is not installed")

    z = latents.latent_rows(11, 0, 20000, 100).astype(np.float64)
    assert abs(z.mean()) < 0.005 and abs(z.std() - 1) < 0.005
    assert stats.kstest(z.ravel(), "norm").pvalue > 1e-3
    assert np.abs(np.corrcoef(z[:, :8].T) - np.eye(8)).max() < 0.03  # columns (radius-sharing ones too) independent
    assert stats.kstest(z[:, 0] ** 2 + z[:, 52] ** 2, "expon", args=(0, 2)).pvalue > 1e-3  # a word's pair


def test_seeds_and_rows_give_different_values():
    a, b = latents.latent_rows(1, 0, 2, 16), latents.latent_rows(2, 0, 2, 16)
    assert not np.array_equal(a[0], a[1]) and not np.array_equal(a, b)


@pytest.mark.parametrize("seed", [-1, MAX_SEED + 1, 1.0, "3", True, None])
def test_seeds_outside_the_range_are_refused(seed):
    with pytest.raises(InputError, match="`seed` must be an integer from 0 to 2\\*\\*64 - 1"):
        latents.latent_rows(seed, 0, 1, 4)


def test_fresh_seeds_differ():
    assert latents.fresh_seed() != latents.fresh_seed()


def test_threads_drawing_at_once_get_their_own_numbers():
    seeds = range(16)
    expected = {s: latents.latent_rows(s, 100, 104, 50) for s in seeds}
    mismatches = []

    def work(offset):
        for i in range(300):
            s = (i + offset) % 16
            if not np.array_equal(latents.latent_rows(s, 100, 104, 50), expected[s]):
                mismatches.append(s)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert mismatches == []
