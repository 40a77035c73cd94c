"""A Triton Inference Server model repository for an exported generator.

    DIR/<name>/config.pbtxt     ModelConfig in protobuf text format
    DIR/<name>/1/model.onnx     the same verified ONNX file

The config serves the file with Triton's onnxruntime backend, with dynamic
batching: the batch axis is Triton's (`max_batch_size`), so `dims` leave it out.
The label, a [batch] tensor, is declared as dims [1] with an empty `reshape`,
the way Triton's model-configuration guide declares per-request scalars.
"""

from __future__ import annotations

import os
import re

from genrt.errors import OutputError
from genrt.files import atomic_write

MAX_BATCH_SIZE = 256
PREFERRED_BATCH_SIZES = (16, 64)
MAX_QUEUE_DELAY_US = 500


def model_name(output_path: str) -> str:
    """A Triton model name from the ONNX file name: letters, digits, '-', '_' and '.' only."""
    stem = os.path.splitext(os.path.basename(output_path))[0]
    return re.sub(r"[^A-Za-z0-9_.-]", "_", stem) or "generator"


def config_pbtxt(name: str, cfg, max_batch_size: int = MAX_BATCH_SIZE) -> str:
    """config.pbtxt for the contract of ModelConfig `cfg` (z, optional label, image)."""
    c, h, w = cfg.image_shape
    inputs = [f'  {{\n    name: "z"\n    data_type: TYPE_FP32\n    dims: [ {cfg.latent_dim} ]\n  }}']
    if cfg.num_classes:
        inputs.append('  {\n    name: "label"\n    data_type: TYPE_INT64\n    dims: [ 1 ]\n    reshape: { shape: [ ] }\n  }')
    preferred = ", ".join(str(b) for b in PREFERRED_BATCH_SIZES if b <= max_batch_size)
    return (
        f'name: "{name}"\n'
        'backend: "onnxruntime"\n'
        f"max_batch_size: {max_batch_size}\n"
        "input [\n" + ",\n".join(inputs) + "\n]\n"
        f'output [\n  {{\n    name: "image"\n    data_type: TYPE_FP32\n    dims: [ {c}, {h}, {w} ]\n  }}\n]\n'
        "dynamic_batching {\n"
        f"  preferred_batch_size: [ {preferred} ]\n"
        f"  max_queue_delay_microseconds: {MAX_QUEUE_DELAY_US}\n"
        "}\n"
        "instance_group [\n  {\n    count: 1\n    kind: KIND_AUTO\n  }\n]\n"
    )


def repository_paths(repo_dir: str, name: str) -> dict[str, str]:
    """Where the Triton model `name` goes in `repo_dir`: its config and its version-1 ONNX file."""
    model_dir = os.path.join(repo_dir, name)
    return {"config": os.path.join(model_dir, "config.pbtxt"), "model": os.path.join(model_dir, "1", "model.onnx")}


def refuse_existing_model(repo_dir: str, name: str, overwrite: bool) -> None:
    """OutputError if the Triton model `name` is already in `repo_dir`, unless `overwrite`."""
    existing = [p for p in repository_paths(repo_dir, name).values() if os.path.lexists(p)]
    if existing and not overwrite:
        raise OutputError(f"{existing[0]} already exists; pass `overwrite` to replace the Triton model {name!r}")


def write_repository(repo_dir: str, name: str, model_path: str, cfg, overwrite: bool = False) -> dict[str, str]:
    """Write DIR/<name>/config.pbtxt and DIR/<name>/1/model.onnx (a copy of `model_path`), each atomically."""
    paths = repository_paths(repo_dir, name)
    refuse_existing_model(repo_dir, name, overwrite)
    try:
        os.makedirs(os.path.dirname(paths["model"]), exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {os.path.dirname(paths['model'])}: {exc.strerror or exc}") from exc
    with open(model_path, "rb") as src, atomic_write(paths["model"]) as dst:
        for block in iter(lambda: src.read(1 << 20), b""):
            dst.write(block)
    with atomic_write(paths["config"]) as f:
        f.write(config_pbtxt(name, cfg).encode())
    return paths
