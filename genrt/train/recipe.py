"""The discriminator's side of today's small-data GAN recipe: augmentation, its adaptive probability, R1.

- **Differentiable augmentation** (Zhao et al., "Differentiable Augmentation for
  Data-Efficient GAN Training", 2020): the discriminator sees real and generated
  images through the same random transforms, and the generator's gradient flows
  back through them, so the discriminator cannot memorise a few thousand images
  and the generator does not learn the transforms (they never leak into its
  images). Transforms (`augment` = a comma list):
    translation  shift by up to 1/8 of the size, the uncovered border filled with 0
    cutout       one square of half the size set to 0
    color        brightness and contrast (and saturation with 3 channels)
  Each image gets each transform with probability p (DiffAugment: p = 1).
- **Adaptive p** (Karras et al., "Training Generative Adversarial Networks with
  Limited Data", 2020): with `ada_target` t, p follows the overfitting signal
  r = E[sign(D(real))] over the last ADA_INTERVAL steps, rising when r > t and
  falling when r < t, fast enough to cross [0, 1] in ADA_IMAGES images.
- **R1** (Mescheder et al., 2018): gamma/2 E[||grad_x D(x)||^2] on real images,
  lazily every `r1_every` steps with the weight scaled by that interval (StyleGAN2).

All randomness comes from the run's seeded torch.Generator, so a resumed run
draws the same transforms; p is part of the run state.
"""

from __future__ import annotations

import torch

from genrt.spec import AUGMENTS

ADA_INTERVAL = 4  # steps between updates of p
ADA_IMAGES = 100_000  # images over which p may move from 0 to 1


def parse_augment(spec: str) -> tuple[str, ...]:
    """`augment` as a tuple of transform names ("" -> none); ValueError naming an unknown one."""
    names = tuple(name.strip() for name in spec.split(",") if name.strip())
    unknown = [name for name in names if name not in AUGMENTS]
    if unknown:
        raise ValueError(f"unknown augmentation {', '.join(unknown)}; use a comma list of {', '.join(AUGMENTS)}")
    return names


