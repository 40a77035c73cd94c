"""Proof that an exported file is right, before genrt keeps it.

`verify` runs every check and collects every failure (it does not stop at the
first), so one report names all that is wrong:

1. `onnx.checker.check_model(full_check=True)`: the ONNX spec, with strict shape inference.
2. The contract's signature: inputs `z` (float32 [batch, latent]) and `label`
   (int64 [batch]) for a conditional model, output `image` (float32 [batch, C, H, W]),
   one symbolic `batch` dimension shared by all of them; and the contract the runtime
   reads back from the file (format, kind, sizes, range) is the checkpoint's.
3. No integer constant in the graph equals the traced batch size: the trace of a
   batch size baked into a Reshape, Tile or Expand (see graph.trace_batch).
4. Parity (parity.py): onnxruntime's outputs against PyTorch's at several batch
   sizes (1, 7, 64 and a large one by default) on the same seeded inputs, within
   `atol`; and the uint8 images that genrt.ext makes from both differ by at most
   `levels` grey levels. The largest differences are named.

Variants have their own tolerances (`TOLERANCES`): fp16 and int8 are compared
with the float32 PyTorch outputs too, so their figures are the whole error a
user sees.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from genrt.errors import ModelError, VerificationError
from genrt.export.parity import Reference, check_parity, open_parity_session
from genrt.export.report import VerificationReport
from genrt.runtime.contract import read_contract
from genrt.runtime.ort import first_line
from genrt.runtime.providers import providers_for
from genrt.spec import CONTRACT_FORMAT, KINDS, TOLERANCES, Tolerance

if TYPE_CHECKING:
    from genrt.train.models import ModelConfig

BATCH_SIZES = (1, 7, 64, 256)


def verify(path: str, reference: Reference, cfg: ModelConfig, trace_batch: int, precision: str = "fp32",
           tolerance: Tolerance | None = None, batch_sizes: Iterable[int] = BATCH_SIZES, device: str = "cpu",
           seed: int = 0) -> VerificationReport:
    """Check the ONNX file at `path` against `reference` (the PyTorch module) on `device` (cpu, cuda); raise
    VerificationError listing all failures."""
    import onnx

    began = time.perf_counter()
    tolerance = tolerance or TOLERANCES[precision]
    providers = providers_for(device, exact=True)  # TF32 off on CUDA: its 1e-3 would hide a real 1e-4 export error
    report = VerificationReport(precision, tolerance, [p if isinstance(p, str) else p[0] for p in providers],
                                images=KINDS[cfg.kind].draws_images)
    try:
        model = onnx.load(path)
    except Exception as exc:  # a file the exporter just wrote should always load
        raise VerificationError(f"{path}: the exported file does not load ({exc})") from exc
    try:
        onnx.checker.check_model(path, full_check=True)
    except Exception as exc:
        report.problems.append(f"onnx.checker: {first_line(exc)}")
    report.problems += signature_problems(model, cfg)
    report.problems += [f"batch size {trace_batch} baked into the graph: {where}"
                        for where in batch_constants(model, trace_batch)]
    session, quiet = open_parity_session(path, report, providers)  # one session for the contract and every batch
    if session is not None:
        if KINDS[cfg.kind].draws_images:
            report.problems += contract_problems(session, path, cfg)
        check_parity(session, quiet, reference, cfg, report, batch_sizes, seed)
    report.seconds = time.perf_counter() - began
    if report.problems:
        raise VerificationError(f"{precision} export failed verification, nothing kept: " + "; ".join(report.problems))
    return report


def expected_signature(cfg: ModelConfig) -> dict[str, list[tuple[str, int, list[int]]]]:
    """{"inputs": [(name, elem type, dims after batch)], "outputs": [...]} for cfg's exported graph."""
    from onnx import TensorProto

    tensors = {"z": (TensorProto.FLOAT, [cfg.latent_dim]), "label": (TensorProto.INT64, []),
               "image": (TensorProto.FLOAT, list(cfg.image_shape)), "logits": (TensorProto.FLOAT, [cfg.num_classes]),
               "features": (TensorProto.FLOAT, [cfg.features])}
    kind = KINDS[cfg.kind]
    return {role: [(name, *tensors[name]) for name in names]
            for role, names in (("inputs", kind.inputs), ("outputs", kind.outputs))}


