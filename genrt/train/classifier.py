"""`genrt train classifier`: the digit classifier whose features genrt eval scores generators with.

It trains on the "train" part of the data (genrt.data.split) and reports its
accuracy on the "holdout" part after every epoch; the checkpoint records that
accuracy, the split rule and the data digest, and `genrt export` carries them
into the ONNX file, so every score can name the extractor it was computed with.

Images enter as floats in [0, 1] (uint8 / 255), the form genrt eval feeds it
generated and real images alike. Training augments with random shifts of up to
2 pixels. Seeded like the GAN loop: the same seed gives the same weights on CPU.
It runs on `device` (auto, cpu, cuda) with mixed precision on CUDA unless `amp` is
off, and stops after `steps`, `minutes` or `epochs`. It runs in one process (under
torchrun it refuses) and has no resume: a run takes about a minute on a CPU.
"""

from __future__ import annotations

import os
import time

import torch
import torch.nn.functional as F

from genrt.data import SPLIT_RULE, load_dataset, split
from genrt.errors import InputError
from genrt.train import checkpoint as ckpt
from genrt.train.config import TrainConfig
from genrt.train.models import ModelConfig, build_models
from genrt.train.runs import RunFolder, amp_dtype, autocast, data_record, pick_device, progress_bar

MAX_SHIFT = 2  # pixels of random translation


def train_classifier(config: TrainConfig, resume: bool = False, progress: bool = True, log=print) -> dict:
    """Train the classifier of `config` (model="classifier"); returns a summary dict like genrt.train.train."""
    if resume:
        raise InputError("`resume` is not supported for the classifier (a run takes about a minute); start again")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise InputError("the classifier trains in one process; run it without torchrun")
    folder = RunFolder(config.out)
    folder.previous(resume=False)
    device = pick_device(config.device)
    precision = amp_dtype(config.amp, device)
    data = load_dataset(config.data, config.size, config.channels)
    if data.labels is None or data.num_classes < 2:
        raise InputError(f"the classifier needs labelled data with at least 2 classes; {data.source!r} has none")
    train_part, holdout = split(data, "train"), split(data, "holdout")
    cfg = ModelConfig(kind="classifier", image_shape=data.image_shape, num_classes=data.num_classes, ndf=config.ndf)
    torch.manual_seed(config.seed)
    model = build_models(cfg)["classifier"].to(device)
    lr = config.lr or 1e-3
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scaler = torch.amp.GradScaler("cuda", enabled=precision == torch.float16)
    images, labels = torch.from_numpy(train_part.images), torch.from_numpy(train_part.labels)
    steps_per_epoch = len(images) // config.batch_size
    if steps_per_epoch < 1:
        raise InputError(f"`batch_size` {config.batch_size} is larger than the {len(images)} training images; lower it")
    total = config.steps or config.epochs * steps_per_epoch
    noise = torch.Generator().manual_seed(config.seed + 1)
    os.makedirs(config.out, exist_ok=True)
    log(f"training classifier on {len(images)} images {'x'.join(map(str, data.image_shape))} from {data.source}, "
        f"holding out {len(holdout.images)} ({SPLIT_RULE}) ({device}) -> {config.out}")

    bar = progress_bar(total, 0, progress, "classifier")
    began, step, epoch, accuracy = time.monotonic(), 0, 0, 0.0

    def finished() -> bool:
        return step >= total or (config.minutes is not None and time.monotonic() - began >= config.minutes * 60)

    while not finished():
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(config.seed * 100_003 + epoch))
        model.train()
        for b in range(steps_per_epoch):
            if finished():
                break
            index = order[b * config.batch_size : (b + 1) * config.batch_size]
            x = _shift(images[index].float() / 255.0, noise).to(device)  # N x C x H x W in [0, 1]
            with autocast(precision):
                logits, _ = model(x)
                loss = F.cross_entropy(logits.float(), labels[index].to(device))
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", holdout=f"{accuracy:.3f}")
        epoch += 1
        accuracy = holdout_accuracy(model, holdout)
        folder.append_metrics({"event": "epoch", "epoch": epoch, "step": step, "loss": loss.item(),
                               "holdout_accuracy": accuracy})
    bar.close()
    state = {"epoch": epoch, "step": step, "step_in_epoch": 0, "elapsed": time.monotonic() - began,
             "holdout_accuracy": accuracy}
    record = {**data_record(data, conditional=True), "split": SPLIT_RULE,
              "train_images": len(train_part.images), "holdout_images": len(holdout.images)}
    model.cpu()
    ckpt.save_checkpoint(folder.checkpoint, config, cfg, {"classifier": model}, {"classifier": optimizer},
                         {"torch": torch.get_rng_state(), "noise0": noise.get_state()}, state, record)
    folder.write_config(config, cfg, record)
    log(f"held-out accuracy {accuracy:.4f} on {len(holdout.images)} images")
    return {"rank": 0, "out": config.out, "checkpoint": folder.checkpoint, "epochs": epoch, "steps": step,
            "metrics": {"holdout_accuracy": accuracy}, "seconds": round(time.monotonic() - began, 1)}


def _shift(x: torch.Tensor, noise: torch.Generator) -> torch.Tensor:
    """Each image moved by a random whole-pixel offset in [-MAX_SHIFT, MAX_SHIFT], filled with 0 (background)."""
    n, _, h, w = x.shape
    padded = F.pad(x, (MAX_SHIFT,) * 4)
    dy, dx = (torch.randint(0, 2 * MAX_SHIFT + 1, (n,), generator=noise) for _ in range(2))
    rows = (dy[:, None] + torch.arange(h)[None])[:, None, :, None].expand(n, x.shape[1], h, w + 2 * MAX_SHIFT)
    moved = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w)[None])[:, None, None, :].expand(n, x.shape[1], h, w)
    return moved.gather(3, cols)


@torch.no_grad()
def holdout_accuracy(model, holdout, batch_size: int = 500) -> float:
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for start in range(0, len(holdout.images), batch_size):
        x = torch.from_numpy(holdout.images[start : start + batch_size]).to(device).float() / 255.0
        logits, _ = model(x)
        logits = logits.cpu()
        correct += int((logits.argmax(1) == torch.from_numpy(holdout.labels[start : start + batch_size])).sum())
    model.train()
    return correct / len(holdout.images)