def _uniform(generator: torch.Generator, n: int, device, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    return (torch.rand(n, generator=generator) * (high - low) + low).to(device)


def translate(x: torch.Tensor, generator: torch.Generator, fraction: float = 0.125) -> torch.Tensor:
    """Each N x C x H x W image shifted by whole pixels, up to `fraction` of its size each way; the border is 0."""
    n, c, h, w = x.shape
    limit_y, limit_x = int(h * fraction + 0.5), int(w * fraction + 0.5)
    dy = torch.randint(-limit_y, limit_y + 1, (n, 1, 1), generator=generator).to(x.device)
    dx = torch.randint(-limit_x, limit_x + 1, (n, 1, 1), generator=generator).to(x.device)
    rows = torch.arange(h, device=x.device)[None, :, None] + dy  # N x H x 1: the source row of each pixel
    cols = torch.arange(w, device=x.device)[None, None, :] + dx  # N x 1 x W
    inside = ((rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)).to(x.dtype)  # N x H x W
    index = (rows.clamp(0, h - 1) * w + cols.clamp(0, w - 1)).reshape(n, 1, h * w).expand(n, c, h * w)
    moved = x.reshape(n, c, h * w).gather(2, index).reshape(n, c, h, w)
    return moved * inside[:, None]


def cutout(x: torch.Tensor, generator: torch.Generator, fraction: float = 0.5) -> torch.Tensor:
    """Each image with one square of `fraction` of its size, at a random centre (clipped at the edges), set to 0."""
    n, _, h, w = x.shape
    size_y, size_x = int(h * fraction + 0.5), int(w * fraction + 0.5)
    top = torch.randint(0, h + (1 - size_y % 2), (n, 1, 1), generator=generator).to(x.device) - size_y // 2
    left = torch.randint(0, w + (1 - size_x % 2), (n, 1, 1), generator=generator).to(x.device) - size_x // 2
    rows = torch.arange(h, device=x.device)[None, :, None]
    cols = torch.arange(w, device=x.device)[None, None, :]
    hole = (rows >= top) & (rows < top + size_y) & (cols >= left) & (cols < left + size_x)  # N x H x W
    return x * (~hole).to(x.dtype)[:, None]


def color(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Brightness + U(-0.5, 0.5), saturation x U(0, 2) (3 channels only), contrast x U(0.5, 1.5), per image."""
    n, c = x.shape[:2]
    x = x + _uniform(generator, n, x.device, -0.5, 0.5)[:, None, None, None]
    if c == 3:
        grey = x.mean(dim=1, keepdim=True)
        x = (x - grey) * _uniform(generator, n, x.device, 0.0, 2.0)[:, None, None, None] + grey
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * _uniform(generator, n, x.device, 0.5, 1.5)[:, None, None, None] + mean


_TRANSFORMS = {"translation": translate, "cutout": cutout, "color": color}


def augment(x: torch.Tensor, names: tuple[str, ...], p: float, generator: torch.Generator) -> torch.Tensor:
    """`x` through each transform in `names`, each image taking each one with probability `p` (1: all of them)."""
    for name in names:
        changed = _TRANSFORMS[name](x, generator)
        if p < 1.0:
            chosen = _uniform(generator, len(x), x.device) < p
            changed = torch.where(chosen[:, None, None, None], changed, x)
        x = changed
    return x


def random_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """N x C x H x W images with a random half (by `generator`, so resumable) mirrored left-right."""
    mirrored = torch.rand(len(x), generator=generator) < 0.5
    return torch.where(mirrored.to(x.device)[:, None, None, None], x.flip(3), x)


class Augmenter:
    """What the discriminator sees: `__call__` augments a batch with the current p; `observe` adapts p (ADA)."""

    def __init__(self, spec: str, p: float, target: float | None, batch_size: int, generator: torch.Generator):
        self.names, self.p, self.target = parse_augment(spec), p, target
        self.step_size = batch_size * ADA_INTERVAL / ADA_IMAGES
        self.generator, self.signs, self.seen = generator, torch.zeros(()), 0

    @property
    def active(self) -> bool:
        return bool(self.names)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if not self.names or self.p <= 0.0:
            return x
        layout = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
        return augment(x, self.names, self.p, self.generator).contiguous(memory_format=layout)  # convolutions' layout

    def observe(self, real_logits: torch.Tensor) -> None:
        """Adapt p from the discriminator's logits on (augmented) real images, every ADA_INTERVAL calls."""
        if self.target is None or not self.names:
            return
        self.signs = self.signs.to(real_logits.device) + torch.sign(real_logits.detach().float()).mean()
        self.seen += 1
        if self.seen == ADA_INTERVAL:  # one read from the device per interval
            overfitting = float(self.signs) / ADA_INTERVAL
            self.p = min(1.0, max(0.0, self.p + (self.step_size if overfitting > self.target else -self.step_size)))
            self.signs, self.seen = torch.zeros((), device=real_logits.device), 0

    def state(self) -> dict:
        """p and the pending overfitting signal, for the checkpoint (JSON)."""
        return {"p": self.p, "signs": float(self.signs), "seen": self.seen}

    def load_state(self, state: dict | None) -> None:
        if state:  # checkpoints from before augmentation carry none
            self.p, self.signs, self.seen = float(state["p"]), torch.tensor(float(state["signs"])), int(state["seen"])


def r1_penalty(discriminator, real: torch.Tensor, labels, view) -> torch.Tensor:
    """E[||grad_x D(view(x))||^2] at the real images `real`; `view` is the augmentation D sees them through."""
    points = real.detach().requires_grad_(True)
    scores = discriminator(view(points), labels)
    (grad,) = torch.autograd.grad(scores.sum(), points, create_graph=True)
    return grad.square().flatten(1).sum(1).mean()

