"""TrainConfig: every choice of a training run, saved in its checkpoints and in config.json."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, fields

from genrt.errors import InputError
from genrt.limits import MAX_BATCH, MAX_COUNT, MAX_IMAGE_SIDE, MAX_LATENT_DIM
from genrt.spec import D_NORMS, GAN_LOSSES, MAX_SEED, MODEL_KINDS, TRAIN_DEVICES

# Settings added after the first runs: left out of the digest at their defaults, so older digests stand.
RECIPE_FIELDS = ("d_norm", "lr_d", "augment", "augment_p", "ada_target", "r1_gamma", "r1_every", "lr_decay",
                 "d_mbstd", "init_generator", "class_weight")
# The largest value of each integer field (each is at least 1): past these a run cannot fit in memory or end.
INTEGER_BOUNDS = {"epochs": MAX_COUNT, "steps": MAX_COUNT, "batch_size": MAX_BATCH, "latent_dim": MAX_LATENT_DIM,
                  "ngf": 4096, "ndf": 4096, "log_every": MAX_COUNT, "critic_steps": 100, "size": MAX_IMAGE_SIDE,
                  "r1_every": MAX_COUNT, "eval_every": MAX_COUNT}
NON_NEGATIVE = {"d_mbstd": MAX_BATCH}  # integer fields where 0 turns the part off
# The range of each number field that is not a count: past these, training means nothing or cannot run.
NUMBER_BOUNDS = {"lr": (0.0, 1.0), "lr_d": (0.0, 1.0), "beta1": (0.0, 0.999999), "beta2": (0.0, 0.999999),
                 "vae_beta": (0.0, 1e6), "gp_weight": (0.0, 1e6), "r1_gamma": (0.0, 1e6), "augment_p": (0.0, 1.0),
                 "ada_target": (0.0, 1.0), "ema_warmup": (1.0, float(MAX_COUNT)), "lr_decay": (0.0, 1.0),
                 "class_weight": (0.0, 1e3), "eval_min_accuracy": (0.0, 1.0)}
MAX_MINUTES = 10**6
AUXILIARY = "auxiliary"  # the auxiliary classifier's name among a run's modules and optimizers (auxiliary.py)
NOT_SHAPING = ("out", "epochs", "minutes", "steps", "device", "eval_every", "eval_samples", "eval_extractor",
               "eval_min_accuracy")


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
    # The small-data GAN recipe (genrt.train.recipe); the defaults leave it off.
    d_norm: str = "auto"  # discriminator: batch | none | spectral; auto: none for wgan-gp, else batch
    lr_d: float | None = None  # the discriminator's learning rate (TTUR); None: the same as the generator's
    augment: str = ""  # differentiable augmentation of what D sees: a comma list of translation, cutout, color
    augment_p: float = 1.0  # the probability of each transform (the start value when ada_target is set)
    ada_target: float | None = None  # adapt augment_p so that E[sign(D(real))] stays near this (ADA: 0.6)
    r1_gamma: float = 0.0  # R1 penalty weight on real images (0: none)
    r1_every: int = 16  # steps between R1 penalties (lazy regularisation)
    lr_decay: float = 0.0  # the last fraction of the run's budget, over which every learning rate falls to 0
    d_mbstd: int = 0  # discriminator: minibatch standard deviation over groups of this many images (0: off)
    eval_every: int | None = None  # steps between FID / class-accuracy scores (genrt.train.quality); best kept
    eval_samples: int = 10_000
    eval_extractor: str | None = None  # the classifier ONNX file to score with; None: genrt eval's bundled one
    eval_min_accuracy: float = 0.0  # best.safetensors: the lowest FID among the scores with this class accuracy
    init_generator: str | None = None  # GANs: start the generator from this plain export (warmstart.py)
    class_weight: float = 0.0  # cgan: the auxiliary classifier's cross-entropy in G's loss (auxiliary.py; 0: off)

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
        for name, high in INTEGER_BOUNDS.items():
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int) and 1 <= value <= high):
                problems.append(f"{name} must be an integer from 1 to {high:,}, got {value}")
        for name, high in NON_NEGATIVE.items():
            value = getattr(self, name)
            if not (isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= high):
                problems.append(f"{name} must be an integer from 0 (off) to {high:,}, got {value}")
        if not (isinstance(self.seed, int) and 0 <= self.seed <= MAX_SEED):
            problems.append(f"seed must be an integer from 0 to {MAX_SEED}, got {self.seed}")
        finite = {}
        for name in ("minutes", "lr", "beta1", "beta2", "vae_beta", "gp_weight", "ema_warmup"):
            value = getattr(self, name)
            finite[name] = isinstance(value, (int, float)) and math.isfinite(value)
            if value is not None and not finite[name]:
                problems.append(f"{name} must be a finite number, got {value}")
        if finite["minutes"] and not 0 < self.minutes <= MAX_MINUTES:
            problems.append(f"minutes must be above 0 and at most {MAX_MINUTES:,}, got {self.minutes}")
        for name, (low, high) in NUMBER_BOUNDS.items():
            value = getattr(self, name)
            if value is not None and finite.get(name, True) and not (
                    isinstance(value, (int, float)) and low <= value <= high):
                problems.append(f"{name} must be a number from {low:g} to {high:g}, got {value}")
        if finite["lr"] and self.lr == 0:
            problems.append("lr must be positive, got 0")
        if self.split not in ("train", "all"):
            problems.append(f"split must be train or all, got {self.split!r}")
        if not (isinstance(self.ema_decay, (int, float)) and 0.0 <= self.ema_decay < 1.0):
            problems.append(f"ema_decay must be in [0, 1) (0: no average), got {self.ema_decay}")
        problems += self._recipe_problems()
        if self.channels not in (None, 1, 3):
            problems.append(f"channels must be 1 or 3, got {self.channels}")
        if problems:
            raise InputError("; ".join(problems))

    def _recipe_problems(self) -> list[str]:
        from genrt.train.recipe import parse_augment

        problems = []
        if self.d_norm not in D_NORMS:
            problems.append(f"d_norm must be one of {', '.join(D_NORMS)}, got {self.d_norm!r}")
        try:
            parse_augment(self.augment if isinstance(self.augment, str) else "?")
        except ValueError as e:
            problems.append(f"augment: {e}")
        if self.init_generator is not None and self.model not in ("dcgan", "cgan"):
            problems.append(f"init_generator starts a GAN's generator; {self.model} has none")
        for name in ("class_weight", "eval_min_accuracy"):
            if getattr(self, name) and self.model != "cgan":
                problems.append(f"{name} needs class labels (model cgan); {self.model} draws without them")
        if self.lr_d == 0:
            problems.append("lr_d must be positive, got 0")
        if not (isinstance(self.eval_samples, int) and 10 <= self.eval_samples <= 1_000_000):
            problems.append(f"eval_samples must be from 10 (FID needs a covariance) to 1,000,000, "
                            f"got {self.eval_samples}")
        return problems

    @property
    def discriminator_norm(self) -> str:
        if self.d_norm != "auto":
            return self.d_norm
        return "none" if self.loss == "wgan-gp" else "batch"

    # Defaults that depend on the model and the loss (the usual published settings).
    @property
    def adam(self) -> tuple[float, tuple[float, float]]:
        wgan = self.loss == "wgan-gp" and self.model != "vae"
        lr = self.lr or (1e-3 if self.model == "vae" else 1e-4 if wgan else 2e-4)
        beta1 = self.beta1 if self.beta1 is not None else (0.9 if self.model == "vae" else 0.0 if wgan else 0.5)
        beta2 = self.beta2 if self.beta2 is not None else (0.9 if wgan else 0.999)
        return lr, (beta1, beta2)

    def learning_rate(self, module: str) -> float:
        """The Adam learning rate of `module` (the discriminator and the auxiliary classifier beside it take lr_d
        when it is set)."""
        lr, _ = self.adam
        return self.lr_d if module in ("discriminator", AUXILIARY) and self.lr_d is not None else lr

    def budget_spent(self, step: int, epochs: float, seconds: float) -> float:
        """The fraction of the run's budget spent after `step` steps, `epochs` epochs (fractional) and `seconds`
        of training: of its steps, else of its epochs or its minutes, whichever ends the run first. The run
        stops when this reaches 1."""
        if self.steps is not None:
            return step / self.steps
        spent = epochs / self.epochs
        if self.minutes is not None:
            spent = max(spent, seconds / (self.minutes * 60))
        return spent

    def lr_scale(self, spent: float) -> float:
        """The factor on every learning rate once `spent` (0 to 1) of the run's budget is used: 1, then
        falling linearly to 0 over the last `lr_decay` of it."""
        if self.lr_decay <= 0:
            return 1.0
        return min(1.0, max(0.0, (1.0 - spent) / self.lr_decay))

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
        defaults = {f.name: f.default for f in fields(self)}
        shaping = {k: v for k, v in self.to_dict().items() if k not in NOT_SHAPING
                   and not (k in RECIPE_FIELDS and v == defaults[k])}  # digests of runs before the recipe stand
        return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:16]
