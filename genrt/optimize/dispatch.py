"""One graph with a plan per range of batch sizes: an If on the batch dimension picks the branch.

The fastest rewrite of a layer depends on the batch size (select.py): on a 64x64 DCGAN
the phase convolutions that win at batch 64 can lose at batch 1. When the plans chosen
for the batch sizes asked for differ, `by_batch` puts each plan's graph in a branch:

    n = Gather(Shape(first input), 0)
    If(n < first batch of range 2, graph 1, If(n < first batch of range 3, graph 2, ... graph k))

Branches read the outer graph's inputs by name. Every other name in a branch takes the
branch's prefix, as ONNX names are unique across all of a model's graphs. Each branch
holds its own initializers, even where two branches' are the same: onnxruntime's CPU
provider reorders and prepacks the weights a graph owns, not those a subgraph reads
from an outer one (such a branch ran up to 1.4x slower). So a branch runs at its own
graph's speed, the file is about the sum of its branches' sizes, and the dispatch costs
a Shape, a Gather and a Less per range.

`range_starts` is the rule for a batch size between two asked for that got different
plans: it takes the plan of the one nearer on a log scale.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import onnx
from onnx import helper, numpy_helper


def range_starts(batches: list[int]) -> list[int]:
    """The first batch size of each range after the first, between consecutive `batches` (sorted): the smallest
    integer nearer to the larger of the two on a log scale."""
    return [math.isqrt(a * b) + 1 for a, b in itertools.pairwise(batches)]


def _branch(model: onnx.ModelProto, prefix: str, outer: set[str]) -> onnx.GraphProto:
    """`model`'s graph as a branch with no inputs; every name not in `outer` (the outer inputs) gets `prefix`."""
    g = model.graph

    def rename(name: str) -> str:
        return name if not name or name in outer else prefix + name

    nodes = []
    for node in g.node:
        copy = _renamed(node, prefix + node.name)
        copy.input[:] = [rename(x) for x in node.input]
        copy.output[:] = [rename(x) for x in node.output]
        nodes.append(copy)
    branch = helper.make_graph(nodes, prefix + "graph", [], [_renamed(v, rename(v.name)) for v in g.output],
                               [_renamed(t, rename(t.name)) for t in g.initializer])
    branch.value_info.extend(_renamed(v, rename(v.name)) for v in g.value_info)
    return branch


def by_batch(graphs: list[tuple[int, onnx.ModelProto]]) -> onnx.ModelProto:
    """One model that runs graphs[i][1] for batch sizes from graphs[i][0] (the first from 1) up to the next start.

    The graphs must have the same inputs and outputs (rewrites of one model); the outer
    model keeps the first one's inputs, outputs, opsets and metadata.
    """
    if len(graphs) == 1:
        return graphs[0][1]
    first = graphs[0][1]
    inputs = [v.name for v in first.graph.input]
    outer = set(inputs)
    branches = [_branch(m, f"batch{start}_", outer) for start, m in graphs]
    batch = _unique("dispatch_batch", outer)
    nodes = [helper.make_node("Shape", [inputs[0]], [batch + "_shape"], name="dispatch_shape"),
             helper.make_node("Gather", [batch + "_shape", batch + "_axis"], [batch], name="dispatch_batch", axis=0)]
    consts = [numpy_helper.from_array(np.array(0, np.int64), batch + "_axis")]
    outputs = [v.name for v in first.graph.output]
    # Nested from the last range inwards: each If takes its range's branch below the next start, else the rest.
    rest = branches[-1]
    for i in range(len(graphs) - 2, -1, -1):
        start = graphs[i + 1][0]
        consts.append(numpy_helper.from_array(np.array(start, np.int64), f"{batch}_below_{start}"))
        test = helper.make_node("Less", [batch, f"{batch}_below_{start}"], [f"{batch}_is_below_{start}"],
                                name=f"dispatch_below_{start}")
        names = outputs if i == 0 else [f"{batch}_{i}_{o}" for o in outputs]
        choose = helper.make_node("If", [test.output[0]], names, name=f"dispatch_{start}",
                                  then_branch=branches[i], else_branch=rest)
        if i == 0:
            nodes += [test, choose]
        else:
            rest = helper.make_graph([test, choose], f"batch_from_{graphs[i][0]}", [],
                                     [_renamed(v, n) for v, n in zip(first.graph.output, names, strict=True)])
    out = onnx.ModelProto()
    out.CopyFrom(first)
    out.graph.CopyFrom(helper.make_graph(nodes, first.graph.name, list(first.graph.input), list(first.graph.output),
                                         consts))
    return out


def _renamed(proto, name: str):
    """A copy of an ONNX node, tensor or value info under another name."""
    copy = type(proto)()
    copy.CopyFrom(proto)
    copy.name = name
    return copy


def _unique(base: str, taken: set[str]) -> str:
    name, i = base, 0
    while name in taken:
        i += 1
        name = f"{base}{i}"
    return name