def signature_problems(model: Any, cfg: ModelConfig) -> list[str]:
    """Differences between the graph's inputs/outputs and the contract for `cfg`."""
    from onnx import TensorProto

    expected = expected_signature(cfg)
    problems: list[str] = []
    batch_names: set[str] = set()
    for role, values in (("inputs", list(model.graph.input)), ("outputs", list(model.graph.output))):
        names = [v.name for v in values]
        want = [name for name, _, _ in expected[role]]
        if names != want:
            problems.append(f"graph {role} are {names}, the contract needs {want}")
            continue
        for value, (name, elem_type, rest) in zip(values, expected[role]):
            tensor = value.type.tensor_type
            if tensor.elem_type != elem_type:
                problems.append(f"{name} has element type {TensorProto.DataType.Name(tensor.elem_type)}, "
                                f"the contract needs {TensorProto.DataType.Name(elem_type)}")
            dims = list(tensor.shape.dim)
            if len(dims) != 1 + len(rest):
                problems.append(f"{name} has {len(dims)} dimensions, the contract needs {1 + len(rest)}")
                continue
            if dims[0].HasField("dim_value") or not dims[0].dim_param:
                problems.append(f"{name}'s first dimension is fixed at {dims[0].dim_value}; it must be symbolic (batch)")
            else:
                batch_names.add(dims[0].dim_param)
            found = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in dims[1:]]
            if found != rest:
                problems.append(f"{name} has shape [batch, {', '.join(map(str, found))}], the contract needs "
                                f"[batch, {', '.join(map(str, rest))}]")
    if len(batch_names) > 1:
        problems.append(f"inputs and outputs use different batch dimensions {sorted(batch_names)}; they must share one")
    return problems


def batch_constants(model: Any, batch: int) -> list[str]:
    """Where a shape-like integer constant (int32/int64, at most 8 values) contains `batch`.

    Initializers and Constant nodes, in subgraphs too. Quantized weights (int8/uint8)
    and other large integer tensors are data, not shapes, and are not looked at.
    """
    from onnx import AttributeProto, TensorProto, numpy_helper

    shape_types = {TensorProto.INT64, TensorProto.INT32}
    found: list[tuple[str, str, list[int]]] = []
    consumers: dict[str, str] = {}

    def small_ints(tensor: Any) -> list[int] | None:
        if tensor.data_type not in shape_types or _elements(tensor.dims) > 8:
            return None
        values: list[int] = numpy_helper.to_array(tensor).ravel().tolist()
        return values

    def scan(graph: Any, prefix: str = "") -> None:
        for node in graph.node:
            for name in node.input:
                consumers.setdefault(name, f"{node.op_type} '{node.name}'")
        for init in graph.initializer:
            values = small_ints(init)
            if values is not None and batch in values:
                found.append((f"{prefix}initializer '{init.name}'", init.name, values))
        for node in graph.node:
            for attr in node.attribute:
                if attr.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS):
                    for sub in [attr.g] if attr.type == AttributeProto.GRAPH else list(attr.graphs):
                        scan(sub, f"{prefix}{node.op_type} '{node.name}' / ")
                if node.op_type != "Constant":
                    continue
                values = None
                if attr.name == "value":
                    values = small_ints(attr.t)
                elif attr.name == "value_int":
                    values = [attr.i]
                elif attr.name == "value_ints" and len(attr.ints) <= 8:
                    values = list(attr.ints)
                if values is not None and batch in values:
                    found.append((f"{prefix}Constant '{node.name}'", node.output[0], values))

    scan(model.graph)
    return [f"{where} = {values} (used by {consumers.get(name, 'nothing')})" for where, name, values in found]


def _elements(dims: Sequence[int]) -> int:
    count = 1
    for d in dims:
        count *= d
    return count


def contract_problems(session: Any, path: str, cfg: ModelConfig) -> list[str]:
    """Where the contract the runtime reads from the file differs from the checkpoint's (a metadata typo, say)."""
    try:
        c = read_contract(session, path)
    except (ModelError, ValueError) as exc:
        return [f"the runtime cannot read the file's contract: {exc}"]
    kind = KINDS[cfg.kind]
    expected = {"genrt.format": CONTRACT_FORMAT, "kind": kind.file_kind, "latent size": cfg.latent_dim,
                "classes": cfg.num_classes, "image shape": tuple(cfg.image_shape),
                "output range": kind.output_range, "assumptions": ()}
    found = {"genrt.format": c.metadata.get("genrt.format"), "kind": c.kind, "latent size": c.latent_dim,
             "classes": c.num_classes, "image shape": c.image_shape, "output range": c.output_range,
             "assumptions": c.assumptions}
    return [f"the runtime reads {what} {found[what]!r} from the file, the checkpoint has {want!r}"
            for what, want in expected.items() if found[what] != want]
