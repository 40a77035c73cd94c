"""Checkpoint -> ONNX ModelProto: the traced generator graph with genrt's contract and metadata.

`to_onnx` rebuilds the inference module from a genrt checkpoint (the generator
of a GAN or cGAN, the decoder of a VAE), exports it with PyTorch's torch.export
based exporter (`torch.onnx.export(..., dynamo=True)`, which also folds batch
norm into the convolutions), and shapes the result into the model contract of
DESIGN.md:

    z      float32 [batch, latent_dim]
    label  int64   [batch]             (cgan only)
    image  float32 [batch, C, H, W]

with `batch` a symbolic dimension, and the `genrt.*` metadata. The example
inputs have a batch size (`trace_batch`) that is at least 2 and differs from
every size in the model, so a batch size baked into the graph (a Reshape or Tile
constant) stands out to `verify.batch_constants`.
"""

from __future__ import annotations

import io
import json
import logging
import warnings
from contextlib import redirect_stderr, redirect_stdout

import torch
from torch import nn

import genrt
from genrt.errors import ModelError
from genrt.files import file_sha256
from genrt.runtime.ort import first_line
from genrt.spec import CONTRACT_FORMAT, KINDS, range_text
from genrt.train.checkpoint import Checkpoint
from genrt.train.ema import standing_statistics
from genrt.train.models import ModelConfig, build_models, inference_module

TRACE_CANDIDATES = (13, 17, 19, 23, 29, 31, 37, 41, 43, 47)


def inference_model(checkpoint: Checkpoint, ema: bool = True) -> nn.Module:
    """The checkpoint's z (, label) -> image module (or a classifier's image -> logits, features), eval mode, CPU, float32.

    `ema`: a GAN generator with the average of its weights over training (train/ema.py), when the
    checkpoint holds one; False takes the raw weights of the last step.
    """
    cfg = checkpoint.model_config
    models = build_models(cfg)
    averaged = ema and bool(checkpoint.module_state("generator_ema"))
    for name, module in models.items():
        state = checkpoint.module_state("generator_ema" if name == "generator" and averaged else name)
        if not state:
            raise ModelError(f"{checkpoint.path} holds no weights for its {name} ({cfg.kind} checkpoint)")
        try:
            module.load_state_dict(state)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise ModelError(f"{checkpoint.path}: its {name} weights do not fit its model config ({first})") from None
    if averaged:  # batch-norm statistics that belong to the averaged weights (train/ema.py)
        standing_statistics(models["generator"], cfg.latent_dim, cfg.num_classes)
    return inference_module(cfg, models).eval().float()


def trace_batch(cfg: ModelConfig) -> int:
    """A batch size >= 2 that is none of the model's own sizes, so a baked-in batch constant is recognisable."""
    taken = {cfg.latent_dim, cfg.num_classes, *cfg.image_shape, cfg.ngf, cfg.ndf, cfg.features}
    return next(b for b in TRACE_CANDIDATES if b not in taken)


def io_names(cfg: ModelConfig) -> tuple[list[str], list[str]]:
    """Graph input and output names of the kind (spec.KINDS)."""
    kind = KINDS[cfg.kind]
    return list(kind.inputs), list(kind.outputs)


def example_inputs(cfg: ModelConfig, batch: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """(z,) or (z, label) for `batch` images: z ~ N(0, 1), labels cycling through the classes; or (images,)."""
    noise = torch.Generator().manual_seed(seed)
    if not KINDS[cfg.kind].draws_images:  # a classifier: images in [0, 1]
        return (torch.rand(batch, *cfg.image_shape, generator=noise),)
    z = torch.randn(batch, cfg.latent_dim, generator=noise)
    if cfg.num_classes:
        return z, torch.arange(batch, dtype=torch.int64) % cfg.num_classes
    return (z,)


def to_onnx(module: nn.Module, cfg: ModelConfig, opset: int = 18) -> tuple:
    """Export `module` to an onnx.ModelProto with the contract's names and a symbolic batch axis.

    Returns (model, traced batch size).
    """
    import onnx

    batch = trace_batch(cfg)
    inputs = example_inputs(cfg, batch)
    names, outputs = io_names(cfg)
    dim = torch.export.Dim("batch", min=1)
    captured = io.StringIO()
    exporter_log = logging.getLogger("torch.onnx")  # "torchvision is not installed. Skipping ..." and the like
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), redirect_stdout(captured), redirect_stderr(captured):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module, inputs, dynamo=True, opset_version=opset, input_names=names, output_names=outputs,
                dynamic_shapes=tuple({0: dim} for _ in names), verbose=False, report=False,
            )
    except Exception as exc:  # torch.export raises many types; all mean the same thing to the user
        raise ModelError(f"PyTorch could not export this {cfg.kind} model to ONNX opset {opset}: "
                         f"{first_line(exc)}") from exc
    finally:
        exporter_log.setLevel(level)
    model = program.model_proto
    _strip_debug_info(model)
    onnx.checker.check_model(model)  # structural; the full check runs in verify
    return model, batch


