"""What every training run shares, whatever its kind: the run folder, the checks of its data, the device, the
processes, mixed precision.

A run folder (`--out`) holds:

    checkpoint.safetensors   weights, optimiser and RNG state (genrt.train.checkpoint)
    best.safetensors         with `eval_every`: the checkpoint of the lowest FID so far
    config.json              the TrainConfig, the ModelConfig and the data it saw
    metrics.jsonl            one JSON object per logged step, per epoch and per quality score
    samples/epoch_NNN.png    generators: a grid from fixed noise after every epoch
    loss_curve.png           the losses against the step, at the end

Only rank 0 writes (see `RunFolder.is_main`).
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable
from contextlib import nullcontext

import torch
import torch.distributed as dist

from genrt.errors import InputError, OutputError
from genrt.files import atomic_write
from genrt.spec import KINDS
from genrt.train import checkpoint as ckpt


class RunFolder:
    """The files of one run in `out`."""

    def __init__(self, out: str):
        self.out = out
        self.checkpoint = os.path.join(out, ckpt.FILENAME)
        self.best = os.path.join(out, "best.safetensors")
        self.config = os.path.join(out, "config.json")
        self.metrics = os.path.join(out, "metrics.jsonl")
        self.samples = os.path.join(out, "samples")
        self.curve = os.path.join(out, "loss_curve.png")

    def previous(self, resume: bool) -> ckpt.Checkpoint | None:
        """The checkpoint to resume from (resume=True), or None for a new run in a folder without one."""
        if os.path.exists(self.out) and not os.path.isdir(self.out):
            raise OutputError(f"`out` {self.out} is a file; give a folder for the run (it is created if missing)")
        if resume:
            return ckpt.load_checkpoint(self.checkpoint)
        if os.path.exists(self.checkpoint):
            raise OutputError(f"{self.out} already holds a training run; pass `resume` to continue it, "
                              "or choose another `out`")
        return None

    def write_config(self, train_config, model_config, data_record: dict) -> None:
        record = {"train": train_config.to_dict(), "model": model_config.to_dict(), "data": data_record,
                  "config_digest": train_config.digest()}
        os.makedirs(self.out, exist_ok=True)
        with atomic_write(self.config) as f:
            f.write(json.dumps(record, indent=2).encode())

    def append_metrics(self, row: dict) -> None:
        with open(self.metrics, "a") as f:
            f.write(json.dumps(row) + "\n")

    def truncate_metrics(self, step: int) -> None:
        """Drop metrics lines written after the checkpoint being resumed (they will be written again)."""
        if not os.path.exists(self.metrics):
            return
        with open(self.metrics) as f:
            kept = [line for line in f if json.loads(line).get("step", 0) <= step]
        with atomic_write(self.metrics) as f:
            f.write("".join(kept).encode())


def check_training_data(data, model: str) -> None:
    """InputError when `data` cannot train `model`: no images, or a conditional model without 2+ labelled classes."""
    if KINDS[model].conditional and (data.labels is None or data.num_classes < 2):
        raise InputError(f"{model} needs labelled data with at least 2 classes; {data.source!r} has "
                         f"{'no labels' if data.labels is None else f'{data.num_classes} class'} (for an image folder, "
                         "put each class in its own sub-folder)")
    if len(data.images) < 1:
        raise InputError(f"`data` {data.source!r} has no images")


def check_same_data(previous: ckpt.Checkpoint, data) -> None:
    """InputError when `data` is not the data the checkpoint was trained on (by digest), saying what differs."""
    before = previous.data
    if before.get("digest") in (None, data.digest()):
        return
    raise InputError(f"cannot resume {previous.path}: it was trained on {before.get('source')!r} ({before.get('images')} "
                     f"images, digest {before.get('digest')}), but `data` {data.source!r} gives {len(data.images)} images "
                     f"(digest {data.digest()}); resume with the original data, or start a new run")


def data_record(data, conditional: bool) -> dict:
    """What a checkpoint and config.json say about the data a run saw."""
    return {"source": data.source, "digest": data.digest(), "images": len(data.images),
            "image_shape": list(data.image_shape), "class_names": list(data.class_names) if conditional else []}


# Steps between reads of the losses: each read waits for the GPU to finish, so reading every step stalls it.
SYNC_EVERY = 10


def pick_device(choice: str, rank: int = 0) -> torch.device:
    """--device auto | cpu | cuda: the GPU of this process (LOCAL_RANK) when asked for or available."""
    if choice == "cuda" and not torch.cuda.is_available():
        raise InputError("`device` cuda: PyTorch sees no usable GPU (a CPU build of torch, or no CUDA device); "
                         "use `device` cpu or auto")
    if choice in ("auto", "cuda") and torch.cuda.is_available():
        index = int(os.environ.get("LOCAL_RANK", rank)) % torch.cuda.device_count()
        torch.cuda.set_device(index)
        torch.backends.cudnn.benchmark = True  # training shapes are fixed: cuDNN times its algorithms once
        return torch.device("cuda", index)
    return torch.device("cpu")


def amp_dtype(enabled: bool, device: torch.device):
    """The autocast dtype for mixed precision on CUDA (bfloat16 where supported, else float16), or None."""
    if not enabled or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(dtype):
    return nullcontext() if dtype is None else torch.autocast("cuda", dtype=dtype)


def distributed_backend(choice: str, cuda_available: bool) -> str:
    """nccl when this run trains on CUDA, else gloo: `--device cpu` on a GPU machine is a CPU run."""
    return "nccl" if choice in ("auto", "cuda") and cuda_available else "gloo"


def start_distributed(choice: str) -> tuple[int, int]:
    """(world size, rank); joins the process group, with the backend for device `choice`, when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 1, 0
    if not dist.is_initialized():
        dist.init_process_group(backend=distributed_backend(choice, torch.cuda.is_available()))
    return dist.get_world_size(), dist.get_rank()


def stop_distributed(world: int) -> None:
    if world > 1 and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def progress_bar(total, initial, enabled, name):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, unit="step", desc=f"train {name}",
                dynamic_ncols=True, mininterval=0.5)


def diverged_message(bad: dict, state: dict, cfg, checkpoint_path: str) -> str:
    """What TrainingError says when the losses in `bad` are not finite."""
    what = ", ".join(f"{k}={v}" for k, v in bad.items())
    kept = f"the last checkpoint ({checkpoint_path}) is kept as it was" if os.path.exists(checkpoint_path) else (
        "no checkpoint was written")
    lr, _ = cfg.adam
    return (f"training diverged by step {state['step']} (epoch {state['epoch'] + 1}): {what}; {kept}. "
            f"Try a lower `lr` (now {lr:g}), or `loss` hinge / wgan-gp")


def catch_ctrl_c(stop: threading.Event, world: int) -> Callable[[], None]:
    """First Ctrl-C: set `stop` (the loop ends its step, saves and stops). Second: stop now, no save. Returns the
    function that puts the previous SIGINT handler back; where Ctrl-C cannot be caught (several processes, a
    thread other than the main one) nothing is changed and it does nothing."""
    if world > 1 or threading.current_thread() is not threading.main_thread():
        return lambda: None

    def request_stop(signum, frame):
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, request_stop)

    def put_back() -> None:
        signal.signal(signal.SIGINT, previous)

    return put_back
