"""How genrt's OpenMP threads wait, set where genrt starts work (the CLI, a Generator), never at import.

numpy-free, so that the CLI can call it before anything heavy loads.
"""

from __future__ import annotations

import os
import sys


def prefer_passive_openmp_wait() -> None:
    """Let OpenMP threads sleep between kernels (OMP_WAIT_POLICY=PASSIVE) unless the user chose a policy.

    libgomp reads the variable once, when genrt.ext's compiled kernels load, so this
    acts only before then. genrt.ext's kernels run between onnxruntime calls, and
    libgomp's default of spinning after each parallel region took the CPUs that
    onnxruntime's thread pool needed next: a 28x28 DCGAN's batch-64 decode ran 33%
    slower than the bare session run, 1% with passive waiting
    (benchmarks/runtime_overhead.py).
    """
    if "genrt.ext._kernels" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
