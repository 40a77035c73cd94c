"""Which implementation serves genrt.ext: the compiled one in CI, the numpy one as a fallback."""

import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import genrt.ext as ext
from genrt.ext import reference


@pytest.mark.skipif(
    os.environ.get("GENRT_ALLOW_NUMPY_FALLBACK") == "1", reason="GENRT_ALLOW_NUMPY_FALLBACK=1: fallback accepted"
)
def test_compiled_extension_is_active():
    """An install that silently fell back to numpy would pass every other test; this one fails."""
    info = ext.backend_info()
    assert ext.BACKEND == "cython", info["reason"]
    from genrt.ext import _kernels

    assert _kernels.__file__.endswith((".so", ".pyd")), _kernels.__file__
    assert info["threads"] >= 1 if info["openmp"] else info["threads"] == 0


FALLBACK_SCRIPT = r"""
import json, sys
import numpy as np
import genrt.ext as ext
rng = np.random.default_rng(7)
x = (rng.standard_normal((9, 3, 33, 17)) * 1.5).astype(np.float32)
x.reshape(-1)[::11] = np.nan
h = x.astype(np.float16)
u = ext.to_uint8(x)
results = {
    "backend": ext.BACKEND,
    "to_uint8": ext.to_uint8(x).tobytes().hex(),
    "to_uint8_nchw": ext.to_uint8(h, (0, 1), "NCHW").tobytes().hex(),
    "to_grid": ext.to_grid(x, nrow=4, padding=3, pad_value=17).tobytes().hex(),
    "make_grid": ext.make_grid(u, nrow=2).tobytes().hex(),
    "to_float": ext.to_float(u, (-0.5, 2)).tobytes().hex(),
}
json.dump(results, sys.stdout)
"""


def run_backend(env_extra):
    env = dict(os.environ, **env_extra)
    out = subprocess.run([sys.executable, "-c", FALLBACK_SCRIPT], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_numpy_fallback_gives_identical_bytes():
    fallback = run_backend({"GENRT_EXT": "numpy"})
    active = run_backend({})
    assert fallback.pop("backend") == "numpy"
    assert active.pop("backend") == ext.BACKEND
    assert fallback == active


def test_fallback_reports_why():
    env = dict(os.environ, GENRT_EXT="numpy")
    out = subprocess.run(
        [sys.executable, "-c", "import genrt.ext as e, json; print(json.dumps(e.backend_info()))"],
        env=env, capture_output=True, text=True, check=True,
    )
    info = json.loads(out.stdout)
    assert info == {"backend": "numpy", "openmp": False, "threads": 0, "reason": "GENRT_EXT=numpy is set"}


def test_concurrent_calls_give_serial_results():
    """Kernels release the GIL; threads sharing inputs must not disturb each other's outputs."""
    rng = np.random.default_rng(3)
    batches = [(rng.standard_normal((16, 3, 64, 64)) * 1.3).astype(np.float32) for _ in range(8)]
    expected = [reference.to_grid(b, nrow=4) for b in batches]
    results = [None] * len(batches)

    def work(i):
        for _ in range(5):
            results[i] = ext.to_grid(batches[i], nrow=4)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected):
        np.testing.assert_array_equal(got, want)
