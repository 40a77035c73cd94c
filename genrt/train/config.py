"""TrainConfig: every choice of a training run, saved in its checkpoints and in config.json."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, fields

from genrt.errors import InputError
from genrt.spec import GAN_LOSSES, MODEL_KINDS, TRAIN_DEVICES


@dataclass
class TrainConfig:
    model: str = "cgan"  # dcgan | cgan | vae
    data: str = "digits"  # see genrt.data
    split: str = "train"  # GANs and VAEs: train on the "train" part of genrt.data.split, or on "all" the data
    size: int | None = None  # image size; None keeps the data's own (it must be square)
    channels: int | None = None  # 1 or 3; None keeps the data's own
    flip: bool = False  # mirror a random half of each batch left-right (photos; not digits or text)
    out: str = "runs/cgan"  # run folder: checkpoint, config.json, metrics.jsonl, samples/
    epochs: int = 10
    minutes: float | None = None  # stop after this much wall time instead (checked between steps)
    steps: int | None = None  # stop after this many steps (dry runs, tests)
    batch_size: int = 64  # per process
    lr: float | None = None  # None: 2e-4 (DCGAN), 1e-4 (WGAN-GP), 1e-3 (VAE)
    beta1: float | None = None  # None: 0.5 (DCGAN), 0.0 (WGAN-GP), 0.9 (VAE)
    beta2: float | None = None  # None: 0.999, 0.9 for WGAN-GP
    loss: str = "nonsaturating"  # GAN losses, see genrt.train.losses
    critic_steps: int | None = None  # discriminator steps per generator step; None: 5 for WGAN-GP, else 1
    gp_weight: float = 10.0
    latent_dim: int = 100
    ngf: int = 64
    ndf: int = 64
    vae_beta: float = 1.0
    ema_decay: float = 0.999  # GAN generators: decay of the weight average that is exported (0: none); ema.py
    ema_warmup: float = 10.0  # decay_t = min(ema_decay, (1 + t) / (ema_warmup + t))
    likelihood: str = "bernoulli"  # vae: bernoulli | gaussian
    seed: int = 0
    device: str = "auto"  # auto | cuda | cpu
    amp: bool = True  # mixed precision on CUDA (ignored on CPU)
    log_every: int = 10  # steps between metrics.jsonl lines

    def __post_init__(self):
        problems = []
        if self.model not in MODEL_KINDS:
            problems.append(f"model must be one of {', '.join(MODEL_KINDS)}, got {self.model!r}")
        if self.loss not in GAN_LOSSES:
            problems.append(f"loss must be one of {', '.join(GAN_LOSSES)}, got {self.loss!r}")
        if self.device not in TRAIN_DEVICES:
            problems.append(f"device must be one of {', '.join(TRAIN_DEVICES)}, got {self.device!r}")
        if self.likelihood not in ("bernoulli", "gaussian"):
            problems.append(f"likelihood must be bernoulli or gaussian, got {self.likelihood!r}")
        for name in ("epochs", "batch_size", "latent_dim", "ngf", "ndf", "log_every"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("steps", "critic_steps", "size"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("minutes", "lr", "beta1", "beta2", "vae_beta"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                problems.append(f"{name} must be a finite number, got {value}")
        if self.minutes is not None and not self.minutes > 0:
            problems.append(f"minutes must be positive, got {self.minutes}")
        if self.lr is not None and not self.lr > 0:
            problems.append(f"lr must be positive, got {self.lr}")
        if self.split not in ("train", "all"):
            problems.append(f"split must be train or all, got {self.split!r}")
        if not (isinstance(self.ema_decay, (int, float)) and 0.0 <= self.ema_decay < 1.0):
            problems.append(f"ema_decay must be in [0, 1) (0: no average), got {self.ema_decay}")
        if not (isinstance(self.ema_warmup, (int, float)) and self.ema_warmup >= 1.0):
            problems.append(f"ema_warmup must be at least 1, got {self.ema_warmup}")
        if self.channels not in (None, 1, 3):
            problems.append(f"channels must be 1 or 3, got {self.channels}")
        if problems:
            raise InputError("; ".join(problems))

    # Defaults that depend on the model and the loss (the usual published settings).
    @property
    def adam(self) -> tuple[float, tuple[float, float]]:
        wgan = self.loss == "wgan-gp" and self.model != "vae"
        lr = self.lr or (1e-3 if self.model == "vae" else 1e-4 if wgan else 2e-4)
        beta1 = self.beta1 if self.beta1 is not None else (0.9 if self.model == "vae" else 0.0 if wgan else 0.5)
        beta2 = self.beta2 if self.beta2 is not None else (0.9 if wgan else 0.999)
        return lr, (beta1, beta2)

    @property
    def n_critic(self) -> int:
        return self.critic_steps or (5 if self.loss == "wgan-gp" else 1)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def digest(self) -> str:
        """Digest of the settings that shape the result (not where it is written, nor for how long)."""
        shaping = {k: v for k, v in self.to_dict().items() if k not in ("out", "epochs", "minutes", "steps", "device")}
        return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:16]
