"""`image_u8`: an extra graph output with the uint8 N x H x W x C images, converted inside the graph.

The conversion is genrt's rule (DESIGN.md), op for op in float32 as genrt.ext
computes it, so the bytes are the same as `genrt.ext.to_uint8` of the float output:

    t  = (x - lo) / span * 255 + 0.5        Sub, Div, Mul, Add (each rounded to float32, no fused multiply-add)
    u8 = floor(clamp(t, 0, 255)), NaN -> 0   Clip, Floor, IsNaN + Where, Cast
    N x C x H x W -> N x H x W x C           Transpose

On a GPU the session then copies 4x fewer bytes to the host and the CPU does no
conversion; on a CPU it saves the conversion pass over a cold output. The runtime
uses `image_u8` where `genrt optimize --uint8-output` measured it faster (metadata
`genrt.uint8_output`), and on GPU providers.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper

import genrt.ext as ext
from genrt.ext import reference
from genrt.optimize.onnxgraph import OnnxGraph
from genrt.runtime.buffers import UINT8_OUTPUT
from genrt.runtime.session import open_session
from genrt.timing import time_interleaved


def add_uint8_output(model, image_name: str, image_shape, value_range) -> None:
    """Append the `image_u8` output (uint8 [batch, H, W, C]) computed from the float output `image_name`."""
    g = OnnxGraph(model)
    if UINT8_OUTPUT in g.output_names:
        return
    lo, span = reference.range_params(tuple(float(v) for v in value_range))
    image = next(o for o in model.graph.output if o.name == image_name)
    x = image_name
    nodes = []
    if image.type.tensor_type.elem_type == TensorProto.FLOAT16:
        cast = g.node("Cast", [x], base="u8_widen", to=TensorProto.FLOAT)
        nodes.append(cast)
        x = cast.output[0]

    def const(value, name):
        return g.add_const(np.array(value, np.float32), name)

    steps = [("Sub", const(lo, "u8_lo")), ("Div", const(span, "u8_span")), ("Mul", const(255.0, "u8_255")),
             ("Add", const(0.5, "u8_half"))]
    for op, operand in steps:
        node = g.node(op, [x, operand], base=f"u8_{op.lower()}")
        nodes.append(node)
        x = node.output[0]
    nan = g.node("IsNaN", [x], base="u8_isnan")
    clip = g.node("Clip", [x, const(0.0, "u8_min"), const(255.0, "u8_max")], base="u8_clip")
    floor = g.node("Floor", [clip.output[0]], base="u8_floor")
    where = g.node("Where", [nan.output[0], const(0.0, "u8_zero"), floor.output[0]], base="u8_nan_to_zero")
    cast = g.node("Cast", [where.output[0]], base="u8_cast", to=TensorProto.UINT8)
    nhwc = g.node("Transpose", [cast.output[0]], [UINT8_OUTPUT], base="u8_nhwc", perm=[0, 2, 3, 1])
    nodes += [nan, clip, floor, where, cast, nhwc]
    model.graph.node.extend(nodes)
    dims = [d.dim_param or d.dim_value for d in image.type.tensor_type.shape.dim]
    batch = dims[0] if dims else "batch"
    c, h, w = image_shape
    model.graph.output.append(helper.make_tensor_value_info(UINT8_OUTPUT, TensorProto.UINT8, [batch, h, w, c]))


def measure(plain: bytes, with_u8: bytes, contract, timer) -> dict:
    """Time `image_u8` against the float output + genrt.ext.to_uint8, per batch size, on the timer's provider.

    The float path runs on the graph without the extra output, so it pays nothing for it.
    Returns the record the runtime reads (metadata genrt.uint8_output); "faster" when the
    geometric mean of the time ratios over the batch sizes is below 1.
    """
    sessions = [open_session(m, timer.providers, threads=timer.threads, spinning=False, name="the image_u8 graph")
                for m in (plain, with_u8)]
    ms = {}
    for batch, feed in timer.feeds.items():
        funcs = {"ext": lambda f=feed: ext.to_uint8(sessions[0].run([contract.image_name], f)[0],
                                                    contract.output_range),
                 "graph": lambda f=feed: sessions[1].run([UINT8_OUTPUT], f)}
        t = time_interleaved(funcs, timer.rounds, number=timer.numbers[batch], warmup=1)
        ms[str(batch)] = {k: round(v * 1e3, 4) for k, v in t.items()}
    ratios = [t["graph"] / t["ext"] for t in ms.values()]
    faster = float(np.exp(np.mean(np.log(ratios)))) < 1.0  # the geometric mean over batch sizes, as plans are chosen
    return {"provider": sessions[1].get_providers()[0], "output_range": list(contract.output_range),
            "faster": faster, "ms": ms}
