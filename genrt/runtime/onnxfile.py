"""Read what genrt needs from an ONNX file without the `onnx` package.

1. `check_model_file`: what every reader of a model runs before onnxruntime sees it (the
   runtime, `genrt optimize`): the file exists, `check_external_data` (no external-data
   location outside the model's folder) and digest.py's `check_digest` (no damage).
2. `read_header`: IR version, opsets and producer, for `genrt info MODEL`
   (onnxruntime's model metadata does not include the opsets).
3. `label_table_rows`: how many rows the tables that a label input indexes have (the
   class count of a conditional model that does not state it).
4. `graph_inputs`: the graph's inputs and their dimensions, before any session exists
   (a TensorRT session needs its shape profile when it is created).

An ONNX tensor may keep its bytes in a separate file (`data_location = EXTERNAL`,
`external_data = {"location": "weights.bin", ...}`). onnxruntime opens that path
relative to the model; a hostile file could name `/etc/shadow`, `../../secret` or a
symlink that leads out. genrt checks every location before onnxruntime sees the
model (DESIGN.md, "Errors and files").

The runtime does not depend on the `onnx` package, so this module reads the few
protobuf fields it needs straight from the wire format (protowire.py): it walks
ModelProto -> GraphProto (and functions, subgraphs, attributes) -> TensorProto
.external_data, skipping every other field without copying it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from genrt.errors import ModelError
from genrt.runtime import protowire as wire
from genrt.runtime.digest import check_digest

# A tensor's dimensions: each a size, a symbolic name, or None (unknown).
Dims = tuple[int | str | None, ...]

# Field numbers from onnx.proto3 (only those genrt reads).
_MODEL_IR_VERSION, _MODEL_PRODUCER, _MODEL_PRODUCER_VERSION, _MODEL_OPSET = 1, 2, 3, 8
_OPSET_DOMAIN, _OPSET_VERSION = 1, 2
_MODEL_GRAPH, _MODEL_FUNCTIONS = 7, 25
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_INPUT, _GRAPH_SPARSE_INITIALIZER = 1, 5, 11, 15
_VALUE_NAME, _VALUE_TYPE, _TYPE_TENSOR, _TENSOR_TYPE_SHAPE, _SHAPE_DIM, _DIM_VALUE, _DIM_PARAM = 1, 2, 1, 2, 1, 1, 2
_NODE_INPUT, _NODE_OUTPUT, _NODE_OP_TYPE, _NODE_ATTRIBUTE = 1, 2, 4, 5
_ATTR_NAME, _ATTR_I = 1, 3
_TENSOR_DIMS, _TENSOR_NAME = 1, 8
_FUNCTION_NODE = 7
_ATTR_T, _ATTR_G, _ATTR_TENSORS, _ATTR_GRAPHS, _ATTR_SPARSE_T, _ATTR_SPARSE_TS = 5, 6, 10, 11, 22, 23
_SPARSE_VALUES, _SPARSE_INDICES = 1, 2
_TENSOR_EXTERNAL_DATA = 13
_ENTRY_KEY, _ENTRY_VALUE = 1, 2


def read_header(path: str) -> dict[str, Any]:
    """{"ir_version", "opsets": {domain: version}, "producer"} of the ONNX file at `path`."""
    ir_version, opsets, producer = None, {}, ["", ""]
    for number, value in wire.parse(path, _header_fields):
        if number == _MODEL_IR_VERSION:
            ir_version = value
        elif number in (_MODEL_PRODUCER, _MODEL_PRODUCER_VERSION):
            producer[number - _MODEL_PRODUCER] = value.decode("utf-8", "replace")
        elif number == _MODEL_OPSET:
            fields = dict(wire.fields_and_varints(value))
            domain = _text(fields.get(_OPSET_DOMAIN, b"")) or "ai.onnx"
            opsets[domain] = fields.get(_OPSET_VERSION)
    return {"ir_version": ir_version, "opsets": opsets, "producer": " ".join(p for p in producer if p)}


def _header_fields(model: memoryview) -> Iterator[tuple[int, int | bytes]]:
    """The ModelProto's header fields, copied out of the file (the graph is skipped, not copied)."""
    for number, value in wire.fields_and_varints(model):
        if number == _MODEL_IR_VERSION and isinstance(value, int):
            yield number, value
        elif number in (_MODEL_PRODUCER, _MODEL_PRODUCER_VERSION, _MODEL_OPSET):
            yield number, bytes(wire.message(value))


