"""Where int8 headroom is on this CPU: onnxruntime's integer kernels against its float ones, one op at a time.

    python benchmarks/int8_kernels.py [--repeats 15] [--threads 2]

Each row is one ONNX graph of a single op with constant weights, run on a bare
onnxruntime CPU session, timed side by side with its float twin in interleaved rounds
(medians), in GOP/s (2 operations per multiply-add) and as int8 over fp32 time:

- matrix product 1024^3: MatMulInteger (uint8 x int8) against MatMul (float32);
- convolution: QLinearConv (uint8 activations, int8 weights per output channel,
  symmetric, as genrt's int8 graphs have them) against Conv, at the shape of the
  pytorch/examples DCGAN's middle phase convolutions at batch 64 (128 -> 64 channels,
  3x3, 32x32); and the other integer convolutions onnxruntime offers at that shape:
  QLinearConv with uint8 weights (zero point 128), and ConvInteger (int32 out).

A kernel whose int8 rate is far below the matrix product's is one the CPU's integer
units (VNNI, AMX) are not fed by.
"""

from __future__ import annotations

import argparse

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from timing import time_interleaved


def _session(nodes, inputs, outputs, initializers, threads: int):
    graph = helper.make_graph(nodes, "op", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _value(name, dtype, shape):
    return helper.make_tensor_value_info(name, dtype, shape)


def matmuls(size: int, threads: int, rng) -> tuple:
    """(int8 feed, fp32 feed, operations, int8 session, fp32 session) for a size^3 matrix product."""
    a8 = rng.integers(0, 256, (size, size), dtype=np.uint8)
    w8 = numpy_helper.from_array(rng.integers(-127, 128, (size, size), dtype=np.int8), "w")
    wf = numpy_helper.from_array(rng.standard_normal((size, size), dtype=np.float32), "w")
    int8 = _session([helper.make_node("MatMulInteger", ["a", "w"], ["y"])], [_value("a", TensorProto.UINT8, a8.shape)],
                    [_value("y", TensorProto.INT32, a8.shape)], [w8], threads)
    fp32 = _session([helper.make_node("MatMul", ["a", "w"], ["y"])], [_value("a", TensorProto.FLOAT, a8.shape)],
                    [_value("y", TensorProto.FLOAT, a8.shape)], [wf], threads)
    return {"a": a8}, {"a": a8.astype(np.float32)}, 2.0 * size**3, int8, fp32


def convolutions(batch: int, c_in: int, c_out: int, side: int, threads: int, rng, form: str = "qlinear") -> tuple:
    """The same as matmuls for a 3x3 convolution, padding 1, on batch x c_in x side x side. `form`: "qlinear"
    (QLinearConv, int8 weights), "qlinear-u8" (QLinearConv, uint8 weights) or "integer" (ConvInteger)."""
    shape, kernel = (batch, c_in, side, side), (c_out, c_in, 3, 3)
    x8 = rng.integers(0, 256, shape, dtype=np.uint8)
    out = (batch, c_out, side, side)
    zero = numpy_helper.from_array(np.uint8(128), "x_zero")
    if form == "qlinear-u8":
        w8 = numpy_helper.from_array(rng.integers(0, 256, kernel, dtype=np.uint8), "w")
        w_zero = numpy_helper.from_array(np.full(c_out, 128, np.uint8), "w_zero")
    else:  # symmetric int8 weights; ConvInteger takes one zero point per tensor
        w8 = numpy_helper.from_array(rng.integers(-127, 128, kernel, dtype=np.int8), "w")
        w_zero = numpy_helper.from_array(np.int8(0) if form == "integer" else np.zeros(c_out, np.int8), "w_zero")
    if form == "integer":
        int8 = _session([helper.make_node("ConvInteger", ["x", "w", "x_zero", "w_zero"], ["y"], pads=[1, 1, 1, 1])],
                        [_value("x", TensorProto.UINT8, shape)], [_value("y", TensorProto.INT32, out)],
                        [w8, zero, w_zero], threads)
    else:
        scale = numpy_helper.from_array(np.float32(0.02), "x_scale")
        w_scale = numpy_helper.from_array(np.full(c_out, 0.01, np.float32), "w_scale")
        y_scale = numpy_helper.from_array(np.float32(0.05), "y_scale")
        y_zero = numpy_helper.from_array(np.uint8(128), "y_zero")
        int8 = _session([helper.make_node("QLinearConv", ["x", "x_scale", "x_zero", "w", "w_scale", "w_zero",
                                                          "y_scale", "y_zero"], ["y"], pads=[1, 1, 1, 1])],
                        [_value("x", TensorProto.UINT8, shape)], [_value("y", TensorProto.UINT8, out)],
                        [scale, zero, w8, w_scale, w_zero, y_scale, y_zero], threads)
    wf = numpy_helper.from_array(rng.standard_normal(kernel, dtype=np.float32) * 0.05, "w")
    fp32 = _session([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])],
                    [_value("x", TensorProto.FLOAT, shape)], [_value("y", TensorProto.FLOAT, out)], [wf], threads)
    ops = 2.0 * batch * side * side * c_out * c_in * 9
    return {"x": x8}, {"x": x8.astype(np.float32)}, ops, int8, fp32


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = {"matrix product 1024^3": matmuls(1024, args.threads, rng),
            "conv 128->64 3x3 32x32 b64: QLinearConv": convolutions(64, 128, 64, 32, args.threads, rng),
            "  same, QLinearConv with uint8 weights": convolutions(64, 128, 64, 32, args.threads, rng, "qlinear-u8"),
            "  same, ConvInteger (int32 out)": convolutions(64, 128, 64, 32, args.threads, rng, "integer")}
    print(f"onnxruntime {ort.__version__}, {args.threads} threads, medians of {args.repeats} interleaved rounds")
    print(f"{'op':44s} {'int8 GOP/s':>10s} {'fp32 GOP/s':>10s} {'int8 / fp32 time':>17s}")
    for name, (feed8, feed32, ops, int8, fp32) in rows.items():
        funcs = {"int8": lambda s=int8, f=feed8: s.run(None, f), "fp32": lambda s=fp32, f=feed32: s.run(None, f)}
        times = time_interleaved(funcs, repeats=args.repeats, warmup=2)
        print(f"{name:44s} {ops / times['int8'] / 1e9:10.0f} {ops / times['fp32'] / 1e9:10.0f} "
              f"{times['int8'] / times['fp32']:16.2f}x")


if __name__ == "__main__":
    main()
