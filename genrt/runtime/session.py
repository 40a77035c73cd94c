"""`open_session`: the one way genrt opens an onnxruntime InferenceSession.

Sessions opened here report failures as one-line `ModelError`s and keep
onnxruntime's own log lines off the terminal. `spinning=False` turns off the
intra-op threads' busy-waiting, which two sessions timed in one process need:
a spinning pool steals the CPUs the other session is measured on.
"""

from __future__ import annotations

from genrt.errors import ModelError
from genrt.runtime.environment import first_line, import_onnxruntime


def open_session(model, providers=("CPUExecutionProvider",), threads: int | None = None, spinning: bool = True,
                 name: str | None = None):
    """An InferenceSession for `model` (a path or serialized bytes), graph optimizations on."""
    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 4  # failures reach the user as genrt's one-line errors, not onnxruntime's log
    if threads:
        options.intra_op_num_threads = int(threads)
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(model, sess_options=options, providers=list(providers))
    except Exception as exc:  # onnxruntime raises InvalidProtobuf, Fail, InvalidGraph, ...
        what = name or (model if isinstance(model, str) else "the model")
        raise ModelError(f"cannot load {what} as an ONNX model: {first_line(exc)}") from exc
