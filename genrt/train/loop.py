"""The training loop: `train(TrainConfig)` for dcgan, cgan and vae, on CPU, one GPU or many (torchrun).

The run folder (`config.out`, see runs.py) gets the checkpoint, config.json,
metrics.jsonl, a sample grid from fixed noise after every epoch (one row per class
for cgan) and the loss curve.

Reproducibility: the weights are initialised from `seed`; the data order of epoch
e is a permutation seeded by (seed, e); latents and other noise come from one
torch.Generator whose state is checkpointed. A run resumed from a checkpoint
(`resume=True`) therefore continues exactly as if it had not stopped (on CPU).

Ctrl-C finishes the current step, saves a checkpoint and raises KeyboardInterrupt
(the CLI exits 130). A NaN or Inf loss stops the run with TrainingError, without
saving the broken weights. Losses are read from the device every SYNC_EVERY steps
(runs.py), at log steps and at the end of each epoch, in one transfer: reading them
every step would make the CPU wait for the GPU 2-3 times a step.

Several processes (`torchrun --nproc-per-node N -m genrt.cli train ...`): PyTorch
DistributedDataParallel, nccl when the run trains on CUDA and gloo otherwise (also
`--device cpu` on a GPU machine); each process takes every
N-th image of the epoch's permutation, and only rank 0 writes files.
"""

from __future__ import annotations

import math
import os
import threading
import time

import torch

from genrt.errors import GenrtError, InputError
from genrt.train import auxiliary
from genrt.train.config import AUXILIARY, TrainConfig
from genrt.train.ema import EMA
from genrt.data import load_dataset, split
from genrt.spec import KINDS
from genrt.train.losses import discriminator_loss, generator_loss, gradient_penalty, vae_loss
from genrt.train.models import ModelConfig, build_models
from genrt.train.pictures import save_loss_curve
from genrt.train.recipe import Augmenter, r1_penalty, random_flip
from genrt.train.run_files import RunFiles
from genrt.train.warmstart import init_generator
from genrt.train.runs import (SYNC_EVERY, RunFolder, amp_dtype, autocast, catch_ctrl_c, check_same_data,
                              check_training_data, diverged_message, pick_device, progress_bar, start_distributed,
                              stop_distributed)


class TrainingError(GenrtError):
    """Training failed in a way the user must look at (a diverged loss). CLI exit status 1."""


def train(config: TrainConfig, resume: bool = False, progress: bool = True, log=print) -> dict:
    """Train (or resume) the run `config` describes; returns a summary dict."""
    if KINDS[config.model].loop == "classifier":  # TrainConfig has checked the kind
        from genrt.train.classifier import train_classifier

        return train_classifier(config, resume, progress, log)
    return _Run(config, resume, progress, log).run()


