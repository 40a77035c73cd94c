"""genrt.runtime.latents: the fast seeded path gives numpy.random.default_rng(seed)'s numbers exactly."""

import threading

import numpy as np
import pytest

import genrt.ext as ext
from genrt.ext import reference
from genrt.runtime import latents

# Word-boundary seeds (one and two 32-bit words, the 64-bit edge, beyond it) and numpy integer types.
SEEDS = [0, 1, 2, 12345, 2**31, 2**32 - 1, 2**32, 2**33 + 7, 2**63, 2**64 - 1, 2**64, 2**70 + 3, 2**200 + 1]


@pytest.mark.parametrize("seed", SEEDS)
def test_seed_words_match_numpy_seed_sequence(seed):
    expected = tuple(int(w) for w in np.random.SeedSequence(seed).generate_state(4, np.uint64))
    assert ext.seed_words(seed) == expected
    assert reference.seed_words(seed) == expected


@pytest.mark.parametrize("seed", [-1, 1.0, "3", True, None])
def test_seed_words_refuse_what_is_not_a_seed(seed):
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        ext.seed_words(seed)


@pytest.mark.parametrize("seed", SEEDS[:10])
def test_pcg64_state_matches_numpy(seed):
    assert latents.pcg64_state(seed) == np.random.PCG64(seed).state


@pytest.mark.parametrize("seed", [*SEEDS, np.int64(7), np.uint64(2**64 - 1), np.int32(3)])
@pytest.mark.parametrize("shape", [(1, 100), (3, 8), (257, 5)])
def test_standard_normal_is_default_rng(seed, shape):
    expected = np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)
    got = latents.standard_normal(shape, seed)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)


def test_calls_do_not_leak_state_into_each_other():
    first = latents.standard_normal((2, 3), 5)
    latents.seeded_generator(5).standard_normal(7)  # a draw left half-used (odd count of 32-bit halves)
    latents.seeded_generator(9).random()
    np.testing.assert_array_equal(latents.standard_normal((2, 3), 5), first)


def test_unseeded_draws_differ():
    assert not np.array_equal(latents.standard_normal((1, 16), None), latents.standard_normal((1, 16), None))


def test_threads_drawing_at_once_get_their_own_numbers():
    seeds = range(16)
    expected = {s: np.random.default_rng(s).standard_normal((4, 50), dtype=np.float32) for s in seeds}
    mismatches = []

    def work(offset):
        for i in range(300):
            s = (i + offset) % 16
            if not np.array_equal(latents.standard_normal((4, 50), s), expected[s]):
                mismatches.append(s)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert mismatches == []