def check_model_file(path: str) -> bool | None:
    """ModelError unless `path` is a regular file whose external data stays in its folder and whose digest
    matches; True when it carried a digest, None when it carries none (check_digest)."""
    if not os.path.isfile(path):
        raise ModelError(f"model file not found: {path}")
    check_external_data(path)
    return check_digest(path)


def check_external_data(path: str) -> list[str]:
    """The external-data locations of the model at `path`; ModelError if one leaves its folder."""
    locations = wire.parse(path, _model_locations)
    folder = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    for location in locations:
        why = _escape_reason(folder, location)
        if why:
            raise ModelError(
                f"{path} refers to external data {location!r}, which {why}; genrt only opens external "
                "data inside the model's own folder (re-export the model, or move its data next to it)"
            )
    return locations


# Ops that pass a label through unchanged in value (index conversions and reshapes of the indices).
_LABEL_PASSTHROUGH = {"Cast", "Identity", "Unsqueeze", "Squeeze", "Reshape", "Flatten"}


def label_table_rows(path: str, label_name: str) -> set[int]:
    """Row counts of the constant tables that `label_name` indexes through Gather (axis 0), following casts
    and reshapes of the label; empty when the label reaches no such table (a one-hot, a computed table)."""
    nodes, tables = [], {}
    for kind, name, values in wire.parse(path, _graph_nodes_and_tables):
        if kind == "node":
            nodes.append((name, values))
        else:
            tables[name] = values
    names, rows = {label_name}, set()
    for op_type, (inputs, outputs, attributes) in nodes:  # a graph's nodes are in topological order
        if op_type in _LABEL_PASSTHROUGH and inputs[:1] and inputs[0] in names:
            names.update(outputs)
        elif op_type == "Gather" and len(inputs) == 2 and inputs[1] in names and not attributes.get("axis"):
            dims = tables.get(inputs[0])
            if dims:
                rows.add(dims[0])
    return rows


def graph_inputs(path: str) -> list[tuple[str, Dims]]:
    """(name, dims) of each graph input that is not an initializer; a dim is an int, its symbolic name, or None."""
    found = wire.parse(path, _inputs_and_initializers)
    initializers = {name for kind, name, _ in found if kind == "initializer"}
    return [(name, dims) for kind, name, dims in found if kind == "input" and name not in initializers]


def _inputs_and_initializers(model: memoryview) -> Iterator[tuple[str, str, Dims]]:
    for number, graph in wire.fields(model):
        if number != _MODEL_GRAPH:
            continue
        for n, payload in wire.fields(graph):
            if n == _GRAPH_INITIALIZER:
                yield "initializer", _tensor_name_and_dims(payload)[0], ()
            elif n == _GRAPH_INPUT:
                fields = dict(wire.fields(payload))
                yield "input", _text(fields.get(_VALUE_NAME, b"")), _value_dims(fields.get(_VALUE_TYPE))


def _value_dims(type_proto: memoryview | None) -> Dims:
    tensor = dict(wire.fields(type_proto)).get(_TYPE_TENSOR) if type_proto is not None else None
    shape = dict(wire.fields(tensor)).get(_TENSOR_TYPE_SHAPE) if tensor is not None else None
    if shape is None:
        return ()
    dims: list[int | str | None] = []
    for number, dim in wire.fields(shape):
        if number == _SHAPE_DIM:
            fields = dict(wire.fields_and_varints(dim))
            value, param = fields.get(_DIM_VALUE), fields.get(_DIM_PARAM)
            dims.append(value if isinstance(value, int) else _text(param) if param is not None else None)
    return tuple(dims)