class _Run(RunFiles):
    def __init__(self, config: TrainConfig, resume: bool, progress: bool, log):
        self.config, self.progress, self.log = config, progress, log
        self.world, self.rank = start_distributed(config.device)
        self.device = pick_device(config.device, self.rank)
        self.is_main = self.rank == 0
        self.folder = RunFolder(config.out)
        previous = self.folder.previous(resume)

        self.data = load_dataset(config.data, config.size, config.channels, progress=progress and self.is_main)
        if config.split == "train":  # the held-out part stays unseen, for genrt eval to score against
            self.data = split(self.data, "train")
        check_training_data(self.data, config.model)
        if previous is not None:
            check_same_data(previous, self.data)
        c = self.data.image_shape
        self.model_config = ModelConfig(
            kind=config.model, image_shape=c, latent_dim=config.latent_dim,
            num_classes=self.data.num_classes if KINDS[config.model].conditional else 0,
            ngf=config.ngf, ndf=config.ndf, norm=config.discriminator_norm,
            likelihood=config.likelihood, mbstd_group=config.d_mbstd if config.model != "vae" else 0,
        )
        if previous is not None and previous.model_config != self.model_config:
            raise InputError(f"cannot resume {self.folder.checkpoint}: it holds {previous.model_config}, but these "
                             f"settings and data make {self.model_config}; resume with the original settings")

        torch.manual_seed(config.seed)
        self.models = build_models(self.model_config)
        if config.init_generator and previous is None:  # a resumed run's checkpoint holds its generator
            digest = init_generator(self.models["generator"], config.init_generator, self.model_config)
            self.log(f"the generator starts from {config.init_generator} (sha256 {digest[:16]})")
        if config.class_weight:
            self.models[AUXILIARY] = auxiliary.AuxiliaryClassifier(self.model_config)
        for m in self.models.values():  # on the device before the optimisers exist, so restored Adam state follows
            # Channels-last on CPU too: oneDNN's convolutions run faster so (benchmarks/train_throughput.py).
            m.to(self.device, memory_format=torch.channels_last)
        _, betas = config.adam
        # Fused Adam: one kernel for all parameters, several times faster than the foreach step on CPU.
        self.optimizers = {name: torch.optim.Adam(m.parameters(), lr=config.learning_rate(name), betas=betas,
                                                  fused=True) for name, m in self.models.items()}
        # The generator that gets exported: an average of its weights over the steps (ema.py).
        self.ema = (EMA(self.models["generator"], config.ema_decay, config.ema_warmup)
                    if "generator" in self.models and config.ema_decay > 0 else None)
        self.noise = torch.Generator().manual_seed(config.seed + 1 + 1000 * self.rank)
        self.augmenter = Augmenter(config.augment, config.augment_p, config.ada_target, config.batch_size, self.noise)
        self.state = {"epoch": 0, "step": 0, "step_in_epoch": 0, "elapsed": 0.0}
        self.probe = self._quality_probe() if config.eval_every and self.is_main else None
        if previous is not None:
            self._restore(previous)
        self.train_models = {name: self._wrap(m) for name, m in self.models.items()}

        self.amp_dtype = amp_dtype(config.amp, self.device)
        scaled = self.amp_dtype == torch.float16
        self.scalers = {name: torch.amp.GradScaler("cuda", enabled=scaled) for name in self.models}
        self.images = torch.from_numpy(self.data.images)  # uint8 N x C x H x W, converted per batch
        self.labels = torch.from_numpy(self.data.labels) if self.data.labels is not None else None
        self.shard = len(self.images) // self.world
        self.steps_per_epoch = self.shard // config.batch_size
        if self.steps_per_epoch < 1:
            raise InputError(f"`batch_size` {config.batch_size} is larger than the {self.shard} images each process "
                             f"gets from {config.data!r}; lower it")
        if config.lr_decay and config.minutes is not None and self.world > 1:  # ranks would part in learning rate
            raise InputError("`lr_decay` with `minutes` needs one process (each times its own); use steps")
        self.stop_requested = threading.Event()  # set by the first Ctrl-C (runs.catch_ctrl_c)

    def _wrap(self, module):
        if self.world == 1:
            return module
        ids = [self.device.index] if self.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(module, device_ids=ids)

    # ------------------------------------------------------------ one step

    def _batch(self, indices):
        x = self.images[indices].to(self.device, non_blocking=True).float() / 255.0  # N x C x H x W in [0, 1]
        lo, hi = KINDS[self.config.model].output_range
        if (lo, hi) != (0.0, 1.0):
            x = x * (hi - lo) + lo  # the generator's output range: [-1, 1] for a tanh
        if self.config.flip:
            x = random_flip(x, self.noise)
        x = x.contiguous(memory_format=torch.channels_last)
        y = self.labels[indices].to(self.device) if self.model_config.num_classes else None
        return x, y

    def _randn(self, *shape):
        return torch.randn(*shape, generator=self.noise).to(self.device)

    def _gan_step(self, x, y) -> dict:
        cfg, G, D = self.config, self.train_models["generator"], self.train_models["discriminator"]
        opt_g, opt_d = self.optimizers["generator"], self.optimizers["discriminator"]
        seen = self.augmenter  # what D sees of real and generated images alike (identity without `augment`)
        z = self._randn(len(x), cfg.latent_dim)
        with autocast(self.amp_dtype):
            fake = G(z, y)
            real_logits = D(seen(x), y)
            d_loss = discriminator_loss(cfg.loss, real_logits, D(seen(fake.detach()), y))
        seen.observe(real_logits)
        critic = D.module if hasattr(D, "module") else D  # penalties take their own forward pass
        if cfg.loss == "wgan-gp":
            mix = torch.rand(len(x), 1, 1, 1, generator=self.noise).to(self.device)
            with torch.autocast(self.device.type, enabled=False):
                d_loss = d_loss + cfg.gp_weight * gradient_penalty(critic, x.float(), fake.float(), y, mix)
        if cfg.r1_gamma > 0 and self.state["step"] % cfg.r1_every == 0:  # lazy: the weight makes up for the interval
            with torch.autocast(self.device.type, enabled=False):
                d_loss = d_loss + cfg.r1_gamma / 2 * cfg.r1_every * r1_penalty(critic, x.float(), y, seen)
        self._backward_step("discriminator", d_loss, opt_d)
        metrics = {"d_loss": d_loss.detach()}
        A = self.train_models.get(AUXILIARY)
        if A is not None:
            with autocast(self.amp_dtype):
                a_loss = auxiliary.class_loss(A, seen(x), y)
            self._backward_step(AUXILIARY, a_loss, self.optimizers[AUXILIARY])
            metrics["a_loss"] = a_loss.detach()
        if (self.state["step"] + 1) % cfg.n_critic == 0:
            with autocast(self.amp_dtype):
                shown = seen(fake)
                g_loss = generator_loss(cfg.loss, D(shown, y))
                if A is not None:
                    g_loss = g_loss + cfg.class_weight * auxiliary.class_loss(A, shown, y)
            self._backward_step("generator", g_loss, opt_g)
            if self.ema is not None:
                self.ema.update(self.models["generator"], self.state["step"] // cfg.n_critic)
            metrics["g_loss"] = g_loss.detach()
        return metrics

    def _vae_step(self, x, _y) -> dict:
        cfg, vae, opt = self.config, self.train_models["vae"], self.optimizers["vae"]
        noise = self._randn(len(x), cfg.latent_dim)
        with autocast(self.amp_dtype):
            logits, mu, logvar = vae(x, noise)
        loss, recon, kl = vae_loss(logits.float(), x.float(), mu.float(), logvar.float(), cfg.likelihood, cfg.vae_beta)
        self._backward_step("vae", loss, opt)
        return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach()}

    def _backward_step(self, name, loss, optimizer):
        """Gradients from `loss` alone (what another module's loss left in these parameters is dropped first),
        then one optimizer step."""
        optimizer.zero_grad(set_to_none=True)
        scaler = self.scalers[name]
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    # ------------------------------------------------------------ the loop

    def run(self) -> dict:
        cfg, st = self.config, self.state
        if self.is_main:
            os.makedirs(self.folder.samples, exist_ok=True)
            self.folder.write_config(self.config, self.model_config, self._data_record())
            d = self.data
            self.log(f"training {cfg.model} on {len(d.images)} images {'x'.join(map(str, d.image_shape))} from "
                     f"{d.source} ({self.device}, {self.world} process{'es' if self.world > 1 else ''}) -> {cfg.out}")
        step_fn = self._vae_step if cfg.model == "vae" else self._gan_step
        total = cfg.steps or cfg.epochs * self.steps_per_epoch
        bar = progress_bar(total, st["step"], self.progress and self.is_main, cfg.model)
        began, images_seen, rate_start = time.monotonic() - st["elapsed"], 0, time.monotonic()
        put_back_ctrl_c = catch_ctrl_c(self.stop_requested, self.world)
        last, pending = {}, []
        try:
            while not self._finished(began):
                order = torch.randperm(len(self.images), generator=torch.Generator().manual_seed(
                    cfg.seed * 100_003 + st["epoch"]))[self.rank :: self.world]
                while st["step_in_epoch"] < self.steps_per_epoch and not self._finished(began):
                    b = st["step_in_epoch"]
                    x, y = self._batch(order[b * cfg.batch_size : (b + 1) * cfg.batch_size])
                    if cfg.lr_decay:
                        self._scale_learning_rates(self._spent(began))
                    pending.append(step_fn(x, y))
                    st["step"] += 1
                    st["step_in_epoch"] += 1
                    images_seen += len(x) * self.world
                    logs = self.is_main and st["step"] % cfg.log_every == 0
                    if (logs or len(pending) >= SYNC_EVERY or st["step_in_epoch"] >= self.steps_per_epoch
                            or self._finished(began) or self.stop_requested.is_set()):
                        last = self._read_metrics(pending)
                        pending = []
                        rate = images_seen / max(time.monotonic() - rate_start, 1e-9)
                        bar.set_postfix({k: f"{v:.3f}" for k, v in last.items()} | {"img/s": f"{rate:.0f}"})
                        if logs:
                            self.folder.append_metrics({"event": "step", "step": st["step"], "epoch": st["epoch"] + 1,
                                                        **last, "images_per_s": round(rate, 1)})
                    bar.update(1)
                    if cfg.eval_every and st["step"] % cfg.eval_every == 0:
                        self._evaluate(began, bar)
                    if self.stop_requested.is_set():
                        raise KeyboardInterrupt
                if st["step_in_epoch"] >= self.steps_per_epoch:
                    st["epoch"] += 1
                    st["step_in_epoch"] = 0
                    if self.is_main:
                        self._save_samples()
                        self.folder.append_metrics({"event": "epoch", "epoch": st["epoch"], "step": st["step"], **last})
                    self._save(began)
        except KeyboardInterrupt:
            self._save(began)
            if self.is_main:
                self.log(f"\ninterrupted: saved {self.folder.checkpoint} at step {st['step']}; "
                         f"continue with --resume")
            raise
        finally:
            put_back_ctrl_c()
            bar.close()
        self._save(began)
        if cfg.eval_every and st["step"] % cfg.eval_every:  # the last steps are scored too
            self._evaluate(began, bar)
        if self.is_main:
            self._save_samples()
            save_loss_curve(self.folder.curve, self.folder.metrics, f"{cfg.model} on {self.data.source}")
        stop_distributed(self.world)
        return {"rank": self.rank, "out": cfg.out, "checkpoint": self.folder.checkpoint, "epochs": st["epoch"],
                "steps": st["step"], "metrics": last, "seconds": round(time.monotonic() - began, 1)}

    def _scale_learning_rates(self, spent: float) -> None:
        scale = self.config.lr_scale(spent)
        for name, optimizer in self.optimizers.items():
            for group in optimizer.param_groups:
                group["lr"] = self.config.learning_rate(name) * scale

    def _read_metrics(self, pending: list[dict]) -> dict:
        """The latest step's metrics as floats, read from the device in one transfer for all `pending` steps;
        TrainingError when any of them is not finite (the step that diverged is among the last SYNC_EVERY)."""
        names = [(i, k) for i, metrics in enumerate(pending) for k in metrics]
        values = torch.stack([pending[i][k].float() for i, k in names]).tolist()
        read = dict(zip(names, values))
        bad = {k: v for (i, k), v in read.items() if not math.isfinite(v)}
        if bad:
            raise TrainingError(diverged_message(bad, self.state, self.config, self.folder.checkpoint))
        return {k: read[len(pending) - 1, k] for k in pending[-1]}

    def _spent(self, began) -> float:  # the fraction of the run's budget spent: TrainConfig.budget_spent
        st = self.state
        epochs = st["epoch"] + st["step_in_epoch"] / self.steps_per_epoch
        return self.config.budget_spent(st["step"], epochs, time.monotonic() - began)

    def _finished(self, began) -> bool:
        return self._spent(began) >= 1
