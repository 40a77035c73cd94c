"""int8: static QDQ quantization of a (rewritten) generator graph, and the error it costs.

onnxruntime runs QuantizeLinear -> Conv/Gemm -> DequantizeLinear as integer kernels
(QLinearConv, QGemm) on CPUs, so once the ConvTransposes are convolutions (passes.py)
int8 pays. Weights are int8 per output channel, activations uint8 calibrated (min/max)
on latents and labels drawn the way the runtime draws them.

The dense first layer (and what feeds it) stays in float: its input z is unbounded, and on CPUs without
VNNI the u8 x s8 kernels saturate their 16-bit intermediate sums, which doubles that
layer's error; with the labels folded, its bias is a Gather, which the quantizer cannot
treat as a constant.

A Concat between quantized tensors (the four phase convolutions of a sub-pixel layer)
becomes a QLinearConcat, which requantizes every byte through a lookup table unless each
input already has the output's scale and zero point; then it is a copy.
share_concat_scales gives them the output's.
"""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout

import numpy as np

from genrt.errors import DependencyError

CALIBRATION_BATCH = 64


def calibration_feeds(contract, images: int, seed: int = 1) -> list[dict[str, np.ndarray]]:
    """`images` latents (and uniform labels) in batches of 64; seeds differ from verification's."""
    feeds = []
    for i, start in enumerate(range(0, images, CALIBRATION_BATCH)):
        n = min(CALIBRATION_BATCH, images - start)
        rng = np.random.default_rng([seed, 1000 + i])
        feed = {contract.latent_name: rng.standard_normal((n, contract.latent_dim), dtype=np.float32)}
        if contract.conditional:
            feed[contract.label_name] = rng.integers(0, max(contract.num_classes, 1), n).astype(contract.label_dtype)
        feeds.append(feed)
    return feeds


def quantize_qdq(fp32_path: str, int8_path: str, feeds: list[dict], exclude=()) -> None:
    """Write a statically quantized (QDQ, per-channel) copy of the float32 model at `fp32_path` to `int8_path`."""
    try:
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    except ImportError as exc:
        raise DependencyError(f"int8 needs onnxruntime.quantization ({exc}); pip install 'genrt[cpu]'") from None

    class Batches(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(feeds)

        def get_next(self):
            return next(self.batches, None)

    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):  # the quantizer logs to stdout
        quantize_static(
            fp32_path, int8_path, Batches(), quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=False,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_exclude=list(exclude),
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )
    import onnx

    model = onnx.load(int8_path)
    if share_concat_scales(model) + depth_to_space_in_uint8(model):
        onnx.save(model, int8_path)


def share_concat_scales(model) -> int:
    """Quantize each input of a quantized Concat with the Concat output's scale and zero point.

    The output's range covers every input's, so each input rounds once to the grid it is
    rounded to anyway after the Concat, and onnxruntime's QLinearConcat copies bytes
    instead of requantizing them. Returns the number of inputs changed.
    """
    graph = model.graph
    producers, consumers = _links(graph)
    changed = []
    for node in graph.node:
        after = consumers.get(node.output[0], []) if node.op_type == "Concat" else []
        if len(after) != 1 or after[0].op_type != "QuantizeLinear":
            continue
        scale, zero_point = after[0].input[1], after[0].input[2]
        pairs = []
        for name in node.input:
            dequantize = producers.get(name)
            quantize = producers.get(dequantize.input[0]) if dequantize is not None else None
            if dequantize is None or dequantize.op_type != "DequantizeLinear" or quantize is None \
                    or quantize.op_type != "QuantizeLinear" or len(consumers[quantize.output[0]]) != 1:
                break
            pairs.append((quantize, dequantize))
        else:
            for quantize, dequantize in pairs:
                if list(quantize.input[1:3]) != [scale, zero_point] or list(dequantize.input[1:3]) != [scale, zero_point]:
                    quantize.input[1] = dequantize.input[1] = scale
                    quantize.input[2] = dequantize.input[2] = zero_point
                    changed.append(quantize)
    if changed:
        _drop_unused_initializers(graph)
    return len(changed)


