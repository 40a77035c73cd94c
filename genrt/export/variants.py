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

import numpy as np

from genrt.errors import DependencyError
from genrt.export.parity import parity_inputs
from genrt.optimize.onnxgraph import sort_topologically

CALIBRATION_BATCHES = 8
CALIBRATION_BATCH_SIZE = 64


def to_float16(model):
    """A float16 copy of an ONNX ModelProto, with float32 inputs and outputs."""
    try:
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError as exc:
        raise DependencyError(f"`fp16` needs onnxruntime's float16 converter ({exc}); pip install 'genrt[cpu]'") from None
    half = convert_float_to_float16(model, keep_io_types=True)
    sort_topologically(half.graph)  # the converter appends its output casts after their consumers
    return half


def quantize_int8(fp32_path: str, int8_path: str, cfg, seed: int = 1) -> None:
    """Write a statically quantized (QDQ, per-channel) copy of the float32 model at `fp32_path` to `int8_path`."""
    from genrt.optimize.quantize import quantize_qdq

    quantize_qdq(fp32_path, int8_path, calibration_inputs(cfg, seed))


def calibration_inputs(cfg, seed: int = 1) -> list[dict[str, np.ndarray]]:
    """Seeds differ from verification's (seed 0), so the int8 file is not checked on the data it was fitted to."""
    return [parity_inputs(cfg, CALIBRATION_BATCH_SIZE, seed * 1000 + i) for i in range(CALIBRATION_BATCHES)]