def _strip_debug_info(model) -> None:
    """Drop the exporter's per-node annotations (stack traces with this machine's paths, FX names)."""
    graph = model.graph
    for node in graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    for value in [*graph.input, *graph.output, *graph.value_info, *graph.initializer]:
        del value.metadata_props[:]
    del graph.metadata_props[:]
    del model.metadata_props[:]
    model.doc_string = ""
    model.producer_name, model.producer_version = "genrt", genrt.__version__


def contract_metadata(checkpoint: Checkpoint, precision: str = "fp32", ema: bool = True) -> dict[str, str]:
    """The genrt.* metadata_props for the checkpoint's generator (DESIGN.md, "The model contract")."""
    cfg, train_cfg, data, state = checkpoint.model_config, checkpoint.train_config, checkpoint.data, checkpoint.state
    c, h, w = cfg.image_shape
    source = {
        "dataset": data.get("source"),
        "data_digest": data.get("digest"),
        "images": data.get("images"),
        "epochs": state.get("epoch"),
        "steps": state.get("step"),
        "train_seconds": round(float(state.get("elapsed", 0.0)), 1),
        "config_digest": train_cfg.digest(),
        "train_config": {k: v for k, v in train_cfg.to_dict().items() if k not in ("out", "device")},
        "checkpoint_sha256": file_sha256(checkpoint.path),
        "split": data.get("split", "all"),  # checkpoints from before the split record trained on all the data
        "genrt": genrt.__version__,
        "torch": torch.__version__.split("+")[0],
    }
    kind = KINDS[cfg.kind]
    if checkpoint.module_state("generator"):  # a GAN: which generator weights the file holds
        source["weights"] = "ema" if ema and checkpoint.module_state("generator_ema") else "raw"
    if not kind.draws_images:  # a classifier: genrt eval's extractor
        source.update(split=data.get("split"), holdout_images=data.get("holdout_images"))
        meta = {
            "genrt.format": CONTRACT_FORMAT,
            "genrt.kind": kind.file_kind,
            "genrt.num_classes": str(cfg.num_classes),
            "genrt.class_names": json.dumps(list(data.get("class_names") or range(cfg.num_classes))),
            "genrt.image_shape": f"{c},{h},{w}",
            "genrt.input_range": "0,1",
            "genrt.feature_dim": str(cfg.features),
            "genrt.holdout_accuracy": f"{state.get('holdout_accuracy', float('nan')):.4f}",
            "genrt.precision": precision,
            "genrt.source": json.dumps(source, sort_keys=True),
        }
        return meta
    meta = {
        "genrt.format": CONTRACT_FORMAT,
        "genrt.kind": kind.file_kind,
        "genrt.latent_dim": str(cfg.latent_dim),
        "genrt.num_classes": str(cfg.num_classes),
        "genrt.output_range": range_text(kind.output_range),
        "genrt.image_shape": f"{c},{h},{w}",
        "genrt.latent_distribution": "normal",
        "genrt.precision": precision,
        "genrt.source": json.dumps(source, sort_keys=True),
    }
    names = data.get("class_names") or []
    if cfg.num_classes and names:
        meta["genrt.class_names"] = json.dumps(list(names))
    return meta


def set_metadata(model, metadata: dict[str, str]) -> None:
    """Replace the model's genrt.* metadata_props with `metadata`, keeping any others."""
    kept = [(p.key, p.value) for p in model.metadata_props if not p.key.startswith("genrt.")]
    del model.metadata_props[:]
    for key, value in [*kept, *sorted(metadata.items())]:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
