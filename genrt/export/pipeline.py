"""`export_checkpoint`: checkpoint -> verified ONNX file(s), all kept or none.

    checkpoint.safetensors
        -> inference module (generator, or VAE decoder)          graph.inference_model
        -> ONNX with the contract and genrt.* metadata           graph.to_onnx, graph.contract_metadata
        -> staged in a hidden folder next to the destination     genrt.files.Staging
        -> verified: checker, signature, batch constants, parity verify.verify
        -> optimized for this machine (and int8), verified again genrt.optimize (unless optimize=False)
        -> fp16 / int8 variants, each verified                   variants
        -> moved into place together; then the Triton repository triton

A failure anywhere leaves the destination as it was: no file, or the old one.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field

from genrt.errors import GenrtError, InputError, ModelError, OutputError
from genrt.files import Staging, new_folder, refuse_existing
from genrt.runtime.contract import variant_path
from genrt.runtime.digest import set_undigested, stamp_digest
from genrt.spec import KINDS, TOLERANCES, Tolerance

from . import graph, triton, variants
from .report import VerificationReport
from .verify import BATCH_SIZES, verify

MIN_OPSET = 18  # the lowest opset torch.onnx's torch.export-based exporter writes
EXTERNAL_DATA_BYTES = 1_800_000_000  # weights above this go to a .data file (protobuf's limit is 2 GiB)


@dataclass
class ExportResult:
    path: str
    kind: str  # genrt.kind of the file
    trace_batch: int
    draws_images: bool = True  # False for a classifier (spec.Kind.draws_images)
    files: dict[str, str] = field(default_factory=dict)  # precision -> path
    reports: dict[str, VerificationReport] = field(default_factory=dict)
    triton: dict[str, str] | None = None
    optimized: dict | None = None  # genrt.optimize's report, when the graph was optimized
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "kind": self.kind,
            "trace_batch": self.trace_batch,
            "files": {p: {"path": f, "bytes": os.path.getsize(f)} for p, f in self.files.items()},
            "verification": {p: r.to_dict() for p, r in self.reports.items()},
            "triton": self.triton,
            "optimized": self.optimized,
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
        }


def export_checkpoint(checkpoint, output: str, *, opset: int = MIN_OPSET, fp16: bool = False, int8: bool = False,
                      triton_repo: str | None = None, atol: float = TOLERANCES["fp32"].atol,
                      batch_sizes=BATCH_SIZES, overwrite: bool = False, external_data: bool | None = None,
                      optimize: bool = True, optimize_batches=None, ema: bool = True, log=print) -> ExportResult:
    """Export a genrt checkpoint (path or run folder) to `output` (.onnx), verified; see the module docstring.

    `external_data`: None decides by size; True forces weights into `output + '.data'`.
    `optimize`: rewrite the generator with genrt.optimize for the batch sizes `optimize_batches`
    (genrt optimize's default: 1, 8, 64), timed on this machine's CPU; the int8 variant is then
    quantized from the rewritten graph. The fp16 variant keeps the plain graph.
    `ema`: a GAN's averaged generator weights (train/ema.py) when the checkpoint has them; False: the raw ones.
    """
    import onnx

    from genrt.train.checkpoint import load_checkpoint

    began = time.perf_counter()
    output = os.fspath(output)
    _check_arguments(output, opset, atol, batch_sizes)
    precisions = ["fp32"] + (["fp16"] if fp16 else []) + (["int8"] if int8 else [])
    destinations = {p: variant_path(output, p) for p in precisions}
    data_name = os.path.basename(output) + ".data"
    refuse_existing([*destinations.values(), output + ".data"], overwrite)
    if triton_repo is not None:
        if external_data:
            raise InputError("`triton_repo` needs the weights inside the ONNX file; leave out `external_data`")
        triton.refuse_existing_model(triton_repo, triton.model_name(output), overwrite)

    ckpt = load_checkpoint(checkpoint)
    cfg = ckpt.model_config
    if cfg.kind not in KINDS:
        raise ModelError(f"{ckpt.path} holds a {cfg.kind!r} model; genrt export knows {', '.join(KINDS)}")
    kind = KINDS[cfg.kind]
    if not kind.draws_images and (fp16 or int8 or triton_repo):
        raise InputError("`fp16`, `int8` and `triton_repo` are for generators; a classifier exports as float32 only")
    module = graph.inference_model(ckpt, ema)
    model, batch = graph.to_onnx(module, cfg, opset)
    result = ExportResult(path=output, kind=kind.file_kind, trace_batch=batch, draws_images=kind.draws_images)
    result.seconds["export"] = time.perf_counter() - began
    log(f"exported the {cfg.kind} {kind.part} of {ckpt.path} "
        f"(opset {opset}, traced at batch {batch}) in {result.seconds['export']:.1f} s")
    if external_data is None:
        external_data = _weight_bytes(model) > EXTERNAL_DATA_BYTES
        if external_data and triton_repo is not None:
            raise InputError(f"the weights ({_weight_bytes(model) / 1e9:.1f} GB) need external data, which `triton_repo` "
                             "cannot serve in one file; export without `triton_repo`")

    folder = os.path.dirname(os.path.abspath(output))
    with new_folder(folder), Staging(folder) as stage:
        staged = {p: stage.path(os.path.basename(destinations[p])) for p in precisions}
        graph.set_metadata(model, graph.contract_metadata(ckpt, "fp32", ema))
        _save(model, staged["fp32"], data_name if external_data else None)
        tolerance = Tolerance(atol, TOLERANCES["fp32"].levels)
        _verify_into(result, "fp32", staged["fp32"], module, cfg, batch, tolerance, batch_sizes, log)
        optimized = optimize and not external_data and kind.draws_images
        if optimized:
            result.optimized = _optimize(stage, staged["fp32"], int8, optimize_batches, log)
            _verify_into(result, "fp32", staged["fp32"], module, cfg, batch, tolerance, batch_sizes, log)
        if fp16:
            half = variants.to_float16(model)
            graph.set_metadata(half, graph.contract_metadata(ckpt, "fp16", ema))
            _save(half, staged["fp16"], None)
            _verify_into(result, "fp16", staged["fp16"], module, cfg, batch, TOLERANCES["fp16"], batch_sizes, log)
        if int8:
            if not optimized:
                variants.quantize_int8(staged["fp32"], staged["int8"], cfg)
            quantized = onnx.load(staged["int8"])
            graph.set_metadata(quantized, graph.contract_metadata(ckpt, "int8", ema))
            _save(quantized, staged["int8"], None)
            _verify_into(result, "int8", staged["int8"], module, cfg, batch, TOLERANCES["int8"], batch_sizes, log)
        moves = [(os.path.basename(destinations[p]), destinations[p]) for p in precisions[1:]]
        if external_data:
            moves.append((data_name, output + ".data"))
        stage.commit([*moves, (os.path.basename(output), output)], overwrite)  # the fp32 model last
    result.files = dict(destinations)
    if triton_repo is not None:
        try:
            result.triton = triton.write_repository(triton_repo, triton.model_name(output), output, cfg, overwrite)
        except BaseException:
            if not overwrite:  # the files above did not exist before this export: take them back
                for path in [*destinations.values(), output + ".data"]:
                    with contextlib.suppress(OSError):
                        os.unlink(path)
            raise
        log(f"wrote the Triton model repository {os.path.join(triton_repo, triton.model_name(output))}")
    result.seconds["total"] = time.perf_counter() - began
    return result


def _optimize(stage: Staging, path: str, int8: bool, batch_sizes, log) -> dict:
    """Replace the staged fp32 file at `path` by its genrt.optimize rewrite (and write its int8 variant beside it)."""
    from genrt.optimize import DEFAULT_BATCHES, optimize_model

    plain = stage.path("plain-" + os.path.basename(path))
    os.replace(path, plain)
    report = optimize_model(plain, path, batch_sizes=batch_sizes or DEFAULT_BATCHES, int8=int8,
                            log=lambda m: log(f"optimize: {m}"))
    os.unlink(plain)
    speed = ", ".join(f"batch {b} {s:.2f}x" for b, s in report.speedups().items())
    log(f"optimized ({report.kept} graph kept): {speed} faster than the plain export on this machine")
    return report.to_dict()


def _check_arguments(output, opset, atol, batch_sizes):
    import onnx

    if not output.endswith(".onnx"):
        raise InputError(f"-o {output}: the file name must end with .onnx")
    if os.path.isdir(output):
        raise OutputError(f"-o {output} is a folder; give a file name ending with .onnx")
    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= newest:
        raise InputError(f"`opset` {opset} is not supported; use {MIN_OPSET} to {newest} (the installed onnx's newest)")
    if not atol > 0:
        raise InputError(f"`atol` must be positive, got {atol}")
    if not batch_sizes or any(int(b) < 1 for b in batch_sizes):
        raise InputError(f"verification batch sizes must be at least 1, got {list(batch_sizes)}")



def _weight_bytes(model) -> int:
    return sum(len(t.raw_data) for t in model.graph.initializer)


def _save(model, path: str, data_name: str | None) -> None:
    import onnx

    try:
        if data_name is None:
            stamp_digest(model)
            onnx.save_model(model, path)
        else:  # onnx rewrites a model as it saves its external data: no digest can be stamped beforehand
            set_undigested(model)
            onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                            location=data_name, size_threshold=1024)
    except (OSError, ValueError) as exc:
        raise OutputError(f"cannot write {path}: {exc}") from exc


def _verify_into(result: ExportResult, precision, path, module, cfg, batch, tolerance, batch_sizes, log):
    try:
        report = verify(path, module, cfg, batch, precision, tolerance, batch_sizes)
    except GenrtError:
        log(f"verification of the {precision} file failed")
        raise
    result.reports[precision] = report
    result.seconds[f"verify_{precision}"] = report.seconds
    log(f"verified {report.summary()} in {report.seconds:.1f} s")
