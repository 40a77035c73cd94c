"""The networks genrt trains: DCGAN, class-conditional DCGAN and a convolutional VAE.

All are sized from the image resolution: 28 starts from 7x7, and powers of two
from 32 up start from 4x4; each stride-2 block doubles (generator) or halves
(discriminator, encoder) the spatial size. `ModelConfig` is saved in every
checkpoint and rebuilds the model from the file alone (`build_models`).

Shapes below use N batch, Z latent_dim, C image channels, S image size,
s0 the start size (7 or 4), F = ngf or ndf.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from genrt.errors import InputError
from genrt.spec import KINDS, MODEL_KINDS

NORMS = ("batch", "none", "spectral")


@dataclass(frozen=True)
class ModelConfig:
    kind: str  # spec.MODEL_KINDS: dcgan | cgan | vae | classifier
    image_shape: tuple[int, int, int]  # C, H, W (H == W)
    latent_dim: int = 100
    num_classes: int = 0  # cgan only
    ngf: int = 64  # generator / decoder width
    ndf: int = 64  # discriminator / encoder width
    norm: str = "batch"  # discriminator normalisation: batch | none (WGAN-GP critics need none) | spectral
    mbstd_group: int = 0  # discriminator: minibatch standard deviation over groups of this many images (0: off)
    likelihood: str = "bernoulli"  # vae: bernoulli | gaussian
    features: int = 128  # classifier: width of the penultimate layer (genrt eval's features)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        """The config a checkpoint records; ValueError naming the first value no genrt model can have."""
        cfg = cls(**{**d, "image_shape": tuple(d["image_shape"])})
        problem = cfg._problem()
        if problem:
            raise ValueError(f"model_config: {problem}")
        return cfg

    def _problem(self) -> str | None:
        def positive(value):
            return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 1 << 16

        shape = self.image_shape
        if not (len(shape) == 3 and all(positive(v) for v in shape) and shape[0] in (1, 3, 4) and shape[1] == shape[2]):
            return f"image_shape must be C, S, S with C in 1, 3, 4, got {list(shape)}"
        for name in ("latent_dim", "ngf", "ndf", "features"):
            if not positive(getattr(self, name)):
                return f"{name} must be a positive integer, got {getattr(self, name)!r}"
        for name in ("num_classes", "mbstd_group"):
            if not (isinstance(getattr(self, name), int) and 0 <= getattr(self, name) <= 1 << 16):
                return f"{name} must be an integer >= 0, got {getattr(self, name)!r}"
        if self.norm not in NORMS or self.likelihood not in ("bernoulli", "gaussian"):
            return (f"norm must be one of {', '.join(NORMS)} and likelihood bernoulli or gaussian, "
                    f"got {self.norm!r}, {self.likelihood!r}")
        return None


def start_size(size: int) -> tuple[int, int]:
    """(start size, number of stride-2 blocks) for an S x S image."""
    if size == 28:
        return 7, 2
    if size >= 32 and size & (size - 1) == 0:
        return 4, int(math.log2(size // 4))
    raise InputError(f"image size {size} is not supported; use 28, or a power of two from 32 (`size`)")


class Generator(nn.Module):
    """z (and a class label) -> image in [-1, 1] (tanh), or logits for a VAE decoder (`output="logits"`)."""

    def __init__(self, cfg: ModelConfig, output: str = "tanh"):
        super().__init__()
        c, size, _ = cfg.image_shape
        s0, blocks = start_size(size)
        self.num_classes, self.output = cfg.num_classes, output
        self.embed = nn.Embedding(cfg.num_classes, cfg.latent_dim) if cfg.num_classes else None
        if self.embed is not None:
            # Small next to z ~ N(0, 1): with a unit-normal table the generator learned to ignore z
            # and drew one image per class (diversity across z fell from 0.08 to 0.03 in 150 steps;
            # with 0.1 it rose to 0.30, like the unconditional DCGAN).
            nn.init.normal_(self.embed.weight, 0.0, 0.1)
        in_dim = cfg.latent_dim * (2 if cfg.num_classes else 1)  # z concatenated with the label embedding
        width = cfg.ngf * 2 ** (blocks - 1)
        layers = [  # N x in_dim x 1 x 1 -> N x F*2^(b-1) x s0 x s0
            nn.ConvTranspose2d(in_dim, width, s0, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        for _ in range(blocks - 1):  # each: N x w x s x s -> N x w/2 x 2s x 2s
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width // 2), nn.ReLU(True)]
            width //= 2
        layers.append(nn.ConvTranspose2d(width, c, 4, 2, 1))  # N x F x S/2 x S/2 -> N x C x S x S
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(label)], dim=1)  # N x 2Z
        x = self.net(z[:, :, None, None])  # N x C x S x S
        return torch.tanh(x) if self.output == "tanh" else x


class Features(nn.Module):
    """Image -> N x F*2^(b-1) x s0 x s0 feature map (the discriminator body, also the VAE encoder)."""

    def __init__(self, cfg: ModelConfig, norm: str):
        super().__init__()
        c, size, _ = cfg.image_shape
        s0, blocks = start_size(size)
        width = cfg.ndf
        layers = [_normed(nn.Conv2d(c, width, 4, 2, 1), norm), nn.LeakyReLU(0.2, True)]  # -> N x F x S/2 x S/2
        for _ in range(blocks - 1):  # each halves the size, doubles the width
            layers.append(_normed(nn.Conv2d(width, width * 2, 4, 2, 1, bias=norm != "batch"), norm))
            if norm == "batch":
                layers.append(nn.BatchNorm2d(width * 2))
            layers.append(nn.LeakyReLU(0.2, True))
            width *= 2
        self.net = nn.Sequential(*layers)
        self.width, self.size = width, s0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _normed(conv: nn.Module, norm: str) -> nn.Module:
    """`conv` with its weight divided by its largest singular value (Miyato et al., 2018) when `norm` is spectral."""
    return nn.utils.parametrizations.spectral_norm(conv) if norm == "spectral" else conv


class Discriminator(nn.Module):
    """Image (and label) -> one real/fake logit per image.

    Conditional: the label enters as K one-hot planes concatenated to the image
    channels (N x (C+K) x S x S). A projection discriminator (Miyato & Koyama,
    2018) was tried first: without spectral norm it let the generator ignore the
    label (pixel spread across labels for one latent: 0.05, against 0.24 with
    concatenation, after 4 epochs on the digits).

    With `mbstd_group` the head also sees how much the images of a group differ
    (`minibatch_std`), so a generator that draws too little variety is told apart.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        c, size, _ = cfg.image_shape
        self.num_classes = cfg.num_classes
        self.features = Features(replace(cfg, image_shape=(c + cfg.num_classes, size, size)), cfg.norm)
        self.mbstd_group = cfg.mbstd_group
        width = self.features.width + (1 if cfg.mbstd_group else 0)
        head = nn.Conv2d(width, 1, self.features.size, 1, 0)  # N x W(+1) x s0 x s0 -> N x 1 x 1 x 1
        self.head = _normed(head, cfg.norm)

    def forward(self, x: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes:
            planes = F.one_hot(label, self.num_classes).to(x.dtype)  # N x K
            x = torch.cat([x, planes[:, :, None, None].expand(-1, -1, *x.shape[2:])], dim=1)  # N x (C+K) x S x S
        h = self.features(x)  # N x W x s0 x s0
        if self.mbstd_group:
            h = minibatch_std(h, self.mbstd_group)  # N x (W+1) x s0 x s0
        return self.head(h).flatten()  # N


def minibatch_std(h: torch.Tensor, group: int) -> torch.Tensor:
    """`h` (N x C x H x W) with one more channel: the standard deviation of each feature across a group of
    images, averaged over features, the same plane for every image of the group (Karras et al., 2018).

    Groups hold images i, i + N/g, i + 2N/g, ... where g = gcd(N, group); a group of one gives sqrt(1e-8) = 1e-4.
    """
    n, c, height, width = h.shape
    g = math.gcd(n, group)
    grouped = h.float().reshape(g, n // g, c, height, width)
    spread = (grouped.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # N/g
    plane = spread.repeat(g).to(h.dtype)[:, None, None, None].expand(n, 1, height, width)
    return torch.cat([h, plane], dim=1)


class VAE(nn.Module):
    """Convolutional VAE: encode -> (mu, logvar), reparameterize -> z, decode -> pixel logits."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.encoder = Features(cfg, "batch")
        flat = self.encoder.width * self.encoder.size**2
        self.to_mu = nn.Linear(flat, cfg.latent_dim)
        self.to_logvar = nn.Linear(flat, cfg.latent_dim)
        self.decoder = Generator(cfg, output="logits")

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x).flatten(1)  # N x W*s0*s0
        return self.to_mu(h), self.to_logvar(h)  # N x Z each

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return mu + noise * torch.exp(0.5 * logvar)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z -> image in [0, 1] (the mean of the likelihood); what export writes for a VAE."""
        return torch.sigmoid(self.decoder(z))

    def forward(self, x: torch.Tensor, noise: torch.Tensor):
        mu, logvar = self.encode(x)
        return self.decoder(self.reparameterize(mu, logvar, noise)), mu, logvar


class Decoder(nn.Module):
    """A VAE's decoder as a stand-alone z -> [0, 1] image module, the graph that export writes."""

    def __init__(self, vae: VAE):
        super().__init__()
        self.vae = vae

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(z)


class Classifier(nn.Module):
    """Image in [0, 1] -> (class logits, features): the feature extractor of genrt eval.

    Two blocks of two 3x3 convolutions and a 2x2 max-pool, then a fully connected
    layer whose ReLU output is the feature vector (as the penultimate layer of
    Inception-v3 is for FID), and the class logits. W = ndf // 2.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        c, size, _ = cfg.image_shape
        if size % 4:
            raise InputError(f"the classifier needs an image size divisible by 4, got {size} (`size`)")
        w = max(cfg.ndf // 2, 8)
        self.body = nn.Sequential(
            nn.Conv2d(c, w, 3, 1, 1), nn.ReLU(True), nn.Conv2d(w, w, 3, 1, 1), nn.ReLU(True),  # N x W x S x S
            nn.MaxPool2d(2),  # N x W x S/2 x S/2
            nn.Conv2d(w, 2 * w, 3, 1, 1), nn.ReLU(True), nn.Conv2d(2 * w, 2 * w, 3, 1, 1), nn.ReLU(True),
            nn.MaxPool2d(2),  # N x 2W x S/4 x S/4
        )
        self.features = nn.Sequential(nn.Linear(2 * w * (size // 4) ** 2, cfg.features), nn.ReLU(True))  # N x F
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(cfg.features, cfg.num_classes))  # N x K

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(self.body(x).flatten(1))
        return self.head(features), features


def dcgan_init(module: nn.Module) -> None:
    """DCGAN weight init (Radford et al., 2016): conv N(0, 0.02), batch-norm scale N(1, 0.02), bias 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        if not nn.utils.parametrize.is_parametrized(module, "weight"):  # spectral norm: the scale is its own
            nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def _gan(cfg: ModelConfig) -> dict[str, nn.Module]:
    return {"generator": Generator(cfg), "discriminator": Discriminator(cfg)}


# kind -> (the trainable modules, the module that gets exported from them)
_BUILDERS = {
    "dcgan": (_gan, lambda models: models["generator"]),
    "cgan": (_gan, lambda models: models["generator"]),
    "vae": (lambda cfg: {"vae": VAE(cfg)}, lambda models: Decoder(models["vae"])),
    "classifier": (lambda cfg: {"classifier": Classifier(cfg)}, lambda models: models["classifier"]),
}


def build_models(cfg: ModelConfig) -> dict[str, nn.Module]:
    """The trainable modules of `cfg.kind`, initialised: {"generator", "discriminator"}, {"vae"} or {"classifier"}.

    Generators, discriminators and VAEs get the DCGAN initialisation; the classifier keeps
    PyTorch's default, which suits a ReLU classifier.
    """
    if cfg.kind not in _BUILDERS:
        raise InputError(f"unknown model kind {cfg.kind!r}; use one of {', '.join(MODEL_KINDS)}")
    models = _BUILDERS[cfg.kind][0](cfg)
    if KINDS[cfg.kind].draws_images:
        start_size(cfg.image_shape[1])  # fail early on unsupported sizes
        for m in models.values():
            m.apply(dcgan_init)
    return models


def inference_module(cfg: ModelConfig, models: dict[str, nn.Module]) -> nn.Module:
    """The module that gets exported: (z[, label]) -> image, or image -> (logits, features) for a classifier."""
    return _BUILDERS[cfg.kind][1](models)
