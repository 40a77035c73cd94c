"""`open_session`: the one way genrt opens an onnxruntime InferenceSession.

Sessions opened here report failures as one-line `ModelError`s and keep
onnxruntime's own log lines off the terminal. A session asked for a GPU provider
first has the CUDA libraries from pip's nvidia packages loaded (gpu.preload_cuda).
`spinning=False` turns off the
intra-op threads' busy-waiting, which two sessions timed in one process need:
a spinning pool steals the CPUs the other session is measured on.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from genrt.errors import InputError, ModelError
from genrt.limits import integer
from genrt.runtime.ort import first_line, import_onnxruntime
from genrt.runtime.gpu import GPU_PROVIDERS, preload_cuda


def max_threads() -> int:
    """The most intra-op threads genrt asks for: past a few per CPU, threads only cost memory and switches."""
    return max(64, 4 * (os.cpu_count() or 1))


def check_threads(threads: object) -> int | None:
    """`threads` (None: onnxruntime's default, one per core) as an int, or InputError naming the allowed range."""
    if threads is None:
        return None
    number = integer(threads)
    if number is None or not 1 <= number <= max_threads():
        raise InputError(f"`threads` must be an integer from 1 to {max_threads()} (this machine has "
                         f"{os.cpu_count()} CPUs), or left out for one per core; got {threads!r}")
    return number


def open_session(model: str | bytes, providers: Sequence[str | tuple[str, dict[str, Any]]] = ("CPUExecutionProvider",),
                 threads: int | None = None, spinning: bool = True, name: str | None = None) -> Any:
    """An InferenceSession for `model` (a path or serialized bytes), graph optimizations on."""
    ort = import_onnxruntime()
    if any((p[0] if isinstance(p, tuple) else p) in GPU_PROVIDERS for p in providers):
        preload_cuda(ort)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 4  # failures reach the user as genrt's one-line errors, not onnxruntime's log
    threads = check_threads(threads)
    if threads:
        options.intra_op_num_threads = threads
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(model, sess_options=options, providers=list(providers))
    except Exception as exc:  # onnxruntime raises InvalidProtobuf, Fail, InvalidGraph, ...
        what = name or (model if isinstance(model, str) else "the model")
        raise ModelError(f"cannot load {what} as an ONNX model: {first_line(exc)}") from exc
