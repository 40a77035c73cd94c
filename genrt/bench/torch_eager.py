"""The `--compare torch:CHECKPOINT` target: the same generator in PyTorch eager mode (imports torch).

Same device as the onnxruntime session (CUDA when the session runs on CUDA or
TensorRT, else CPU), same latents and labels, and the same post-processing to
uint8 images, so both sides deliver what a user gets; only the engine differs.
"""

from __future__ import annotations

import numpy as np

import genrt.ext as ext
from genrt.errors import DependencyError, InputError


def eager_target(checkpoint: str, g, threads: int | None):
    """A function batch -> (function that runs one eager batch) for the checkpoint behind g's model."""
    try:
        import torch
    except ImportError:
        raise DependencyError("`compare` torch:CHECKPOINT needs PyTorch; pip install 'genrt[train]'") from None
    from genrt.export.graph import inference_model
    from genrt.train.checkpoint import load_checkpoint

    ck = load_checkpoint(checkpoint)
    cfg, c = ck.model_config, g.contract
    if (cfg.latent_dim, cfg.num_classes, tuple(cfg.image_shape)) != (c.latent_dim, c.num_classes, tuple(c.image_shape)):
        raise InputError(f"`compare` torch:{checkpoint}: the checkpoint's model (latent {cfg.latent_dim}, "
                         f"{cfg.num_classes} classes, image {cfg.image_shape}) is not the one in {g.path} (latent "
                         f"{c.latent_dim}, {c.num_classes} classes, image {c.image_shape})")
    on_gpu = g.providers[0] != "CPUExecutionProvider" and torch.cuda.is_available()
    device = torch.device("cuda" if on_gpu else "cpu")
    if threads:
        torch.set_num_threads(threads)
    module = inference_model(ck).to(device)

    def for_batch(batch: int):
        z = torch.from_numpy(g.latents(batch, seed=0)).to(device)
        labels = torch.from_numpy(g.default_labels(batch)).to(device) if c.conditional else None
        args = (z, labels) if labels is not None else (z,)

        def run():
            with torch.inference_mode():
                images = module(*args).cpu().numpy()  # .cpu() waits for the GPU
            return ext.to_uint8(np.ascontiguousarray(images), c.output_range)

        return run

    return for_batch
