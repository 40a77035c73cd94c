"""Graph rewrites for generator graphs, each exact up to float rounding. onnx + numpy, no torch.

- `fold_batchnorm` (batchnorm.py): BatchNormalization after a Conv or ConvTranspose goes into its weights.
- `dense_first_layer` (dense.py): a ConvTranspose on a 1x1 input becomes a matrix product.
- `subpixel_chains`: strided ConvTransposes become convolutions in the phase domain plus
  one DepthToSpace (see subpixel.py), in one of two forms per layer:
    "single": one convolution computes every output phase (taps a phase does not use are zeros);
    "phases": one convolution per output phase, exactly the taps it uses, then a Concat;
  and a layer may read the previous layer's phase-domain output directly ("fuse"), which
  saves a DepthToSpace. After a "phases" layer a fused layer may also be "split": one
  convolution per input phase, each with only the taps that phase feeds, summed with Add
  (no Concat, and a smaller window than "single"). Activations between the layers act in the phase domain, ahead of
  the DepthToSpace, where onnxruntime fuses them into the convolutions.

Which rewrite pays off depends on the shapes and the machine, so the rewrites take a
`Plan` that says what to do where, and select.py chooses the plan by timing candidates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx

from genrt.optimize import subpixel
from genrt.optimize.dense import dense_candidate, dense_first_layer
from genrt.optimize.onnxgraph import ACTIVATIONS, OnnxGraph, infer_shapes

FORMS = ("keep", "single", "phases", "split")


@dataclass
class LayerChoice:
    form: str = "keep"  # keep | single | phases | split (fused after phases only)
    fuse: bool = False  # read the previous layer's phase-domain output (no DepthToSpace between)

    def describe(self) -> str:
        return self.form + ("+fused" if self.fuse else "")


@dataclass
class Plan:
    """What to rewrite: the dense first layer (and its label fold), and a form per strided ConvTranspose by name."""

    dense: bool = False
    fold_labels: bool = False
    layers: dict[str, LayerChoice] = field(default_factory=dict)

    @property
    def rewrites(self) -> bool:
        """True when the plan changes the graph at all."""
        return self.dense or any(c.form != "keep" for c in self.layers.values())

    def describe(self) -> dict:
        return {"dense_first_layer": self.dense, "fold_labels": self.fold_labels,
                "layers": {name: c.describe() for name, c in self.layers.items()}}


# ------------------------------------------------------------------ sub-pixel chains


def untouched_layers(g: OnnxGraph) -> dict[str, str]:
    """{ConvTranspose name: why no rewrite applies}, for those the passes leave as they are."""
    eligible = {n.name for n in strided_layers(g)}
    reasons = {}
    for node in g.nodes:
        if node.op_type != "ConvTranspose" or node.name in eligible:
            continue
        a = g.attrs(node)
        weight = g.const(node.input[1])
        if weight is None:
            reasons[node.name] = "its weight is not a constant"
        elif weight.dtype != np.float32 or weight.ndim != 4:
            reasons[node.name] = f"a {weight.ndim - 2}-D {weight.dtype} kernel (only 2-D float32 is rewritten)"
        elif a.get("group", 1) != 1 or any(d != 1 for d in a.get("dilations", [1, 1])):
            reasons[node.name] = "grouped or dilated"
        elif "output_shape" in a or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            reasons[node.name] = "output_shape or auto_pad set"
        else:
            reasons[node.name] = (f"kernel {list(weight.shape[2:])}, stride {a.get('strides', [1, 1])}, pads "
                                  f"{a.get('pads', [0] * 4)}: the output is not exactly stride x the input")
    return reasons


def strided_layers(g: OnnxGraph) -> list:
    """The ConvTransposes the sub-pixel identities apply to, in graph order."""
    found = []
    for node in g.nodes:
        weight = g.const(node.input[1]) if node.op_type == "ConvTranspose" else None
        if weight is None:
            continue
        a = g.attrs(node)
        if "output_shape" in a or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            continue
        if weight.dtype == np.float32 and weight.ndim == 4 and subpixel.fits(
                weight.shape[2:], a.get("strides", [1, 1]), a.get("pads", [0] * 4), a.get("output_padding", [0, 0]),
                a.get("dilations", [1, 1]), a.get("group", 1)):
            found.append(node)
    return found


@dataclass
class _Pending:
    """A real tensor held in the phase domain: DepthToSpace(factor) of the concatenation of `branches`."""

    branches: list[str]
    factor: int


def _chains(g: OnnxGraph) -> list[list]:
    """Runs of ConvTranspose and activation nodes, each feeding only the next, that start at a strided layer."""
    chains, seen = [], set()
    for start in strided_layers(g):
        if start.name in seen:
            continue
        chain = [start]
        while True:
            nxt = g.single_consumer(chain[-1].output[0])
            if (nxt is None or nxt.input[0] != chain[-1].output[0]
                    or not (nxt.op_type in ACTIVATIONS or nxt.op_type == "ConvTranspose")):
                break
            chain.append(nxt)
        seen.update(n.name for n in chain)
        chains.append(chain)
    return chains


def fusable_predecessors(g: OnnxGraph) -> dict[str, str | None]:
    """{strided layer: the strided layer whose phase-domain output it can read (only activations between), or None}."""
    eligible = {n.name for n in strided_layers(g)}
    found = {}
    for chain in _chains(g):
        previous = None
        for node in chain:
            if node.op_type in ACTIVATIONS:
                continue
            if node.name in eligible:
                found[node.name] = previous
                previous = node.name
            else:  # a ConvTranspose the identities do not cover stays, and ends the phase domain
                previous = None
    return found


def subpixel_chains(g: OnnxGraph, choices: dict[str, LayerChoice]) -> None:
    """Rewrite the strided ConvTransposes named in `choices` (see the module docstring)."""
    for chain in _chains(g):
        _rewrite_chain(g, chain, choices)


def _rewrite_chain(g: OnnxGraph, chain: list, choices: dict[str, LayerChoice]) -> None:
    eligible = {n.name for n in strided_layers(g)}
    removed, added = [], []
    pending: _Pending | None = None

    def materialize(output: str | None = None) -> str:
        nonlocal pending
        value = _concat(g, pending.branches, added)
        d2s = g.node("DepthToSpace", [value], [output] if output else 1, base="depth_to_space",
                     blocksize=pending.factor, mode="DCR")
        added.append(d2s)
        pending = None
        return d2s.output[0]

    current = chain[0].input[0]  # the real tensor flowing along the chain, when not pending
    for node in chain:
        choice = choices.get(node.name, LayerChoice())
        rewrite = node.op_type == "ConvTranspose" and node.name in eligible and choice.form != "keep"
        if node.op_type in ACTIVATIONS and pending is not None:
            branches = []
            for branch in pending.branches:
                act = g.node(node.op_type, [branch], base=node.op_type.lower())
                act.attribute.extend(node.attribute)
                added.append(act)
                branches.append(act.output[0])
            pending.branches = branches
            removed.append(node)
            continue
        if not rewrite:
            if pending is not None:
                current = materialize()
                g.rename_input(node, node.input[0], current)
            current = node.output[0]
            continue
        removed.append(node)
        if pending is not None and not choice.fuse:
            current = materialize()
        if pending is not None and choice.form == "split" and len(pending.branches) > 1:
            pending = _split_layer(g, node, pending, added)
        elif pending is not None:
            pending = _phase_layer(g, node, _concat(g, pending.branches, added), pending.factor, choice.form, added)
        else:
            pending = _phase_layer(g, node, current, 1, choice.form, added)
    if pending is not None:
        materialize(chain[-1].output[0])
    g.replace(removed, added)


def _weights(g: OnnxGraph, node):
    """(weight, bias or None, strides, pads) of a ConvTranspose."""
    a = g.attrs(node)
    bias = g.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    return g.const(node.input[1]), bias, a.get("strides", [1, 1]), a.get("pads", [0, 0, 0, 0])


def _phase_layer(g: OnnxGraph, node, source: str, in_factor: int, form: str, added: list) -> _Pending:
    weight, bias, stride, pads = _weights(g, node)
    factor = in_factor * stride[0]
    every = [(bh, bw) for bh in range(factor) for bw in range(factor)]
    groups = [[p] for p in every] if form == "phases" else [every]
    branches = []
    for phases in groups:
        pc = subpixel.phase_conv(weight, bias, stride, pads, in_factor, phases)
        inputs = [source, g.add_const(pc.weight, f"{node.name}_phase_w")]
        if pc.bias is not None:
            inputs.append(g.add_const(pc.bias, f"{node.name}_phase_b"))
        conv = g.node("Conv", inputs, base=f"{node.name}_phase", kernel_shape=list(pc.weight.shape[2:]),
                      pads=pc.pads)
        added.append(conv)
        branches.append(conv.output[0])
    return _Pending(branches, factor)


def _split_layer(g: OnnxGraph, node, pending: _Pending, added: list) -> _Pending:
    """The layer as a sum of one convolution per input phase (the previous layer's branches), bias once."""
    weight, bias, stride, pads = _weights(g, node)
    pc = subpixel.phase_conv(weight, bias, stride, pads, pending.factor)
    c_in = weight.shape[0]
    total = None
    for i, branch in enumerate(pending.branches):
        part, part_pads = subpixel.trim_taps(pc.weight[:, i * c_in:(i + 1) * c_in], pc.pads)
        inputs = [branch, g.add_const(part, f"{node.name}_split_w")]
        if i == 0 and pc.bias is not None:
            inputs.append(g.add_const(pc.bias, f"{node.name}_split_b"))
        conv = g.node("Conv", inputs, base=f"{node.name}_split", kernel_shape=list(part.shape[2:]), pads=part_pads)
        added.append(conv)
        if total is None:
            total = conv.output[0]
        else:
            add = g.node("Add", [total, conv.output[0]], base=f"{node.name}_sum")
            added.append(add)
            total = add.output[0]
    return _Pending([total], pending.factor * stride[0])


def _concat(g: OnnxGraph, branches: list[str], added: list) -> str:
    if len(branches) == 1:
        return branches[0]
    node = g.node("Concat", branches, base="phases", axis=1)
    added.append(node)
    return node.output[0]


# ------------------------------------------------------------------ applying a plan


def apply_plan(model: onnx.ModelProto, plan: Plan) -> onnx.ModelProto:
    """A rewritten copy of `model` (which should have had fold_batchnorm already)."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = OnnxGraph(out)
    if plan.dense:
        shapes = infer_shapes(out)
        node = dense_candidate(g, shapes)
        if node is not None:
            dense_first_layer(g, node, shapes, plan.fold_labels)
    if plan.layers:
        subpixel_chains(g, plan.layers)
    g.finish()
    return out
