"""A small editable view of an ONNX graph for the optimizer's passes: constants, producers, consumers.

The passes read weights as numpy arrays (initializers and Constant nodes alike),
find a value's producer and consumers, add new initializers under fresh names,
and replace nodes in place. `finish()` drops what nothing uses any more and puts
the nodes back in topological order, so every pass can add and remove nodes in
whatever order is convenient.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from genrt.errors import OutputError
from genrt.runtime.digest import stamp_digest

# Element-wise ops that act on each value alone: they commute with layout-only ops
# (Reshape, DepthToSpace, Concat) and onnxruntime fuses them into a preceding Conv or Gemm.
ACTIVATIONS = ("Relu", "LeakyRelu", "Tanh", "Sigmoid", "Elu", "Selu", "Softplus", "HardSigmoid")


class OnnxGraph:
    """The top-level graph of a ModelProto, edited in place."""

    def __init__(self, model: onnx.ModelProto):
        self.model = model
        self.graph = model.graph
        self._names = {n.name for n in self.graph.node} | {v.name for v in self.graph.initializer}
        self._names |= {o for n in self.graph.node for o in n.output} | {v.name for v in self.graph.input}
        for node in self.graph.node:  # plans refer to nodes by name; foreign exporters may leave them empty
            if not node.name:
                node.name = self.fresh(node.op_type.lower())

    # ------------------------------------------------------------ reading

    @property
    def nodes(self) -> list:
        return list(self.graph.node)

    @property
    def output_names(self) -> set[str]:
        return {o.name for o in self.graph.output}

    def producer(self, name: str):
        for node in self.graph.node:
            if name in node.output:
                return node
        return None

    def consumers(self, name: str) -> list:
        return [n for n in self.graph.node if name in n.input]

    def single_consumer(self, name: str):
        """The only node reading `name`, or None when several read it or it is a graph output."""
        users = self.consumers(name)
        if len(users) != 1 or name in self.output_names:
            return None
        return users[0]

    def const(self, name: str) -> np.ndarray | None:
        """The value of `name` when it is an initializer or a Constant node's output (through Identity), else None."""
        if not name:
            return None
        for init in self.graph.initializer:
            if init.name == name:
                return numpy_helper.to_array(init)
        node = self.producer(name)
        if node is not None and node.op_type == "Identity":  # the TorchScript exporter's shared initializers
            return self.const(node.input[0])
        if node is not None and node.op_type == "Constant":
            attr = node.attribute[0]
            if attr.name == "value":
                return numpy_helper.to_array(attr.t)
            if attr.name in ("value_int", "value_ints", "value_float", "value_floats"):
                return np.asarray(helper.get_attribute_value(attr))
        return None

    @staticmethod
    def attrs(node) -> dict:
        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    # ------------------------------------------------------------ writing

    def fresh(self, base: str) -> str:
        """A value or node name not used anywhere in the graph yet."""
        name, i = base, 1
        while name in self._names:
            name, i = f"{base}_{i}", i + 1
        self._names.add(name)
        return name

    def add_const(self, array: np.ndarray, base: str) -> str:
        name = self.fresh(base)
        self.graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op_type: str, inputs: list[str], outputs: list[str] | int = 1, base: str | None = None, **attrs):
        """Make a node (fresh name and fresh outputs when `outputs` is a count); returns it, not yet added."""
        base = base or op_type.lower()
        if isinstance(outputs, int):
            outputs = [self.fresh(f"{base}_out") for _ in range(outputs)]
        return helper.make_node(op_type, inputs, outputs, name=self.fresh(base), **attrs)

    def replace(self, old: list, new: list) -> None:
        """Remove the nodes `old` and append `new` (order is restored by finish())."""
        names = {n.name for n in old}  # every node has a unique name (see __init__)
        kept = [n for n in self.graph.node if n.name not in names]
        del self.graph.node[:]
        self.graph.node.extend(kept + list(new))

    def rename_input(self, node, old: str, new: str) -> None:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new

    def finish(self) -> None:
        """Sort the nodes topologically, then drop the nodes and initializers nothing uses."""
        sort_topologically(self.graph)
        needed = set(self.output_names)
        kept = []
        for node in reversed(list(self.graph.node)):
            if any(o in needed for o in node.output):
                kept.append(node)
                needed.update(node.input)
        kept.reverse()
        del self.graph.node[:]
        self.graph.node.extend(kept)
        inits = [t for t in self.graph.initializer if t.name in needed]
        del self.graph.initializer[:]
        self.graph.initializer.extend(inits)
        del self.graph.value_info[:]  # stale after rewrites; shape inference rebuilds what it needs


def sort_topologically(graph) -> None:
    """Reorder graph.node so that every node comes after the nodes that produce its inputs (the ONNX rule)."""
    available = {v.name for v in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(i in available for i in n.input)]
        if not ready:
            names = ", ".join(n.name or n.op_type for n in pending[:3])
            raise ValueError(f"the graph has a cycle or a missing input around {names}")
        for node in ready:
            available.update(node.output)
        ordered += ready
        pending = [n for n in pending if not any(n is r for r in ready)]
    copies = [type(n)() for n in ordered]
    for copy, node in zip(copies, ordered):
        copy.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copies)


def infer_shapes(model: onnx.ModelProto) -> dict[str, list]:
    """{value name: dims} from ONNX shape inference with data propagation (dims are ints or names or None).

    Data propagation follows Shape -> Gather -> Concat -> Reshape chains (the way the
    TorchScript exporter writes `z.view(-1, C, 1, 1)`), so a 1x1 spatial size behind
    such a chain is known.
    """
    inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    g = inferred.graph
    shapes = {}
    for value in [*g.input, *g.value_info, *g.output]:
        if not value.type.HasField("tensor_type") or not value.type.tensor_type.HasField("shape"):
            continue
        shapes[value.name] = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                              for d in value.type.tensor_type.shape.dim]
    for init in g.initializer:
        shapes[init.name] = list(init.dims)
    return shapes


def save_model(onnx, model, path: str, destination: str) -> None:
    """onnx.save_model with genrt's digest stamped (runtime/onnxfile.py); a write failure is an OutputError."""
    stamp_digest(model)
    try:
        onnx.save_model(model, path)
    except (OSError, ValueError) as exc:
        raise OutputError(f"cannot write {destination}: {exc}") from exc


def read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def set_metadata(model, key: str, value: str) -> None:
    """Set one metadata_props entry, replacing an existing one."""
    for p in model.metadata_props:
        if p.key == key:
            p.value = value
            return
    model.metadata_props.add(key=key, value=value)


def name_of(node) -> str | None:
    """A node's name, the identity the passes compare (node objects do not survive graph edits)."""
    return None if node is None else node.name
