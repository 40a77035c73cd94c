"""Sub-pixel shuffles written channels-last, for int8 graphs on onnxruntime's CPU provider.

onnxruntime's CPU provider runs integer convolutions (QLinearConv) channels-last: it
wraps each one in layout Transposes (NCHW -> NHWC before, back after) and cancels
the pairs that meet. A DepthToSpace between two quantized convolutions keeps both
of its neighbours' Transposes and adds a pass of its own, three passes over the
tensor. The same shuffle written channels-last,

    Transpose(NHWC) -> Reshape (N, H, W, b, b, C) -> Transpose (N, H, b, W, b, C) -> Reshape (N, bH, bW, C)
    -> Transpose(NCHW),

is DepthToSpace exactly (DCR order: channel (i*b + j)*C + c goes to row b*h + i,
column b*w + j) and its outer Transposes cancel against the layout ones, which
leaves one Transpose that moves whole rows of b*C bytes.

The rule: a DepthToSpace is written so only when what feeds it is quantized
convolutions (through Concat and activations); after a float convolution its
Transposes would not cancel, and DepthToSpace is the cheaper form.
"""

from __future__ import annotations

import numpy as np
import onnx

from genrt.optimize.onnxgraph import ACTIVATIONS, OnnxGraph, infer_shapes

TO_NHWC, TO_NCHW = [0, 2, 3, 1], [0, 3, 1, 2]


def fed_by_quantized_convs(g: OnnxGraph, value: str, float_nodes: set[str]) -> bool:
    """True when `value` is computed by Conv nodes outside `float_nodes`, through Concat and activations only."""
    node = g.producer(value)
    if node is None:
        return False
    if node.op_type == "Conv":
        return node.name not in float_nodes
    if node.op_type == "Concat" or node.op_type in ACTIVATIONS:
        return all(fed_by_quantized_convs(g, i, float_nodes) for i in node.input)
    return False


def channels_last_shuffles(model: onnx.ModelProto, float_nodes: list[str]) -> tuple[onnx.ModelProto, int]:
    """A copy of `model` with each DepthToSpace fed by quantized convolutions written channels-last (see the module
    docstring); `float_nodes` are the nodes that stay in float. Returns (model, how many were rewritten)."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = OnnxGraph(out)
    shapes = infer_shapes(out)
    keep_float = set(float_nodes)
    removed, added = [], []
    for node in g.nodes:
        if node.op_type != "DepthToSpace" or g.attrs(node).get("mode", b"DCR") != b"DCR":  # CRD orders otherwise
            continue
        dims = shapes.get(node.input[0], [])
        if len(dims) != 4 or not all(isinstance(d, int) and d > 0 for d in dims[1:]):
            continue  # the channel and spatial sizes go into the Reshapes
        if not fed_by_quantized_convs(g, node.input[0], keep_float):
            continue
        b = g.attrs(node)["blocksize"]
        _, channels, height, width = dims
        c = channels // (b * b)
        rows = g.add_const(np.array([0, height, width, b, b, c], np.int64), "shuffle_rows")
        image = g.add_const(np.array([0, height * b, width * b, c], np.int64), "shuffle_image")
        t1 = g.node("Transpose", [node.input[0]], base="shuffle_nhwc", perm=TO_NHWC)
        r1 = g.node("Reshape", [t1.output[0], rows], base="shuffle_split")
        t2 = g.node("Transpose", [r1.output[0]], base="shuffle", perm=[0, 1, 3, 2, 4, 5])
        r2 = g.node("Reshape", [t2.output[0], image], base="shuffle_join")
        t3 = g.node("Transpose", [r2.output[0]], [node.output[0]], base="shuffle_nchw", perm=TO_NCHW)
        removed.append(node)
        added += [t1, r1, t2, r2, t3]
    g.replace(removed, added)
    g.finish()
    return out, len(removed)
