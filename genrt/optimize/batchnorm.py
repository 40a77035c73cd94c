"""`fold_batchnorm`: a BatchNormalization after a Conv or ConvTranspose, folded into that layer's weights.

In inference a batch norm is a per-channel scale and shift, so it goes into the
convolution's weights (scaled along its output channels) and bias, exactly up to
float rounding, and the graph runs one node less per layer. onnx + numpy, no torch.
"""

from __future__ import annotations

import numpy as np

from genrt.optimize.onnxgraph import OnnxGraph, name_of


def fold_batchnorm(g: OnnxGraph) -> int:
    """Fold each BatchNormalization whose input is a Conv/ConvTranspose used only by it; returns how many."""
    folded = 0
    for bn in [n for n in g.nodes if n.op_type == "BatchNormalization"]:
        conv = g.producer(bn.input[0])
        if conv is None or conv.op_type not in ("Conv", "ConvTranspose"):
            continue
        if name_of(g.single_consumer(conv.output[0])) != bn.name:
            continue
        if len(bn.output) > 1 and any(bn.output[1:]):
            continue  # training-mode outputs
        stats = [g.const(name) for name in bn.input[1:5]]
        weight = g.const(conv.input[1])
        if weight is None or any(s is None for s in stats) or g.attrs(conv).get("group", 1) != 1:
            continue
        gamma, beta, mean, var = (s.astype(np.float64) for s in stats)
        scale = gamma / np.sqrt(var + g.attrs(bn).get("epsilon", 1e-5))
        bias = g.const(conv.input[2]) if len(conv.input) > 2 and conv.input[2] else np.zeros(len(scale))
        w = weight.astype(np.float64)
        if conv.op_type == "ConvTranspose":  # [C_in, C_out, kh, kw]
            w = w * scale[None, :, None, None]
        else:  # [C_out, C_in, kh, kw]
            w = w * scale[:, None, None, None]
        new_bias = (bias.astype(np.float64) - mean) * scale + beta
        inputs = [conv.input[0], g.add_const(w.astype(np.float32), "folded_weight"),
                  g.add_const(new_bias.astype(np.float32), "folded_bias")]
        fused = g.node(conv.op_type, inputs, [bn.output[0]], base=conv.name or conv.op_type.lower())
        fused.attribute.extend(conv.attribute)
        g.replace([conv, bn], [fused])
        folded += 1
    return folded
