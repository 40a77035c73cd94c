"""Training checkpoints: one safetensors file that rebuilds and resumes a run, never a pickle.

`checkpoint.safetensors` holds tensors only:

    model.<module>.<name>       weights and buffers (generator, discriminator, or vae)
    optim.<module>.<i>.<name>   Adam moments and step counts
    rng.<name>                  torch RNG states (global, data order, noise)

and string metadata (JSON) in the safetensors header:

    genrt.checkpoint  "1"
    train_config      TrainConfig: every setting of the run
    model_config      ModelConfig: rebuilds the networks with no other file
    state             epoch, step, position in the epoch, elapsed time, optimiser hyper-parameters
    data              dataset name, digest, image shape, class names

Files are written atomically (genrt.files.atomic_write). Loading parses the
safetensors format only: a pickled (torch.save) file, a truncated file or a file
from another tool is refused with a ModelError and never unpickled.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from genrt.errors import ModelError
from genrt.files import atomic_write
from genrt.train.config import TrainConfig
from genrt.train.models import ModelConfig

FORMAT = "1"
FILENAME = "checkpoint.safetensors"


@dataclass
class Checkpoint:
    path: str
    train_config: TrainConfig
    model_config: ModelConfig
    state: dict
    data: dict
    tensors: dict[str, torch.Tensor]

    def module_state(self, name: str) -> dict[str, torch.Tensor]:
        prefix = f"model.{name}."
        return {k[len(prefix) :]: v for k, v in self.tensors.items() if k.startswith(prefix)}

    def optimizer_state(self, name: str) -> dict:
        """A state dict for torch.optim.Optimizer.load_state_dict."""
        prefix = f"optim.{name}."
        per_param: dict[int, dict] = {}
        for key, value in self.tensors.items():
            if key.startswith(prefix):
                index, field = key[len(prefix) :].split(".", 1)
                per_param.setdefault(int(index), {})[field] = value
        return {"state": per_param, "param_groups": self.state["param_groups"][name]}

    def rng(self, name: str) -> torch.Tensor:
        return self.tensors[f"rng.{name}"]


def save_checkpoint(path, train_config: TrainConfig, model_config: ModelConfig, models: dict, optimizers: dict,
                    rng: dict, state: dict, data: dict) -> None:
    """Write everything needed to rebuild and resume the run to `path`, atomically."""
    tensors, groups = {}, {}
    for name, module in models.items():
        for key, value in module.state_dict().items():
            tensors[f"model.{name}.{key}"] = value.detach().cpu().contiguous()
    for name, optimizer in optimizers.items():
        sd = optimizer.state_dict()
        groups[name] = sd["param_groups"]
        for index, entries in sd["state"].items():
            for key, value in entries.items():
                tensors[f"optim.{name}.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    for name, value in rng.items():
        tensors[f"rng.{name}"] = value.cpu().contiguous()
    metadata = {
        "genrt.checkpoint": FORMAT,
        "train_config": json.dumps(train_config.to_dict()),
        "model_config": json.dumps(model_config.to_dict()),
        "state": json.dumps({**state, "param_groups": groups}),
        "data": json.dumps(data),
    }
    blob = save_tensors(tensors, metadata=metadata)
    with atomic_write(path) as f:
        f.write(blob)


def load_checkpoint(path) -> Checkpoint:
    """Read a genrt checkpoint, or raise ModelError saying why the file is not one."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, FILENAME)
    if not os.path.isfile(path):
        raise ModelError(f"checkpoint not found: {path}")
    with open(path, "rb") as f:
        blob = f.read()
    refuse = (f"{path} is not a genrt checkpoint (genrt train writes safetensors files; pickled torch.save "
              "files are refused, never unpickled)")
    metadata = _header_metadata(blob, refuse)
    if metadata.get("genrt.checkpoint") != FORMAT:
        raise ModelError(f"{refuse}: no genrt.checkpoint={FORMAT} entry in its header")
    try:
        tensors = load_tensors(blob)
        checkpoint = Checkpoint(
            path=path,
            train_config=TrainConfig.from_dict(json.loads(metadata["train_config"])),
            model_config=ModelConfig.from_dict(json.loads(metadata["model_config"])),
            state=json.loads(metadata["state"]),
            data=json.loads(metadata["data"]),
            tensors=tensors,
        )
    except (SafetensorError, KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path} is a damaged genrt checkpoint ({type(exc).__name__}: {exc})") from exc
    return checkpoint


def _header_metadata(blob: bytes, refuse: str) -> dict:
    """The safetensors header's __metadata__: 8-byte little-endian length, then JSON."""
    if len(blob) < 8:
        raise ModelError(f"{refuse}: only {len(blob)} bytes")
    length = int.from_bytes(blob[:8], "little")
    if length > len(blob) - 8:
        raise ModelError(f"{refuse}: its header claims {length} bytes, the file has {len(blob) - 8} after it")
    try:
        header = json.loads(blob[8 : 8 + length])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{refuse}: its header is not JSON ({exc})") from None
    if not isinstance(header, dict) or not isinstance(header.get("__metadata__", {}), dict):
        raise ModelError(f"{refuse}: unexpected header layout")
    return header.get("__metadata__", {})
