"""An auxiliary classifier for class-conditional GANs: a class signal the generator is charged for.

The conditional discriminator reads the label as input planes (models.Discriminator), so it judges
"a real image of this label" as one score, and a generator can trade a little class clarity for
realism. AC-GAN (Odena et al., 2017) adds a classifier A, trained on real images, and charges the
generator A's cross-entropy on its own images for the labels they were drawn for:

    L_A  = CE(A(aug(x)), y)                               A's own Adam step, beside the discriminator's
    L_G += class_weight * CE(A(aug(G(z, y))), y)

A is the discriminator's body (strided convolutions with the discriminator's norm) and a linear head
over the classes. It sees what the discriminator sees (the same differentiable augmentation), learns
from scratch in the run on the training split only, is saved in the checkpoint and never exported.
It is not genrt eval's classifier (a different network, trained apart), which keeps scoring honest.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genrt.train.models import Features, ModelConfig, dcgan_init


class AuxiliaryClassifier(nn.Module):
    """Image (in the generator's output range) -> class logits, N x K."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.features = Features(cfg, cfg.norm)  # the image's own channels: no label planes
        self.head = nn.Linear(self.features.width * self.features.size**2, cfg.num_classes)
        self.apply(dcgan_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


def class_loss(classifier: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The mean cross-entropy of `classifier` on `images` for `labels`, in float32."""
    return F.cross_entropy(classifier(images).float(), labels)
