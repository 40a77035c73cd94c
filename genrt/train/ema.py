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
"""

from __future__ import annotations

import copy

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
