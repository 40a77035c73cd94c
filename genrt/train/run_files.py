"""`RunFiles`: what a training run writes and reads back (rank 0 writes): its checkpoint, saved and restored,
the grid of samples from fixed noise after each epoch, and the quality scores with the best checkpoint by FID.
A part of `loop._Run`, which holds the state."""

from __future__ import annotations

import os
import shutil
import sys
import time

import torch

from genrt.data import SPLIT_RULE
from genrt.spec import KINDS
from genrt.train import checkpoint as ckpt
from genrt.train.config import AUXILIARY
from genrt.train.ema import standing_statistics
from genrt.train.models import inference_module
from genrt.train.pictures import save_grid
from genrt.train.quality import QualityProbe
from genrt.train.runs import data_record


class RunFiles:
    """Checkpoint and sample-grid methods of a training run (loop._Run provides the models and state)."""

    def _restore(self, previous: ckpt.Checkpoint):
        for name, module in self.models.items():
            if name == AUXILIARY and not previous.module_state(name):
                continue  # a run resumed with --class-weight: its auxiliary classifier starts fresh
            module.load_state_dict(previous.module_state(name))
            self.optimizers[name].load_state_dict(previous.optimizer_state(name))
            _match_memory_format(self.optimizers[name])
        if self.ema is not None:
            averaged = previous.module_state("generator_ema")
            if averaged:
                self.ema.module.load_state_dict(averaged)
            else:  # a run that had no average: it starts from the restored generator
                self.ema.module.load_state_dict(self.models["generator"].state_dict())
        torch.set_rng_state(previous.rng("torch"))
        self.state = {k: previous.state[k] for k in ("epoch", "step", "step_in_epoch", "elapsed")}
        self.state.update({k: previous.state[k] for k in ("best_fid", "best_step") if k in previous.state})
        self.augmenter.load_state(previous.state.get("augment"))
        if self.rank == 0:
            self.noise.set_state(previous.rng("noise0"))
        else:  # only rank 0's noise state is saved: the others reseed, so a resumed DDP run is not bit-exact
            self.noise.manual_seed(self.config.seed + 1 + 1000 * self.rank + self.state["step"])
        if self.is_main:
            self.folder.truncate_metrics(self.state["step"])
            self.log(f"resuming {previous.path} at epoch {self.state['epoch'] + 1}, step {self.state['step']}")

    def _save(self, began):
        if not self.is_main:
            return
        self.state["elapsed"] = time.monotonic() - began
        self.state["augment"] = self.augmenter.state()
        rng = {"torch": torch.get_rng_state(), "noise0": self.noise.get_state()}
        modules = self.models if self.ema is None else {**self.models, "generator_ema": self.ema.module}
        ckpt.save_checkpoint(self.folder.checkpoint, self.config, self.model_config, modules, self.optimizers,
                             rng, self.state, self._data_record())

    def _data_record(self) -> dict:
        record = data_record(self.data, bool(self.model_config.num_classes))
        return {**record, "split": SPLIT_RULE if self.config.split == "train" else "all"}

    @torch.no_grad()
    def _exported_module(self) -> torch.nn.Module:
        """What export would write now: the averaged generator with batch-norm statistics of its own, if kept."""
        models = self.models
        if self.ema is not None:
            standing_statistics(self.ema.module, self.config.latent_dim, self.model_config.num_classes)
            models = {**self.models, "generator": self.ema.module}
        return inference_module(self.model_config, models)

    def _quality_probe(self) -> QualityProbe:
        cfg = self.config
        return QualityProbe(cfg.data, self.data.image_shape, self.model_config.num_classes, cfg.latent_dim,
                            cfg.eval_samples, KINDS[cfg.model].output_range, cfg.eval_extractor)

    def _evaluate(self, began, bar) -> None:
        """Score the exported module (FID, class accuracy), log it, save, and keep the checkpoint as best.safetensors
        when its FID is the lowest so far among the scores with at least `eval_min_accuracy` class accuracy."""
        if not self.is_main:
            return
        st = self.state
        scores = self.probe.score(self._exported_module(), self.device)
        row = {"event": "eval", "step": st["step"], "epoch": st["epoch"] + 1, **scores}
        if self.augmenter.active:
            row["augment_p"] = round(self.augmenter.p, 4)
        eligible = scores.get("class_accuracy", 1.0) >= self.config.eval_min_accuracy
        improved = eligible and (st.get("best_fid") is None or scores["fid"] < st["best_fid"])
        row["best"] = improved
        self.folder.append_metrics(row)
        if improved:
            st["best_fid"], st["best_step"] = scores["fid"], st["step"]
        self._save(began)
        if improved:
            staged = self.folder.best + ".partial"
            shutil.copyfile(self.folder.checkpoint, staged)
            os.replace(staged, self.folder.best)
        shown = ", ".join(f"{k} {v}" for k, v in row.items() if k not in ("event", "step", "best"))
        if improved:
            note = "best"
        else:
            note = f"best {st['best_fid']} at step {st['best_step']}" if "best_fid" in st else "no best yet"
            if not eligible:
                note = f"below --eval-min-accuracy; {note}"
        line = f"step {st['step']}: {shown} ({note})"
        if self.progress:
            bar.write(line, file=sys.stderr)
        else:
            self.log(line)

    @torch.no_grad()
    def _save_samples(self):
        """A grid from fixed noise: 8 columns, one row per class for cgan, else 8 rows; the averaged generator."""
        module = self._exported_module()
        was_training = module.training
        module.eval()
        rows = self.model_config.num_classes or 8
        z = torch.randn(8, self.config.latent_dim, generator=torch.Generator().manual_seed(self.config.seed + 2))
        z = z.repeat(rows, 1).to(self.device)  # the same 8 latents in every row
        labels = torch.arange(rows).repeat_interleave(8).to(self.device) if self.model_config.num_classes else None
        images = module(z, labels) if labels is not None else module(z)
        module.train(was_training)
        value_range = KINDS[self.config.model].output_range
        name = f"epoch_{self.state['epoch']:03d}.png"
        save_grid(os.path.join(self.folder.samples, name), images.float().cpu().numpy(), value_range, nrow=8)


def _match_memory_format(optimizer: torch.optim.Optimizer) -> None:
    """Give restored Adam moments their parameter's strides (checkpoints store them contiguous).

    The fused Adam kernel walks a parameter and its moments as flat memory: a
    channels-last weight with contiguous moments would be updated with another
    element's moments (caught by the resume test).
    """
    for param, state in optimizer.state.items():
        for key, value in state.items():
            if torch.is_tensor(value) and value.shape == param.shape and value.stride() != param.stride():
                state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)
