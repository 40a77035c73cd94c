"""Reduced-precision variants of a verified float32 export: fp16 for GPUs, int8 for CPU edge devices.

Both keep the float32 `z` / int64 `label` inputs and the float32 `image`
output, so the runtime drives every variant the same way; `genrt.precision`
in the metadata says which one a file is. Each variant is verified against the
float32 PyTorch module with its own tolerance (verify.TOLERANCES).

- fp16: every float weight and activation in half precision, with casts at the
  graph's edges (onnxruntime.transformers.float16). On the CUDA provider it runs
  in half precision; onnxruntime's CPU provider has few fp16 kernels and inserts
  casts back to float32, so on a CPU it is neither faster nor a test of fp16
  arithmetic, only of the weights' rounding.
- int8: static quantization in QDQ form (QuantizeLinear / DequantizeLinear pairs
  around each convolution, which onnxruntime fuses into integer kernels), weights
  per output channel, activations calibrated (min/max) on latents drawn the way
  the runtime draws them. Activations uint8 and weights int8, the recommended
  pairing for x86 CPUs (onnxruntime's quantize_static documentation).
"""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout

import numpy as np

from genrt.errors import DependencyError
from genrt.export.verify import parity_inputs

CALIBRATION_BATCHES = 8
CALIBRATION_BATCH_SIZE = 64


def to_float16(model):
    """A float16 copy of an ONNX ModelProto, with float32 inputs and outputs."""
    try:
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError as exc:
        raise DependencyError(f"--fp16 needs onnxruntime's float16 converter ({exc}); pip install 'genrt[cpu]'") from None
    half = convert_float_to_float16(model, keep_io_types=True)
    sort_topologically(half.graph)  # the converter appends its output casts after their consumers
    return half


def sort_topologically(graph) -> None:
    """Reorder graph.node so that every node comes after the nodes that produce its inputs (the ONNX rule)."""
    available = {v.name for v in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(i in available for i in n.input)]
        if not ready:
            names = ", ".join(n.name or n.op_type for n in pending[:3])
            raise ValueError(f"the graph has a cycle or a missing input around {names}")
        for node in ready:
            available.update(node.output)
        ordered += ready
        pending = [n for n in pending if not any(n is r for r in ready)]
    copies = [type(n)() for n in ordered]
    for copy, node in zip(copies, ordered):
        copy.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copies)


def quantize_int8(fp32_path: str, int8_path: str, cfg, seed: int = 1) -> None:
    """Write a statically quantized (QDQ, per-channel) copy of the float32 model at `fp32_path` to `int8_path`."""
    try:
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    except ImportError as exc:
        raise DependencyError(f"--int8 needs onnxruntime.quantization ({exc}); pip install 'genrt[cpu]'") from None

    class Latents(CalibrationDataReader):
        """CALIBRATION_BATCHES batches of seeded latents (and labels), as the runtime draws them."""

        def __init__(self):
            self.batches = iter(calibration_inputs(cfg, seed))

        def get_next(self):
            return next(self.batches, None)

    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):  # the quantizer logs to stdout
        quantize_static(
            fp32_path, int8_path, Latents(), quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=False,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )


def calibration_inputs(cfg, seed: int = 1) -> list[dict[str, np.ndarray]]:
    """Seeds differ from verification's (seed 0), so the int8 file is not checked on the data it was fitted to."""
    return [parity_inputs(cfg, CALIBRATION_BATCH_SIZE, seed * 1000 + i) for i in range(CALIBRATION_BATCHES)]
