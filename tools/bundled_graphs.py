"""Writes the two small graphs the runtime ships beside the bundled model (needs the `onnx` package).

    python tools/bundled_graphs.py          # rewrites genrt/runtime/probe.onnx and to_uint8.onnx

probe.onnx     Gemm -> Reshape -> ConvTranspose -> Tanh on a float32 [1, 8] input: the
               libraries a generator needs (cuBLAS, cuDNN), so `probe_providers` finds a
               broken CUDA install when it runs the probe, not at a model's first batch.
to_uint8.onnx  genrt's float -> uint8 rule (DESIGN.md) as a graph with the range as inputs,
               op for op as genrt.ext computes it. On a GPU the runtime runs it on the
               model's output while that output is still on the device, so 4x fewer
               bytes cross to the host and the CPU converts nothing.

tests/test_runtime_environment.py checks that the shipped files are what this script writes.
"""

from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

RUNTIME = os.path.join(os.path.dirname(__file__), os.pardir, "genrt", "runtime")
OPSET = [helper.make_opsetid("", 17)]


def probe_model() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    weights = {
        "dense_w": rng.standard_normal((8, 16)).astype(np.float32) * 0.3,
        "dense_b": np.zeros(16, np.float32),
        "shape": np.array([1, 4, 2, 2], np.int64),
        "deconv_w": rng.standard_normal((4, 2, 4, 4)).astype(np.float32) * 0.3,
    }
    nodes = [
        helper.make_node("Gemm", ["x", "dense_w", "dense_b"], ["h"]),
        helper.make_node("Reshape", ["h", "shape"], ["h4"]),
        helper.make_node("ConvTranspose", ["h4", "deconv_w"], ["up"], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Tanh", ["up"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "genrt_probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 4, 4])],
        [numpy_helper.from_array(v, k) for k, v in weights.items()],
    )
    return helper.make_model(graph, opset_imports=OPSET, producer_name="genrt tools/bundled_graphs.py")


def to_uint8_model() -> onnx.ModelProto:
    """uint8 [N, H, W, C] from float32 `image` [N, C, H, W], `lo` and `span` (shape [1]): genrt's rule."""
    consts = {"c255": 255.0, "half": 0.5, "zero": 0.0}
    nodes = [
        helper.make_node("Sub", ["image", "lo"], ["shifted"]),
        helper.make_node("Div", ["shifted", "span"], ["unit"]),
        helper.make_node("Mul", ["unit", "c255"], ["scaled"]),
        helper.make_node("Add", ["scaled", "half"], ["t"]),
        helper.make_node("IsNaN", ["t"], ["nan"]),
        helper.make_node("Clip", ["t", "zero", "c255"], ["clipped"]),
        helper.make_node("Floor", ["clipped"], ["floored"]),
        helper.make_node("Where", ["nan", "zero", "floored"], ["finite"]),
        helper.make_node("Cast", ["finite"], ["u8"], to=TensorProto.UINT8),
        helper.make_node("Transpose", ["u8"], ["image_u8"], perm=[0, 2, 3, 1]),
    ]
    graph = helper.make_graph(
        nodes, "genrt_to_uint8",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", "c", "h", "w"]),
         helper.make_tensor_value_info("lo", TensorProto.FLOAT, [1]),
         helper.make_tensor_value_info("span", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("image_u8", TensorProto.UINT8, ["n", "h", "w", "c"])],
        [numpy_helper.from_array(np.array(v, np.float32), k) for k, v in consts.items()],
    )
    return helper.make_model(graph, opset_imports=OPSET, producer_name="genrt tools/bundled_graphs.py")


GRAPHS = {"probe.onnx": probe_model, "to_uint8.onnx": to_uint8_model}


def main() -> None:
    for name, build in GRAPHS.items():
        model = build()
        model.ir_version = 8  # opened by onnxruntime 1.14 and later
        onnx.checker.check_model(model, full_check=True)
        onnx.save(model, os.path.join(RUNTIME, name))
        print(f"wrote genrt/runtime/{name}")


if __name__ == "__main__":
    main()