def _links(graph) -> tuple[dict, dict[str, list]]:
    """{tensor: the node writing it}, {tensor: the nodes reading it}."""
    producers = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    return producers, consumers


def _drop_unused_initializers(graph) -> None:
    used = {name for node in graph.node for name in node.input}
    for tensor in [t for t in graph.initializer if t.name not in used]:
        graph.initializer.remove(tensor)


def depth_to_space_in_uint8(model) -> int:
    """Move each DepthToSpace that reads a DequantizeLinear ahead of it, onto the uint8 tensor.

    DepthToSpace only moves values, so DequantizeLinear -> DepthToSpace is the same as
    DepthToSpace -> DequantizeLinear, with a quarter of the bytes moved. Where the
    DepthToSpace output was quantized again (-> QuantizeLinear -> DequantizeLinear ...),
    the second rounding goes: its DequantizeLinear nodes take the first scale and zero
    point, whose grid the values are on already. Returns the number of nodes moved.
    """
    graph = model.graph
    producers, consumers = _links(graph)
    outputs = {o.name for o in graph.output}
    moved, retyped = 0, set()
    for node in list(graph.node):
        dequantize = producers.get(node.input[0]) if node.op_type == "DepthToSpace" else None
        if dequantize is None or dequantize.op_type != "DequantizeLinear" or len(consumers[node.input[0]]) != 1 \
                or len(dequantize.input) < 3 or node.output[0] in outputs:
            continue
        after = consumers.get(node.output[0], [])
        requantize = after[0] if len(after) == 1 and after[0].op_type == "QuantizeLinear" else None
        readers = consumers.get(requantize.output[0], []) if requantize is not None else []
        node.input[0] = dequantize.input[0]
        retyped.add(node.output[0])
        if requantize is not None and readers and requantize.output[0] not in outputs \
                and all(r.op_type == "DequantizeLinear" for r in readers):
            for reader in readers:
                reader.input[0], reader.input[1], reader.input[2] = node.output[0], dequantize.input[1], \
                    dequantize.input[2]
            graph.node.remove(requantize)
            graph.node.remove(dequantize)
        else:  # the float consumers read a DequantizeLinear of the moved DepthToSpace
            spatial = node.output[0] + "_uint8"
            for reader in after:
                for i, name in enumerate(reader.input):
                    if name == node.output[0]:
                        reader.input[i] = dequantize.output[0]
            dequantize.input[0] = spatial
            node.output[0] = spatial
            graph.node.remove(dequantize)
            graph.node.insert(list(graph.node).index(node) + 1, dequantize)
        moved += 1
    for info in [v for v in graph.value_info if v.name in retyped]:  # float before, uint8 now
        graph.value_info.remove(info)
    _drop_unused_initializers(graph)
    return moved


def float_layers(model) -> list[str]:
    """Nodes that stay in float: Gemm and MatMul (the dense first layer) and every node before them.

    Excluding the Gemm alone is not enough: the quantizer would still put a
    QuantizeLinear/DequantizeLinear pair on its input when the node producing it (a
    Concat of z and the label embedding, say) is quantized, rounding z to 8 bits.
    """
    producers = {o: n for n in model.graph.node for o in n.output}
    found, stack = {}, [n for n in model.graph.node if n.op_type in ("Gemm", "MatMul")]
    while stack:
        node = stack.pop()
        if node.name in found:
            continue
        found[node.name] = node
        stack += [producers[i] for i in node.input if i in producers]
    return [n.name for n in model.graph.node if n.name in found]


def output_layers(model) -> list[str]:
    """The Conv and ConvTranspose nodes that write the image: reached from the graph output through no other."""
    producers = {o: n for n in model.graph.node for o in n.output}
    found, stack, seen = [], [o.name for o in model.graph.output], set()
    while stack:
        node = producers.get(stack.pop())
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        if node.op_type in ("Conv", "ConvTranspose"):
            found.append(node.name)
        else:
            stack.extend(node.input)
    return found


def error_stats(got: np.ndarray, expected: np.ndarray) -> dict[str, float]:
    diff = np.abs(got.astype(np.float32) - expected.astype(np.float32))
    return {"max": float(diff.max()), "mean": float(diff.mean()), "p999": float(np.percentile(diff, 99.9))}
