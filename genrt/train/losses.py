"""GAN and VAE losses.

GAN losses take the discriminator's logits on real and fake images (shape N) and
return scalar losses for the discriminator and the generator:

- `nonsaturating` (default): Goodfellow et al. (2014), with the generator
  maximising log D(G(z)) instead of minimising log(1 - D(G(z)));
- `lsgan`: least squares (Mao et al., 2017);
- `hinge`: as in SAGAN / BigGAN;
- `wgan-gp`: Wasserstein critic with gradient penalty (Gulrajani et al., 2017),
  trained with several critic steps per generator step and no batch norm in the critic.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F



def discriminator_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    if kind == "nonsaturating":
        return F.softplus(-real).mean() + F.softplus(fake).mean()  # -log D(x) - log(1 - D(G(z)))
    if kind == "lsgan":
        return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()
    if kind == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    if kind == "wgan-gp":
        return fake.mean() - real.mean()  # plus the gradient penalty, added by the caller
    raise ValueError(kind)


def generator_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    if kind == "nonsaturating":
        return F.softplus(-fake).mean()  # -log D(G(z))
    if kind == "lsgan":
        return 0.5 * ((fake - 1) ** 2).mean()
    return -fake.mean()  # hinge and wgan-gp


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, labels, mix: torch.Tensor) -> torch.Tensor:
    """E[(||grad_x critic(x)||_2 - 1)^2] at random points x between real and fake images.

    `mix` is N x 1 x 1 x 1 uniform noise, drawn by the caller from its seeded generator.
    """
    points = (mix * real + (1 - mix) * fake.detach()).requires_grad_(True)
    scores = critic(points, labels)
    (grad,) = torch.autograd.grad(scores.sum(), points, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def vae_loss(logits: torch.Tensor, target01: torch.Tensor, mu, logvar, likelihood: str, beta: float):
    """(total, reconstruction, KL), each summed over pixels / latents and averaged over the batch.

    Bernoulli: binary cross-entropy on pixel logits. Gaussian: squared error of the
    sigmoid mean with unit variance (up to a constant). KL is against N(0, I), weighted by beta.
    """
    n = target01.shape[0]
    if likelihood == "bernoulli":
        recon = F.binary_cross_entropy_with_logits(logits, target01, reduction="sum") / n
    else:
        recon = 0.5 * F.mse_loss(torch.sigmoid(logits), target01, reduction="sum") / n
    kl = -0.5 * torch.sum(1 + logvar - mu**2 - logvar.exp()) / n
    return recon + beta * kl, recon, kl
