"""The generator's first layer as a matrix product. onnx + numpy, no torch.

A ConvTranspose on a 1x1 input (z reshaped to N x D x 1 x 1) is a matrix product:
Gemm + Reshape. When its input is z concatenated with a label embedding (Gather of a
constant table), the embedding's half of the product is precomputed per class and
gathered instead (`fold_labels`). An activation after it moves ahead of the Reshape
so onnxruntime fuses it into the Gemm.
"""

from __future__ import annotations

import numpy as np

from genrt.optimize.onnxgraph import ACTIVATIONS, OnnxGraph, name_of


def dense_candidate(g: OnnxGraph, shapes: dict):
    """The ConvTranspose on a 1x1 input (the generator's first layer), or None."""
    for node in g.nodes:
        if node.op_type != "ConvTranspose":
            continue
        a = g.attrs(node)
        dims = shapes.get(node.input[0])
        weight = g.const(node.input[1])
        if (dims is None or len(dims) != 4 or dims[2:] != [1, 1] or weight is None or weight.dtype != np.float32
                or a.get("group", 1) != 1
                or "output_shape" in a or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET")
                or any(d != 1 for d in a.get("dilations", [1, 1]))):
            continue
        return node
    return None


def dense_first_layer(g: OnnxGraph, node, shapes: dict, fold_labels: bool) -> bool:
    """Rewrite the 1x1-input ConvTranspose `node` as Gemm (+ activation) + Reshape; True if the labels were folded."""
    a = g.attrs(node)
    weight = g.const(node.input[1]).astype(np.float64)  # [C_in, C_out, kh, kw]
    c_in, c_out, kh, kw = weight.shape
    pads = a.get("pads", [0, 0, 0, 0])
    extra = a.get("output_padding", [0, 0])
    out_h, out_w = kh - pads[0] - pads[2] + extra[0], kw - pads[1] - pads[3] + extra[1]
    full = np.zeros((c_in, c_out, out_h, out_w))
    rows, cols = min(out_h, kh - pads[0]), min(out_w, kw - pads[1])
    full[:, :, :rows, :cols] = weight[:, :, pads[0]:pads[0] + rows, pads[1]:pads[1] + cols]
    matrix = full.reshape(c_in, -1)  # [C_in, C_out * out_h * out_w], channel-major like NCHW
    bias = g.const(node.input[2]) if len(node.input) > 2 and node.input[2] else np.zeros(c_out)
    bias_row = np.repeat(bias.astype(np.float64), out_h * out_w)

    removed, added = [node], []
    source = _flat_source(g, node.input[0], shapes, removed)
    if source is None:
        flat = g.node("Flatten", [node.input[0]], base="flatten", axis=1)
        added.append(flat)
        source = flat.output[0]

    folded = False
    embedding = _label_embedding(g, source) if fold_labels else None
    if embedding is not None:
        concat, gather, z_name, z_first, table = embedding
        z_dim = c_in - table.shape[1]
        z_rows, e_rows = (slice(0, z_dim), slice(z_dim, c_in)) if z_first else (slice(c_in - z_dim, c_in),
                                                                                  slice(0, c_in - z_dim))
        per_class = table.astype(np.float64) @ matrix[e_rows] + bias_row  # [classes, M]
        take = g.node("Gather", [g.add_const(per_class.astype(np.float32), "class_rows"), gather.input[1]],
                      base="class_rows", axis=0)
        gemm = g.node("Gemm", [z_name, g.add_const(matrix[z_rows].astype(np.float32), "dense_weight"),
                               take.output[0]], base="dense")
        added += [take, gemm]
        removed += [concat, gather]
        folded = True
    else:
        gemm = g.node("Gemm", [source, g.add_const(matrix.astype(np.float32), "dense_weight"),
                               g.add_const(bias_row.astype(np.float32), "dense_bias")], base="dense")
        added.append(gemm)
    out = gemm.output[0]
    final = node.output[0]
    act = g.single_consumer(final)
    if act is not None and act.op_type in ACTIVATIONS:  # activation ahead of the Reshape: fused into the Gemm
        moved = g.node(act.op_type, [out], base=act.op_type.lower())
        moved.attribute.extend(act.attribute)
        added.append(moved)
        removed.append(act)
        out, final = moved.output[0], act.output[0]
    shape = g.add_const(np.array([-1, c_out, out_h, out_w], np.int64), "dense_shape")
    added.append(g.node("Reshape", [out, shape], [final], base="dense_reshape"))
    g.replace(removed, added)
    return folded


def has_label_embedding(g: OnnxGraph, node) -> bool:
    """True when the dense layer `node` reads z concatenated with a label embedding (what fold_labels folds)."""
    producer = g.producer(node.input[0])
    if producer is None or producer.op_type not in ("Unsqueeze", "Reshape"):
        return False
    return _label_embedding(g, producer.input[0]) is not None


def _flat_source(g: OnnxGraph, name: str, shapes: dict, removed: list) -> str | None:
    """The 2-D [N, C] value that `name` ([N, C, 1, 1]) was made from by Unsqueeze or Reshape, if any."""
    node = g.producer(name)
    if node is None or node.op_type not in ("Unsqueeze", "Reshape") or g.single_consumer(name) is None:
        return None
    dims = shapes.get(node.input[0])
    if dims is None or len(dims) != 2:
        return None
    removed.append(node)
    return node.input[0]


def _label_embedding(g: OnnxGraph, source: str):
    """(concat, gather, z name, z first?, table) when `source` = Concat(z, Gather(table, label)) on axis 1."""
    concat = g.producer(source)
    if concat is None or concat.op_type != "Concat" or len(concat.input) != 2:
        return None
    if g.attrs(concat).get("axis") not in (1, -1):
        return None
    if g.single_consumer(source) is None:
        return None
    for position, name in enumerate(concat.input):
        gather = g.producer(name)
        if gather is None or gather.op_type != "Gather" or g.attrs(gather).get("axis", 0) != 0:
            continue
        table = g.const(gather.input[0])
        if table is None or table.ndim != 2 or name_of(g.single_consumer(name)) != concat.name:
            continue
        z_name = concat.input[1 - position]
        return concat, gather, z_name, position == 1, table
    return None


# ------------------------------------------------------------------ sub-pixel chains