def _graph_nodes_and_tables(model: memoryview) -> Iterator[tuple[str, str, Any]]:
    """("node", op_type, (inputs, outputs, {attribute: its integer or None})) for the main graph's nodes and ("table", name, dims)
    for its initializers and Constant outputs; tensor bytes are skipped, not read."""
    for number, graph in wire.fields(model):
        if number != _MODEL_GRAPH:
            continue
        for n, payload in wire.fields(graph):
            if n == _GRAPH_INITIALIZER:
                name, dims = _tensor_name_and_dims(payload)
                yield "table", name, dims
            elif n == _GRAPH_NODE:
                op_type, value = "", None
                inputs: list[str] = []
                outputs: list[str] = []
                attributes: dict[str, int | None] = {}
                for k, field in wire.fields_and_varints(payload):
                    if k == _NODE_OP_TYPE:
                        op_type = _text(field)
                    elif k == _NODE_INPUT:
                        inputs.append(_text(field))
                    elif k == _NODE_OUTPUT:
                        outputs.append(_text(field))
                    elif k == _NODE_ATTRIBUTE:
                        attribute = dict(wire.fields_and_varints(wire.message(field)))
                        number_value = attribute.get(_ATTR_I)
                        attributes[_text(attribute.get(_ATTR_NAME, b""))] = (
                            number_value if isinstance(number_value, int) else None)
                        if _ATTR_T in attribute:
                            value = wire.message(attribute[_ATTR_T])
                if op_type == "Constant" and value is not None and outputs:
                    yield "table", outputs[0], _tensor_name_and_dims(value)[1]
                yield "node", op_type, (inputs, outputs, attributes)


def _tensor_name_and_dims(tensor: memoryview) -> tuple[str, tuple[int, ...]]:
    name, dims = "", []
    for number, kind, start, end in wire.spans(tensor):
        if number == _TENSOR_NAME and kind == 2:
            name = _text(wire.payload(tensor, start, end))
        elif number == _TENSOR_DIMS and kind == 0:
            dims.append(wire.varint(tensor, wire.varint(tensor, start)[1])[0])
        elif number == _TENSOR_DIMS and kind == 2:  # packed
            packed, pos = wire.payload(tensor, start, end), 0
            while pos < len(packed):
                value, pos = wire.varint(packed, pos)
                dims.append(value)
    return name, tuple(dims)


def _text(value: memoryview | bytes | int) -> str:
    """A string field's text; ValueError (a malformed message) for a varint where the string belongs."""
    data = value if isinstance(value, bytes) else wire.message(value)
    return bytes(data).decode("utf-8", "replace")


def _escape_reason(folder: str, location: str) -> str | None:
    if not location:
        return "is empty"
    if "\0" in location:
        return "holds a NUL byte"
    if os.path.isabs(location) or location.startswith(("/", "\\")) or (len(location) > 1 and location[1] == ":"):
        return "is an absolute path"
    if ".." in location.replace("\\", "/").split("/"):
        return "climbs out with '..'"
    resolved = os.path.realpath(os.path.join(folder, location))
    if os.path.commonpath([folder, resolved]) != folder:
        return f"resolves through a symlink to {resolved}, outside {folder}"
    return None


def _model_locations(model: memoryview) -> Iterator[str]:
    for number, payload in wire.fields(model):
        if number == _MODEL_GRAPH:
            yield from _graph_locations(payload)
        elif number == _MODEL_FUNCTIONS:
            for n, node in wire.fields(payload):
                if n == _FUNCTION_NODE:
                    yield from _node_locations(node)


def _graph_locations(graph: memoryview) -> Iterator[str]:
    for number, payload in wire.fields(graph):
        if number == _GRAPH_NODE:
            yield from _node_locations(payload)
        elif number == _GRAPH_INITIALIZER:
            yield from _tensor_locations(payload)
        elif number == _GRAPH_SPARSE_INITIALIZER:
            yield from _sparse_locations(payload)


def _node_locations(node: memoryview) -> Iterator[str]:
    for number, attribute in wire.fields(node):
        if number != _NODE_ATTRIBUTE:
            continue
        for n, payload in wire.fields(attribute):
            if n in (_ATTR_T, _ATTR_TENSORS):
                yield from _tensor_locations(payload)
            elif n in (_ATTR_G, _ATTR_GRAPHS):
                yield from _graph_locations(payload)
            elif n in (_ATTR_SPARSE_T, _ATTR_SPARSE_TS):
                yield from _sparse_locations(payload)


def _sparse_locations(sparse: memoryview) -> Iterator[str]:
    for number, payload in wire.fields(sparse):
        if number in (_SPARSE_VALUES, _SPARSE_INDICES):
            yield from _tensor_locations(payload)


def _tensor_locations(tensor: memoryview) -> Iterator[str]:
    for number, entry in wire.fields(tensor):
        if number != _TENSOR_EXTERNAL_DATA:
            continue
        fields = dict(wire.fields(entry))
        if bytes(fields.get(_ENTRY_KEY, b"")) == b"location":
            yield bytes(fields.get(_ENTRY_VALUE, b"")).decode("utf-8", "replace")
