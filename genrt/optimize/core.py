"""`optimize_model`: a generator ONNX file -> a faster, verified one, kept only if it passed.

    MODEL.onnx (genrt-exported or foreign; read as the runtime reads it)
        -> batch norm folded into the convolutions                    passes.fold_batchnorm
        -> rewrites chosen by timing on the target, never slower       select.choose_plan
        -> confirmed against the original with more rounds             (else the original graph is kept)
        -> staged next to -o, verified (checker, signature, contract,  verify_against
           parity at batch 1, 7, 64, 256), then moved into place

The choices and their timings go into the metadata as `genrt.optimized` (JSON).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

import genrt
from genrt.errors import DependencyError, InputError, ModelError, OutputError, VerificationError
from genrt.files import Staging, file_sha256, make_folder, refuse_existing, remove_if_empty
from genrt.optimize.passes import Plan
from genrt.optimize.quantize import error_stats
from genrt.runtime.contract import read_contract, variant_path
from genrt.runtime.generator import UINT8_OUTPUT
from genrt.runtime.onnxfile import check_external_data
from genrt.runtime.session import open_session
from genrt.spec import OPTIMIZE_DEVICES

PROVIDERS = {"cpu": ["CPUExecutionProvider"], "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"]}
DEFAULT_BATCHES = (1, 8, 64)
VERIFY_BATCHES = (1, 7, 64, 256)
ATOL = 1e-5  # float32 rewrites only reorder sums
SEARCH_ROUNDS = 7
CONFIRM_ROUNDS = 15
CALIBRATION_IMAGES = 512
INT8_MEAN_TARGET = 4e-3  # mean |int8 - fp32| an int8 choice aims at (0.2% of a [-1, 1] range)
MAX_BYTES = 1_800_000_000  # protobuf's 2 GiB limit, with room


@dataclass
class OptimizeResult:
    path: str
    source: str
    kept: str  # "optimized" | "original" (no rewrite was faster)
    plan: dict
    batch_sizes: tuple[int, ...]
    original_ms: dict[int, float]
    optimized_ms: dict[int, float]
    parity: dict[int, float] = field(default_factory=dict)  # batch -> max |optimized - original|
    candidates: list[dict] = field(default_factory=list)
    untouched: dict[str, str] = field(default_factory=dict)  # ConvTranspose -> why no rewrite applies
    int8: dict | None = None  # the int8 variant: choice, errors against the original, timings
    uint8_output: dict | None = None  # image_u8 against genrt.ext: timings, and whether it is faster here
    seconds: float = 0.0

    def speedups(self) -> dict[int, float]:
        return {b: self.original_ms[b] / self.optimized_ms[b] for b in self.batch_sizes}

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "source": self.source,
            "kept": self.kept,
            "plan": self.plan,
            "batch_sizes": list(self.batch_sizes),
            "original_ms": {str(b): round(v, 4) for b, v in self.original_ms.items()},
            "optimized_ms": {str(b): round(v, 4) for b, v in self.optimized_ms.items()},
            "speedup": {str(b): round(v, 3) for b, v in self.speedups().items()},
            "parity_max_abs": {str(b): float(f"{v:.3g}") for b, v in self.parity.items()},
            "untouched": self.untouched,
            "int8": self.int8,
            "uint8_output": self.uint8_output,
            "candidates": self.candidates,
            "seconds": round(self.seconds, 2),
        }


def optimize_model(model, output, *, batch_sizes=DEFAULT_BATCHES, device: str = "cpu", threads: int | None = None,
                   int8: bool = False, calibration: int = CALIBRATION_IMAGES, uint8_output: bool = False,
                   overwrite: bool = False, rounds: int = SEARCH_ROUNDS, log=print, progress=None) -> OptimizeResult:
    """Rewrite the generator at `model` for speed on `device` at `batch_sizes`, verify it, write it to `output`.

    With `int8`, also write the quantized variant beside it (model.int8.onnx), verified
    against the original with the int8 error budget. With `uint8_output`, the files also
    give the images as uint8 N x H x W x C (output `image_u8`, see uint8.py), timed
    against genrt.ext so that the runtime uses it only where it is faster.
    `progress(done, total)` is called after each timed batch size of each search step.
    """
    began = time.perf_counter()
    model, output = os.fspath(model), os.fspath(output)
    batch_sizes = _check_arguments(model, output, batch_sizes, device, threads, rounds, overwrite)
    if int8 and (isinstance(calibration, bool) or not isinstance(calibration, int) or calibration < 1):
        raise InputError(f"calibration must be a positive number of images, got {calibration!r}")
    destinations = [output] + ([variant_path(output, "int8")] if int8 else [])
    refuse_existing(destinations, overwrite)
    onnx = _import_onnx()
    folder = os.path.dirname(os.path.abspath(output))
    created = make_folder(folder)
    try:
        result = _optimize(onnx, model, output, destinations, batch_sizes, device, threads, int8, calibration,
                           uint8_output, overwrite, rounds, log, progress)
    except BaseException:
        if created:
            remove_if_empty(folder)
        raise
    result.seconds = time.perf_counter() - began
    return result


def _optimize(onnx, model, output, destinations, batch_sizes, device, threads, int8, calibration, uint8_output,
              overwrite, rounds, log, progress) -> OptimizeResult:
    from genrt.optimize.onnxgraph import OnnxGraph, infer_shapes
    from genrt.optimize.passes import apply_plan, dense_candidate, fold_batchnorm, untouched_layers
    from genrt.optimize.select import Timer, choose_plan, feeds_for, search_steps

    check_external_data(model)
    providers = PROVIDERS[device]
    original_session = open_session(model, providers, threads=threads, spinning=False, name=model)
    if device == "cuda" and "CUDAExecutionProvider" not in original_session.get_providers():
        raise InputError("--device cuda: onnxruntime's CUDA provider is not usable here (run `genrt info`); "
                         "use --device cpu")
    contract = read_contract(original_session, model)
    if uint8_output and contract.image_shape is None:
        raise InputError(f"--uint8-output: the image shape of {model} is not fixed in the graph or its metadata")
    try:
        proto = onnx.load(model)
    except Exception as exc:  # onnxruntime read it, so this is rare: an onnx/onnxruntime version gap
        raise ModelError(f"cannot read {model} with the onnx package: {exc}") from exc
    OnnxGraph(proto)  # names unnamed nodes in place, so reports name nodes that exist in whichever graph is kept
    original_bytes = proto.SerializeToString()

    base = onnx.ModelProto()
    base.CopyFrom(proto)
    graph = OnnxGraph(base)
    folded = fold_batchnorm(graph)
    graph.finish()
    if folded:
        log(f"folded {folded} BatchNormalization node(s) into their convolutions")
    untouched = untouched_layers(graph)
    dense = dense_candidate(graph, infer_shapes(base))
    untouched.pop(dense.name if dense is not None else None, None)
    for name, why in untouched.items():
        log(f"left {name} as it is: {why}")
    total, done = (search_steps(base) + 1 + int8) * len(batch_sizes), [0]

    def tick():
        done[0] += 1
        if progress is not None:
            progress(done[0], total)

    timer = Timer(original_bytes, feeds_for(contract, batch_sizes), providers, threads, rounds, tick)
    tuning = choose_plan(base, timer, log)

    candidate = apply_plan(base, tuning.plan)
    changed = bool(folded) or tuning.plan.rewrites
    times = timer.time({"optimized": candidate.SerializeToString()} if changed else {},
                       rounds=max(rounds, CONFIRM_ROUNDS))
    slower = [b for b in batch_sizes if changed and times["optimized"][b] > times["original"][b]]
    kept = "optimized" if changed and not slower else "original"
    if not changed and not search_steps(base):
        log("nothing to rewrite in this graph (no ConvTranspose the passes cover); keeping it as it is")
    elif not changed:
        log("no rewrite was faster on this machine; keeping the original graph")
    elif slower:
        log(f"the rewritten graph is not faster at batch {', '.join(map(str, slower))}; keeping the original graph")
    if kept == "original":
        candidate = proto
        times["optimized"] = times["original"]
    result = OptimizeResult(
        path=output, source=model, kept=kept, plan=tuning.plan.describe() if kept == "optimized" else {},
        batch_sizes=batch_sizes,
        original_ms={b: times["original"][b] * 1e3 for b in batch_sizes},
        optimized_ms={b: times["optimized"][b] * 1e3 for b in batch_sizes},
        candidates=tuning.candidates, untouched=untouched,
    )
    _set_optimized_metadata(candidate, result, device, original_session, model)
    if uint8_output:
        from genrt.optimize.uint8 import add_uint8_output, measure

        plain = candidate.SerializeToString()
        add_uint8_output(candidate, contract.image_name, contract.image_shape, contract.output_range)
        result.uint8_output = measure(plain, candidate.SerializeToString(), contract, timer)
        set_metadata(candidate, "genrt.uint8_output", json.dumps(result.uint8_output, sort_keys=True))
        log("image_u8 output added; the runtime will use it on GPUs" + (
            " and here (faster than genrt.ext)" if result.uint8_output["faster"] else
            ", not on this CPU (genrt.ext is faster here; its nodes still run on every call, so leave out "
            "--uint8-output for a model that runs on CPUs only)"))
    if candidate.ByteSize() > MAX_BYTES:
        raise InputError(f"{model}: the optimized graph exceeds {MAX_BYTES / 1e9:.1f} GB, too large for one ONNX file")

    folder = os.path.dirname(os.path.abspath(output))
    with Staging(folder) as stage:
        staged = stage.path(os.path.basename(output))
        _save(onnx, candidate, staged, output)
        result.parity = verify_against(staged, original_session, contract, providers, threads, atol=ATOL)
        moves = []
        if int8:
            int8_path = variant_path(output, "int8")
            staged_int8 = stage.path(os.path.basename(int8_path))
            graphs = _int8_graphs(base, tuning.plan if kept == "optimized" else Plan())
            result.int8 = _int8_variant(onnx, graphs, staged, staged_int8, stage, original_session, contract, timer,
                                        calibration, result.uint8_output, log)
            moves.append((os.path.basename(int8_path), int8_path))
        refuse_existing(destinations, overwrite)  # a file may have appeared while we worked
        stage.commit([*moves, (os.path.basename(output), output)])
    return result


def _save(onnx, model, path: str, destination: str) -> None:
    try:
        onnx.save_model(model, path)
    except (OSError, ValueError) as exc:
        raise OutputError(f"cannot write {destination}: {exc}") from exc


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _int8_graphs(base, plan) -> dict:
    """The float graphs worth quantizing (see _int8_variant).

    The chosen fp32 plan; the same with "split" layers as "single" (a split layer sums
    several int8 convolutions, each rounded on its own; one convolution rounds once);
    and every strided layer as "phases" with the dense first layer: a float ConvTranspose
    has no integer kernel, so a rewrite too slow in float can pay in int8.
    """
    from genrt.optimize.onnxgraph import OnnxGraph, infer_shapes
    from genrt.optimize.passes import LayerChoice, Plan, apply_plan, dense_candidate, strided_layers

    g = OnnxGraph(base)
    plans = {"fp32 plan": plan}
    if any(c.form == "split" for c in plan.layers.values()):
        layers = {k: LayerChoice("single", True) if c.form == "split" else c for k, c in plan.layers.items()}
        plans["split layers as single"] = Plan(plan.dense, plan.fold_labels, layers)
    dense = dense_candidate(g, infer_shapes(base)) is not None
    plans["every layer as phases"] = Plan(dense, plan.fold_labels if plan.dense else False,
                                          {n.name: LayerChoice("phases") for n in strided_layers(g)})
    graphs, seen = {}, []
    for name, p in plans.items():
        if p.describe() not in seen:  # the same plan twice is quantized once
            seen.append(p.describe())
            graphs[name] = apply_plan(base, p)
    return graphs


def _int8_variant(onnx, graphs, fp32_path, int8_path, stage, original, contract, timer, calibration, uint8_record,
                  log) -> dict:
    """Quantize each float graph in `graphs`; keep the fastest candidate within the int8 budget (see quantize.py).

    For each graph two candidates: every Conv in int8 (the dense first layer stays float),
    and the same with the convolutions that write the image in float too. Each is checked
    against the original fp32 graph at the verification batch sizes; one over the budget
    is out. Kept: the fastest of those within INT8_MEAN_TARGET and faster than the fp32
    file at `fp32_path`, or else the fastest within the budget. With `uint8_record` (the
    fp32 file's image_u8 measurement) the kept file gets the image_u8 output too.
    """
    from genrt.optimize.quantize import calibration_feeds, float_layers, output_layers, quantize_qdq
    from genrt.optimize.select import feeds_for
    from genrt.spec import TOLERANCES

    budget = TOLERANCES["int8"]
    calibration_batches = calibration_feeds(contract, calibration)
    options = {}
    for i, (graph_name, graph) in enumerate(graphs.items()):
        source = stage.path(f"int8-source-{i}.onnx")
        _save(onnx, graph, source, int8_path)
        options[f"{graph_name}, all convolutions"] = (source, float_layers(graph))
        options[f"{graph_name}, output layer in float"] = (source, float_layers(graph) + output_layers(graph))
    built, errors = {}, {}
    for i, (name, (source, exclude)) in enumerate(options.items()):
        path = stage.path(f"int8-candidate-{i}.onnx")
        quantize_qdq(source, path, calibration_batches, exclude)
        session = open_session(path, timer.providers, threads=timer.threads, spinning=False, name="the int8 graph")
        checks = feeds_for(contract, VERIFY_BATCHES, seed=1).values()
        got = np.concatenate([session.run([contract.image_name], f)[0].ravel() for f in checks])
        expected = np.concatenate([original.run([contract.image_name], f)[0].ravel() for f in checks])
        errors[name] = e = error_stats(got, expected)
        if e["mean"] <= budget.mean_atol and e["p999"] <= budget.p999_atol and e["max"] <= budget.atol:
            built[name] = path
    if not built:
        summary = "; ".join(f"{k}: mean {v['mean']:.3g}, 99.9th pct {v['p999']:.3g}" for k, v in errors.items())
        raise VerificationError(f"int8 graph failed verification, nothing kept: over the error budget (mean "
                                f"<= {budget.mean_atol}, 99.9th pct <= {budget.p999_atol}): {summary}")
    times = timer.time({k: _read(p) for k, p in {"fp32": fp32_path, **built}.items()}, race=False)

    def speed(k):  # log of the geometric mean of int8 / fp32 time over the batch sizes
        return sum(math.log(times[k][b] / times["fp32"][b]) for b in timer.feeds) / len(timer.feeds)

    good = [k for k in built if errors[k]["mean"] <= INT8_MEAN_TARGET and speed(k) < 0]
    choice = min(good or built, key=speed)
    if speed(choice) >= 0:
        log("int8 is not faster than fp32 on this machine; it is written for its size only")
    model = onnx.load(built[choice])
    set_metadata(model, "genrt.precision", "int8")
    if uint8_record is not None:
        from genrt.optimize.uint8 import add_uint8_output

        add_uint8_output(model, contract.image_name, contract.image_shape, contract.output_range)
        set_metadata(model, "genrt.uint8_output", json.dumps(uint8_record, sort_keys=True))
    _save(onnx, model, int8_path, int8_path)
    report = {"choice": choice, "fp32_ms": {str(b): round(times["fp32"][b] * 1e3, 4) for b in timer.feeds},
              "original_ms": {str(b): round(times["original"][b] * 1e3, 4) for b in timer.feeds},
              "candidates": {k: {"errors": {s: float(f"{v:.3g}") for s, v in e.items()},
                                 "ms": {str(b): round(times[k][b] * 1e3, 4) for b in timer.feeds} if k in built else None}
                             for k, e in errors.items()}}
    log(f"int8 ({choice}): mean |err| {errors[choice]['mean']:.2e}, 99.9th pct {errors[choice]['p999']:.2e}; "
        + ", ".join(f"batch {b} {times[choice][b] / times['fp32'][b]:.2f}x fp32" for b in timer.feeds))
    return report


def _check_arguments(model, output, batch_sizes, device, threads, rounds, overwrite) -> tuple[int, ...]:
    if not os.path.isfile(model):
        raise ModelError(f"model file not found: {model}")
    if not output.endswith(".onnx"):
        raise InputError(f"-o {output}: the file name must end with .onnx")
    if os.path.isdir(output):
        raise OutputError(f"-o {output} is a folder; give a file name ending with .onnx")
    if os.path.abspath(output) == os.path.abspath(model):
        raise InputError(f"-o {output} is the input model; write the optimized model to another file")
    if device not in OPTIMIZE_DEVICES:
        raise InputError(f"device must be one of {', '.join(OPTIMIZE_DEVICES)}, got {device!r}")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise InputError(f"threads must be a positive integer, got {threads!r}")
    if not isinstance(rounds, int) or rounds < 1:
        raise InputError(f"rounds must be a positive integer, got {rounds!r}")
    sizes = tuple(batch_sizes)
    if not sizes or any(isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 1 for b in sizes):
        raise InputError(f"batch sizes must be positive integers, got {list(sizes)}")
    return tuple(sorted({int(b) for b in sizes}))


def _import_onnx():
    try:
        import onnx
    except ImportError as exc:
        raise DependencyError(f"genrt optimize needs the onnx package ({exc}); pip install 'genrt[optimize]'") from None
    return onnx


def _set_optimized_metadata(model, result: OptimizeResult, device: str, session, source: str) -> None:
    from genrt.runtime.environment import import_onnxruntime

    record = {
        "kept": result.kept,
        "plan": result.plan,
        "device": device,
        "provider": session.get_providers()[0],
        "batch_sizes": list(result.batch_sizes),
        "original_ms": {str(b): round(v, 4) for b, v in result.original_ms.items()},
        "optimized_ms": {str(b): round(v, 4) for b, v in result.optimized_ms.items()},
        "source_sha256": file_sha256(source),
        "onnxruntime": import_onnxruntime().__version__,
        "genrt": genrt.__version__,
    }
    set_metadata(model, "genrt.optimized", json.dumps(record, sort_keys=True))


def set_metadata(model, key: str, value: str) -> None:
    """Set one metadata_props entry, replacing an existing one."""
    for p in model.metadata_props:
        if p.key == key:
            p.value = value
            return
    model.metadata_props.add(key=key, value=value)


def verify_against(path: str, original, contract, providers, threads=None, batch_sizes=VERIFY_BATCHES,
                   atol: float = ATOL) -> dict[int, float]:
    """Check the file at `path` against the original session: {batch: max |diff|}, or VerificationError naming all.

    The ONNX checker (full), the same inputs and outputs (names, types, symbolic batch),
    the same contract as the runtime reads it, and parity at each batch size: max
    |diff| <= atol and uint8 images within 1 level.
    """
    import onnx

    import genrt.ext as ext
    from genrt.optimize.select import feeds_for
    from genrt.runtime.environment import first_line

    problems, parity = [], {}
    try:
        onnx.checker.check_model(path, full_check=True)
    except Exception as exc:
        problems.append(f"onnx.checker: {first_line(exc)}")
    try:
        session = open_session(path, providers, threads=threads, spinning=False, name="the optimized graph")
    except ModelError as exc:
        raise VerificationError(f"optimized graph failed verification, nothing kept: {exc}") from exc
    outputs = [o for o in session.get_outputs() if o.name != UINT8_OUTPUT or UINT8_OUTPUT in
               {p.name for p in original.get_outputs()}]
    for role, mine, theirs in (("inputs", session.get_inputs(), original.get_inputs()),
                               ("outputs", outputs, original.get_outputs())):
        if [(v.name, v.type, v.shape) for v in mine] != [(v.name, v.type, v.shape) for v in theirs]:
            problems.append(f"graph {role} changed: {[(v.name, v.type, v.shape) for v in mine]}")
    with_u8 = len(outputs) < len(session.get_outputs())
    if not problems:
        read = read_contract(session, path)
        for name in ("latent_name", "latent_dim", "image_name", "image_shape", "output_range", "kind", "label_name",
                     "num_classes", "class_names"):
            if getattr(read, name) != getattr(contract, name):
                problems.append(f"contract field {name} changed from {getattr(contract, name)!r} to "
                                f"{getattr(read, name)!r}")
        for batch, feed in feeds_for(contract, batch_sizes, seed=1).items():
            expected = original.run([contract.image_name], feed)[0].astype(np.float32)
            try:
                got, *u8 = session.run([contract.image_name] + ([UINT8_OUTPUT] if with_u8 else []), feed)
            except Exception as exc:
                problems.append(f"batch {batch}: onnxruntime fails: {first_line(exc)}")
                continue
            if u8 and not np.array_equal(u8[0], ext.to_uint8(got, contract.output_range)):
                problems.append(f"batch {batch}: image_u8 differs from genrt.ext.to_uint8 of the float output")
            got = got.astype(np.float32)
            if got.shape != expected.shape:
                problems.append(f"batch {batch}: output shape {list(got.shape)}, original {list(expected.shape)}")
                continue
            same_nan = np.isnan(got) == np.isnan(expected)
            diff = np.where(same_nan, np.abs(np.nan_to_num(got) - np.nan_to_num(expected)), np.inf)
            parity[batch] = float(diff.max())
            if parity[batch] > atol:
                problems.append(f"batch {batch}: max |optimized - original| = {parity[batch]:.3g} > {atol:g}")
            if got.shape[1] not in (1, 3, 4):  # not an image genrt.ext converts; the float check above holds
                continue
            levels = np.abs(ext.to_uint8(got, contract.output_range).astype(np.int16)
                            - ext.to_uint8(expected, contract.output_range).astype(np.int16)).max()
            if levels > 1:
                problems.append(f"batch {batch}: uint8 images differ by up to {levels} levels (allowed 1)")
    if problems:
        raise VerificationError("optimized graph failed verification, nothing kept: " + "; ".join(problems))
    return parity
