"""Protobuf-level damage to an ONNX model: what a buggy exporter, a hostile sender or a careless edit writes.

`mutant(model, rng)` returns a changed copy of an onnx ModelProto and what was changed: input and output
dims and dtypes, opsets, node attributes, renamed or duplicated inputs and outputs, genrt's metadata values
(absurd sizes, deep JSON, wrong types) and external-data locations. A mutant of a file that carried a digest
gets a fresh one, so that the checks behind the digest are what it meets (tests/test_hardening.py,
benchmarks/fuzz_models.py).
"""

from __future__ import annotations

import random

import onnx

HUGE = (0, -1, 1 << 20, 1 << 31, 10**12, (1 << 63) - 1)
META_VALUES = {
    "genrt.latent_dim": ["0", "-3", "1e9", str(10**12), "nan", "", "x" * 1000],
    "genrt.num_classes": ["0", "-1", str(10**9), str(10**18), "3.5"],
    "genrt.image_shape": ["1,100000,100000", "4,65536,65536", "0,28,28", "1,28", "3,-28,28", "1,28,28,1"],
    "genrt.output_range": ["1,-1", "nan,1", "-inf,inf", "0", "1e308,1e309"],
    "genrt.class_names": ["[" * 5000 + "]" * 5000, '{"a": 1}', "[1, [2]]", '["a"]', "[" + '"x",' * 100000 + '"x"]'],
    "genrt.format": ["2", "", "1" * 100],
    "genrt.kind": ["", "unknown", "cgan" * 1000],
    "genrt.uint8_output": ["[" * 5000 + "]" * 5000, "{", '{"faster": "yes"}'],
    "genrt.source": ["[" * 5000 + "]" * 5000, "{", "null"],
    "genrt.latent_distribution": ["uniform", "", "\x00"],
}
LOCATIONS = ["weights\x00.bin", "../outside.bin", "/etc/passwd", "", "a" * 5000, "sub/../../x.bin", "missing.bin"]


def _values(model: onnx.ModelProto) -> list:
    return [*model.graph.input, *model.graph.output]


def _dims(rng: random.Random, model: onnx.ModelProto) -> str:
    value = rng.choice(_values(model))
    dims = value.type.tensor_type.shape.dim
    if not dims:
        return "no dims to change"
    dim = rng.choice(dims)
    how = rng.randrange(3)
    if how == 0:
        dim.dim_value = rng.choice(HUGE)
    elif how == 1:
        dim.dim_param = rng.choice(["batch", "", "n" * 300])
    else:
        dims.add().dim_value = rng.choice((1, 28, 1 << 20))
    return f"dims of {value.name}: {[d.dim_value or d.dim_param for d in dims]}"


def _dtype(rng: random.Random, model: onnx.ModelProto) -> str:
    value = rng.choice(_values(model))
    value.type.tensor_type.elem_type = rng.randrange(0, 26)
    return f"dtype of {value.name}: {value.type.tensor_type.elem_type}"


def _opset(rng: random.Random, model: onnx.ModelProto) -> str:
    opset = rng.choice(model.opset_import)
    opset.version = rng.choice((0, 1, 6, 99, 1 << 40))
    if rng.random() < 0.3:
        model.ir_version = rng.choice((0, 1, 3, 99))
    return f"opset {opset.domain or 'ai.onnx'} {opset.version}, ir {model.ir_version}"


def _attribute(rng: random.Random, model: onnx.ModelProto) -> str:
    nodes = [n for n in model.graph.node if n.attribute]
    if not nodes:
        return "no attributes"
    node = rng.choice(nodes)
    attribute = rng.choice(node.attribute)
    if attribute.ints:
        attribute.ints[rng.randrange(len(attribute.ints))] = rng.choice(HUGE)
    elif attribute.type == onnx.AttributeProto.INT:
        attribute.i = rng.choice(HUGE)
    elif attribute.type == onnx.AttributeProto.FLOAT:
        attribute.f = rng.choice((float("nan"), float("inf"), -1e30))
    else:
        attribute.type = rng.randrange(1, 15)
    return f"attribute {attribute.name} of {node.op_type}"


def _names(rng: random.Random, model: onnx.ModelProto) -> str:
    values = _values(model)
    value = rng.choice(values)
    if rng.random() < 0.5:
        value.name = rng.choice(["", values[0].name, "x" * 300, "image_u8"])
        return f"renamed to {value.name[:20]!r}"
    target = model.graph.input if value in model.graph.input else model.graph.output
    target.add().CopyFrom(value)
    return f"duplicated {value.name}"


def _metadata(rng: random.Random, model: onnx.ModelProto) -> str:
    key = rng.choice(sorted(META_VALUES))
    value = rng.choice(META_VALUES[key])
    props = {p.key: p.value for p in model.metadata_props}
    props[key] = value
    if rng.random() < 0.2:  # a duplicated entry
        model.metadata_props.add(key=key, value=value)
    else:
        del model.metadata_props[:]
        for k, v in props.items():
            model.metadata_props.add(key=k, value=v)
    return f"metadata {key}={value[:20]!r}"


def _external(rng: random.Random, model: onnx.ModelProto) -> str:
    tensor = rng.choice(model.graph.initializer)
    location = rng.choice(LOCATIONS)
    tensor.data_location = onnx.TensorProto.EXTERNAL
    del tensor.external_data[:]
    tensor.external_data.add(key="location", value=location)
    if rng.random() < 0.5:
        tensor.external_data.add(key="length", value=rng.choice(["-1", "1e9", str(1 << 62)]))
    return f"external data {location[:20]!r} for {tensor.name}"


MUTATIONS = (_dims, _dtype, _opset, _attribute, _names, _metadata, _external)


def mutant(source: onnx.ModelProto, rng: random.Random, digest: bool) -> tuple[onnx.ModelProto, str]:
    """A copy of `source` with one to three protobuf-level changes, and what they were; re-digested if `digest`."""
    from genrt.runtime.digest import stamp_digest

    model = onnx.ModelProto()
    model.CopyFrom(source)
    changes = [rng.choice(MUTATIONS)(rng, model) for _ in range(rng.choice((1, 1, 2, 3)))]
    if digest:
        stamp_digest(model)
    return model, "; ".join(changes)
