"""`optimize_model`: a generator ONNX file -> a faster, verified one, kept only if it passed.

    MODEL.onnx (genrt-exported or foreign; read as the runtime reads it)
        -> batch norm folded into the convolutions                    batchnorm.fold_batchnorm
        -> the plan fastest at each batch size, timed on the target    select.choose_plan
           (one If graph when they differ, dispatch.py; the original
           graph is kept when no plan beats it)
        -> staged next to -o, verified (checker, signature, contract,  verify_against
           parity at batch 1, 7, 64, 256), then moved into place

The choices and their timings go into the metadata as `genrt.optimized` (JSON).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import genrt
from genrt.errors import DependencyError, InputError, ModelError, OutputError
from genrt.files import Staging, file_sha256, new_folder, refuse_existing
from genrt.limits import MAX_BATCH, check_fits
from genrt.optimize.int8 import int8_graphs, int8_variant
from genrt.optimize.onnxgraph import save_model, set_metadata
from genrt.optimize.passes import Plan
from genrt.optimize.verify import ATOL, verify_against
from genrt.runtime.contract import read_contract, variant_path
from genrt.runtime.ort import first_line, import_onnxruntime, onnxruntime_errors
from genrt.runtime.onnxfile import check_model_file
from genrt.runtime.providers import providers_for
from genrt.runtime.session import check_threads, open_session
from genrt.spec import OPTIMIZE_DEVICES

DEFAULT_BATCHES = (1, 8, 64)
SEARCH_ROUNDS = 7
CALIBRATION_IMAGES = 512
MAX_BYTES = 1_800_000_000  # protobuf's 2 GiB limit, with room


@dataclass
class OptimizeResult:
    path: str
    source: str
    kept: str  # "optimized" | "original" (no plan was faster over the batch sizes)
    plan: dict[str, Any]
    batch_sizes: tuple[int, ...]
    original_ms: dict[int, float]
    optimized_ms: dict[int, float]
    parity: dict[int, float] = field(default_factory=dict)  # batch -> max |optimized - original|
    candidates: list[dict[str, Any]] = field(default_factory=list)
    reasons: dict[int, dict[str, dict[str, float | None]]] = field(default_factory=dict)  # batch -> site -> {form:
    # score} (select.py)
    untouched: dict[str, str] = field(default_factory=dict)  # ConvTranspose -> why no rewrite applies
    int8: dict[str, Any] | None = None  # the int8 variant: choice, errors against the original, timings
    uint8_output: dict[str, Any] | None = None  # image_u8 against genrt.ext: timings, and whether it is faster here
    seconds: float = 0.0

    def speedups(self) -> dict[int, float]:
        return {b: self.original_ms[b] / self.optimized_ms[b] for b in self.batch_sizes}

    def to_dict(self) -> dict[str, Any]:
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
            "reasons": self.reasons,
            "candidates": self.candidates,
            "seconds": round(self.seconds, 2),
        }


def optimize_model(model: str | os.PathLike[str], output: str | os.PathLike[str], *,
                   batch_sizes: Iterable[int] = DEFAULT_BATCHES, device: str = "cpu", threads: int | None = None,
                   int8: bool = False, calibration: int = CALIBRATION_IMAGES, uint8_output: bool = False,
                   overwrite: bool = False, rounds: int = SEARCH_ROUNDS, log: Callable[[str], object] = print,
                   progress: Callable[[int, int], object] | None = None) -> OptimizeResult:
    """Rewrite the generator at `model` for speed on `device` at `batch_sizes`, verify it, write it to `output`.

    With `int8`, also write the quantized variant beside it (model.int8.onnx), verified
    against the original with the int8 error budget. With `uint8_output`, the files also
    give the images as uint8 N x H x W x C (output `image_u8`, see uint8.py), timed
    against genrt.ext so that the runtime uses it only where it is faster.
    `progress(done, total)` is called after each timed batch size of each search step.
    """
    began = time.perf_counter()
    model, output = os.fspath(model), os.fspath(output)
    sizes = _check_arguments(model, output, batch_sizes, device, threads, rounds, overwrite)
    if int8 and (isinstance(calibration, bool) or not isinstance(calibration, int) or calibration < 1):
        raise InputError(f"calibration must be a positive number of images, got {calibration!r}")
    destinations = [output] + ([variant_path(output, "int8")] if int8 else [])
    refuse_existing(destinations, overwrite)
    onnx = _import_onnx()
    failures = (*onnxruntime_errors(import_onnxruntime()), *_onnx_errors(onnx))
    with new_folder(os.path.dirname(os.path.abspath(output))):
        try:
            result = _optimize(onnx, model, output, destinations, sizes, device, threads, int8, calibration,
                               uint8_output, overwrite, rounds, log, progress)
        except failures as exc:  # a graph onnxruntime opened but cannot run, or onnx cannot infer shapes for
            raise ModelError(f"{model}: cannot optimize it: {first_line(exc)}; check that `genrt sample` runs it") \
                from exc
    result.seconds = time.perf_counter() - began
    return result


def _optimize(onnx, model, output, destinations, batch_sizes, device, threads, int8, calibration, uint8_output,
              overwrite, rounds, log, progress) -> OptimizeResult:
    from genrt.optimize.onnxgraph import OnnxGraph, infer_shapes
    from genrt.optimize.dense import dense_candidate
    from genrt.optimize.batchnorm import fold_batchnorm
    from genrt.optimize.passes import untouched_layers
    from genrt.optimize.select import choose_plan, feeds_for, search_steps
    from genrt.optimize.timer import Timer

    check_model_file(model)  # a damaged input is refused, not rewritten into a freshly digested output
    # Candidates are timed as the runtime runs them (TF32 on, on CUDA), and checked against the original exactly.
    providers, exact = providers_for(device), providers_for(device, exact=True)
    original_session = open_session(model, exact, threads=threads, spinning=False, name=model)
    contract = read_contract(original_session, model)
    # float32 feeds and outputs of a batch, held four times over: two sessions' runs and their comparison
    values = contract.latent_dim + int(np.prod(contract.image_shape or (0,)))
    check_fits(max(batch_sizes) * values * 4 * 4, f"timing batch {max(batch_sizes):,} of {model}",
               "optimize for smaller `batch_sizes`")
    if contract.fixed_batch and set(batch_sizes) != {contract.fixed_batch}:
        raise InputError(f"{model} runs batches of exactly {contract.fixed_batch} (its graph fixes the batch "
                         f"dimension); optimize it for `batch_sizes` [{contract.fixed_batch}]")
    if uint8_output and contract.image_shape is None:
        raise InputError(f"`uint8_output`: the image shape of {model} is not fixed in the graph or its metadata")
    try:
        proto = onnx.load(model)
    except Exception as exc:  # onnxruntime read it, so this is rare: an onnx/onnxruntime version gap
        raise ModelError(f"cannot read {model} with the onnx package: {exc}") from exc
    try:  # what is rewritten must be valid to begin with, or the rewrite's verification blames the rewrite
        onnx.checker.check_model(model, full_check=True)
    except _onnx_errors(onnx) as exc:
        raise ModelError(f"{model} fails the ONNX checker ({first_line(exc)}); genrt optimize rewrites valid "
                         "graphs only: export the model again") from exc
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
    total, done = (search_steps(base) + 2 * int8) * len(batch_sizes), [0]  # int8: its candidates, its ranges

    def tick():
        done[0] += 1
        if progress is not None:
            progress(done[0], total)

    timer = Timer(original_bytes, feeds_for(contract, batch_sizes), providers, threads, rounds, tick)
    tuning = choose_plan(base, timer, log)

    candidate = tuning.apply(base)
    kept = "original" if tuning.original_wins else "optimized"
    times = tuning.final
    if not search_steps(base):
        log("nothing to rewrite in this graph (no ConvTranspose the passes cover); keeping it as it is")
        kept = "original"
    elif kept == "original":
        log("no plan was faster than the original graph over batch "
            f"{', '.join(map(str, batch_sizes))} on this machine; keeping the original graph")
    else:
        ratios = ", ".join(f"batch {b} {times['chosen'][b] / times['original'][b]:.2f}x" for b in batch_sizes)
        log(f"chosen plan against the original graph: {ratios}")
    if kept == "original":
        candidate = proto
        times = {"original": times.get("original") or timer.time({})["original"]}
        times["optimized"] = times["original"]
    else:
        times["optimized"] = times["chosen"]
    result = OptimizeResult(
        path=output, source=model, kept=kept, plan=tuning.describe() if kept == "optimized" else {},
        batch_sizes=batch_sizes,
        original_ms={b: times["original"][b] * 1e3 for b in batch_sizes},
        optimized_ms={b: times["optimized"][b] * 1e3 for b in batch_sizes},
        candidates=tuning.candidates, reasons=tuning.reasons, untouched=untouched,
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
        save_model(onnx, candidate, staged, output)
        result.parity = verify_against(staged, original_session, contract, exact, threads, atol=ATOL)
        moves = []
        if int8:
            int8_path = variant_path(output, "int8")
            staged_int8 = stage.path(os.path.basename(int8_path))
            graphs = int8_graphs(base, [p for _, p in tuning.ranges] if kept == "optimized" else [Plan()])
            result.int8 = int8_variant(onnx, graphs, staged, staged_int8, stage, original_session, contract, timer,
                                        calibration, result.uint8_output, log)
            moves.append((os.path.basename(int8_path), int8_path))
        refuse_existing(destinations, overwrite)  # a file may have appeared while we worked
        stage.commit([*moves, (os.path.basename(output), output)], overwrite)
    return result


def _onnx_errors(onnx) -> tuple[type, ...]:
    """What the onnx package raises on a malformed graph: shape inference and checker failures."""
    return tuple(e for e in (getattr(onnx.shape_inference, "InferenceError", None),
                             getattr(onnx.checker, "ValidationError", None)) if isinstance(e, type))


def _check_arguments(model: str, output: str, batch_sizes: Iterable[int], device: str, threads: int | None, rounds: int,
                     overwrite: bool) -> tuple[int, ...]:
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
    check_threads(threads)
    if not isinstance(rounds, int) or rounds < 1:
        raise InputError(f"rounds must be a positive integer, got {rounds!r}")
    sizes = tuple(batch_sizes)
    if not sizes or any(isinstance(b, bool) or not isinstance(b, (int, np.integer)) or not 1 <= b <= MAX_BATCH
                        for b in sizes):
        raise InputError(f"batch sizes must be integers from 1 to {MAX_BATCH:,}, got {list(sizes)}")
    return tuple(sorted({int(b) for b in sizes}))


def _import_onnx():
    try:
        import onnx
    except ImportError as exc:
        raise DependencyError(f"genrt optimize needs the onnx package ({exc}); pip install 'genrt[optimize]'") from None
    return onnx


def _set_optimized_metadata(model, result: OptimizeResult, device: str, session, source: str) -> None:

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
