"""genrt.train on real (tiny) PyTorch runs: each model, resume equality, checkpoints, bad data, NaN, DDP."""

import json
import math
import os
import pickle
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image

from genrt.cli import main
from genrt.errors import InputError, ModelError, OutputError
from genrt.train import TrainConfig, TrainingError, build_models, load_checkpoint, load_dataset, train
from genrt.data import download, read_idx
from genrt.train.models import ModelConfig

TINY = {"data": "fake:64", "split": "all", "batch_size": 16, "ngf": 8, "ndf": 8, "latent_dim": 16, "log_every": 1}


def tiny(tmp_path, name="run", **overrides) -> TrainConfig:
    return TrainConfig(**{**TINY, "out": str(tmp_path / name), **overrides})


def quiet(message):
    pass


def weights(path) -> dict:
    return load_checkpoint(path).tensors


@pytest.mark.parametrize(
    "model, extra",
    [
        ("dcgan", {}),
        ("cgan", {}),
        ("vae", {}),
        ("dcgan", {"loss": "lsgan"}),
        ("cgan", {"loss": "hinge"}),
        ("dcgan", {"loss": "wgan-gp", "size": 32, "channels": 3}),
        ("vae", {"likelihood": "gaussian", "size": 32}),
    ],
)
def test_one_epoch_of_each_model_writes_a_complete_run(tmp_path, model, extra):
    config = tiny(tmp_path, model=model, epochs=1, **extra)
    summary = train(config, progress=False, log=quiet)
    assert summary["epochs"] == 1 and summary["steps"] == 4  # 64 images / batch 16
    run = tmp_path / "run"
    ck = load_checkpoint(run)
    assert ck.model_config.kind == model and ck.state["step"] == 4
    size = extra.get("size", 28)
    assert ck.model_config.image_shape == (extra.get("channels", 1), size, size)
    # The checkpoint alone rebuilds the networks.
    rebuilt = build_models(ck.model_config)
    for name, module in rebuilt.items():
        module.load_state_dict(ck.module_state(name))
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines if r["event"] == "step"] == [1, 2, 3, 4]
    assert all(np.isfinite(v) for r in lines for k, v in r.items() if k.endswith("loss"))
    grid = Image.open(run / "samples" / "epoch_001.png")
    rows = 10 if model == "cgan" else 8
    assert grid.size == (8 * (size + 2) + 2, rows * (size + 2) + 2)
    assert Image.open(run / "loss_curve.png").format == "PNG"
    assert json.loads((run / "config.json").read_text())["model"]["kind"] == model


def test_training_changes_the_weights_and_seeds_repeat(tmp_path):
    a = train(tiny(tmp_path, "a", model="cgan", steps=3), progress=False, log=quiet)
    b = train(tiny(tmp_path, "b", model="cgan", steps=3), progress=False, log=quiet)
    c = train(tiny(tmp_path, "c", model="cgan", steps=3, seed=1), progress=False, log=quiet)
    wa, wb, wc = (weights(r["checkpoint"]) for r in (a, b, c))
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], rtol=0, atol=0)
    assert any(not torch.equal(wa[k], wc[k]) for k in wa if k.startswith("model."))
    init = build_models(load_checkpoint(a["checkpoint"]).model_config)  # same seed, untrained
    assert not torch.equal(wa["model.generator.net.0.weight"], init["generator"].net[0].weight.detach())


@pytest.mark.parametrize("model, stop_at", [("cgan", 6), ("vae", 3), ("dcgan", 4)])
def test_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path, model, stop_at):
    """Stop mid-epoch (step 6 of 8) or at an epoch boundary (step 4), resume, and compare with one straight run."""
    straight = train(tiny(tmp_path, "straight", model=model, epochs=2), progress=False, log=quiet)
    train(tiny(tmp_path, "split", model=model, epochs=2, steps=stop_at), progress=False, log=quiet)
    resumed = train(tiny(tmp_path, "split", model=model, epochs=2), resume=True, progress=False, log=quiet)
    assert resumed["steps"] == straight["steps"] == 8
    w1, w2 = weights(straight["checkpoint"]), weights(resumed["checkpoint"])
    assert set(w1) == set(w2)
    assert any(key.startswith("model.generator_ema.") for key in w1) == (model != "vae")  # the average, compared too
    for key in w1:
        if not key.startswith("rng."):
            torch.testing.assert_close(w1[key], w2[key], rtol=0, atol=0, msg=key)
    steps = [json.loads(line)["step"] for line in open(tmp_path / "split" / "metrics.jsonl")
             if json.loads(line)["event"] == "step"]
    assert steps == list(range(1, 9))  # no step logged twice


def test_the_weight_average_follows_its_rule():
    """ema = d * ema + (1 - d) * w with d = min(decay, (1 + t) / (warmup + t)); buffers are copied."""
    from genrt.train.ema import EMA

    source = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    ema = EMA(source, decay=0.9, warmup=10.0)
    assert ema.decay_at(0) == pytest.approx(0.1) and ema.decay_at(1000) == 0.9
    before = ema.module[0].weight.clone()
    with torch.no_grad():
        source[0].weight.add_(1.0)
        source[1].running_mean.fill_(3.0)
    ema.update(source, t=5)
    d = 6 / 15
    torch.testing.assert_close(ema.module[0].weight, d * before + (1 - d) * source[0].weight)
    assert torch.equal(ema.module[1].running_mean, source[1].running_mean)
    assert not ema.module[0].weight.requires_grad


def test_standing_statistics_are_the_averaged_generators_own_and_repeat():
    from genrt.train.ema import standing_statistics

    cfg = ModelConfig(kind="cgan", image_shape=(1, 28, 28), latent_dim=16, num_classes=10, ngf=8, ndf=8)
    generator = build_models(cfg)["generator"]
    norms = [m for m in generator.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(float(m.running_var.mean()) == 1.0 for m in norms)  # fresh statistics
    standing_statistics(generator, 16, 10)
    first = [m.running_mean.clone() for m in norms]
    assert all(float(m.running_var.mean()) != 1.0 for m in norms) and all(m.momentum == 0.1 for m in norms)
    standing_statistics(generator, 16, 10)
    assert all(torch.equal(a, m.running_mean) for a, m in zip(first, norms))  # the same inputs every time


def test_gans_train_on_the_train_split_with_an_average_by_default(tmp_path):
    from genrt.data import SPLIT_RULE

    summary = train(TrainConfig(**{**TINY, "split": "train", "out": str(tmp_path / "run")}, model="cgan", epochs=1),
                    progress=False, log=quiet)
    ck = load_checkpoint(summary["checkpoint"])
    assert ck.data["source"] == "fake:64 (train)" and ck.data["images"] == 54 and ck.data["split"] == SPLIT_RULE
    assert summary["steps"] == 3  # 54 images (10 of 64 held out, 20% of each class) / batch 16
    raw, averaged = ck.module_state("generator"), ck.module_state("generator_ema")
    assert raw.keys() == averaged.keys() and not torch.equal(raw["net.0.weight"], averaged["net.0.weight"])
    everything = train(tiny(tmp_path, "all", model="cgan", epochs=1, ema_decay=0.0), progress=False, log=quiet)
    ck = load_checkpoint(everything["checkpoint"])
    assert ck.data["images"] == 64 and ck.data["split"] == "all" and not ck.module_state("generator_ema")


def test_ctrl_c_saves_a_checkpoint_and_exits_130(tmp_path):
    out = tmp_path / "interrupted"
    cmd = [sys.executable, "-m", "genrt.cli", "train", "dcgan", "--data", "fake:64", "--batch-size", "16",
           "--ngf", "8", "--ndf", "8", "--epochs", "100000", "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "metrics.jsonl").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted: saved" in err and "--resume" in err
    ck = load_checkpoint(out)
    assert ck.state["step"] >= 1
    assert not [p for p in os.listdir(out) if p.endswith(".tmp")]


def test_checkpoints_that_are_not_genrt_safetensors_are_refused(tmp_path):
    run = train(tiny(tmp_path, model="dcgan", steps=1), progress=False, log=quiet)
    good = open(run["checkpoint"], "rb").read()
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(ModelError, match="damaged genrt checkpoint|is not a genrt checkpoint"):
        load_checkpoint(truncated)

    # A pickle whose loading would run code: genrt must refuse it without unpickling.
    sentinel = tmp_path / "payload-ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(sentinel), "w"))

    evil = tmp_path / "evil.safetensors"
    torch.save({"weights": Payload()}, evil, _use_new_zipfile_serialization=False)
    pickled = tmp_path / "evil.pt"
    pickled.write_bytes(pickle.dumps(Payload()))
    for path in (evil, pickled):
        with pytest.raises(ModelError, match="is not a genrt checkpoint"):
            load_checkpoint(path)
    assert not sentinel.exists()
    with pytest.raises(ModelError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nothing.safetensors")


def test_a_run_folder_is_not_overwritten_and_resume_needs_the_same_model(tmp_path):
    train(tiny(tmp_path, model="dcgan", steps=1), progress=False, log=quiet)
    with pytest.raises(OutputError, match="already holds a training run; pass `resume`"):
        train(tiny(tmp_path, model="dcgan", steps=2), progress=False, log=quiet)
    with pytest.raises(InputError, match="cannot resume"):
        train(tiny(tmp_path, model="dcgan", steps=2, ngf=16), resume=True, progress=False, log=quiet)


def test_a_diverging_loss_stops_without_saving_nan_weights(tmp_path):
    config = tiny(tmp_path, model="vae", epochs=50, lr=1.0)
    with pytest.raises(TrainingError, match=r"training diverged by step \d+ .*Try a lower `lr`"):
        train(config, progress=False, log=quiet)
    checkpoint = tmp_path / "run" / "checkpoint.safetensors"
    if checkpoint.exists():  # epochs finished before it diverged: those weights must be finite
        assert all(torch.isfinite(t.float()).all() for t in load_checkpoint(checkpoint).tensors.values())


def test_bad_data_is_refused_before_training(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no PNG or JPEG images found"):
        load_dataset(str(empty))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="cannot read .*a.png as an image"):
        load_dataset(str(broken))
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    Image.new("L", (16, 16)).save(mixed / "a.png")
    Image.new("L", (20, 20)).save(mixed / "b.png")
    with pytest.raises(InputError, match="b.png is 1 x 20 x 20 .* images before it are 1 x 16 x 16; .*`size` N resizes"):
        load_dataset(str(mixed))
    assert load_dataset(str(mixed), size=16).images.shape == (2, 1, 16, 16)
    with pytest.raises(InputError, match="cgan needs labelled data"):
        train(tiny(tmp_path, model="cgan", data=str(mixed), size=32), progress=False, log=quiet)
    with pytest.raises(InputError, match="not a folder and not a known dataset"):
        load_dataset("nowhere")
    with pytest.raises(InputError, match="image size 20 is not supported"):
        train(tiny(tmp_path, "s", model="dcgan", size=20), progress=False, log=quiet)


def test_image_folders_with_classes(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("cats", "dogs"):
        (tmp_path / "pets" / name).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(tmp_path / "pets" / name / f"{i}.jpg")
    data = load_dataset(str(tmp_path / "pets"), size=32)
    assert data.images.shape == (6, 3, 32, 32) and data.class_names == ("cats", "dogs")
    assert data.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert load_dataset(str(tmp_path / "pets"), size=32, channels=1).images.shape == (6, 1, 32, 32)


def test_embedded_digits_are_real_and_balanced():
    data = load_dataset("digits")
    assert data.images.shape == (5000, 1, 28, 28) and data.images.dtype == np.uint8
    assert np.bincount(data.labels).tolist() == [500] * 10
    assert 0.1 < (data.images > 128).mean() < 0.3  # ink on a dark background, like MNIST


def write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_idx_files_and_checksummed_downloads(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "mnist"
    folder.mkdir()
    images, labels = rng.integers(0, 255, (20, 28, 28)), np.arange(20) % 10
    write_idx(folder / "train-images-idx3-ubyte", images)
    write_idx(folder / "train-labels-idx1-ubyte", labels)
    data = load_dataset(f"mnist:{folder}")
    assert data.images.shape == (20, 1, 28, 28) and data.labels.tolist() == labels.tolist()
    np.testing.assert_array_equal(read_idx(str(folder / "train-images-idx3-ubyte")), images)
    (folder / "bad-idx").write_bytes(b"\0\0\x08\x01\0\0\0\x09abc")
    with pytest.raises(InputError, match="truncated"):
        read_idx(str(folder / "bad-idx"))

    import hashlib

    source = folder / "train-images-idx3-ubyte"
    url = source.as_uri()  # file:// goes through the same urllib path as https://
    good = hashlib.sha256(source.read_bytes()).hexdigest()
    assert open(download(url, str(tmp_path / "got"), sha256=good), "rb").read() == source.read_bytes()
    with pytest.raises(InputError, match="does not match the expected"):
        download(url, str(tmp_path / "wrong"), sha256="0" * 64)
    assert not (tmp_path / "wrong").exists() and not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_cli_train_and_its_errors(tmp_path, capsys):
    out = tmp_path / "cli"
    status = main(["train", "vae", "--data", "fake:32", "--batch-size", "16", "--ngf", "8", "--ndf", "8",
                   "--steps", "2", "--out", str(out), "--quiet"])
    assert status == 0 and "done: " in capsys.readouterr().out
    (tmp_path / "afile").write_text("not a folder")
    for args, message in [
        (["train", "gan"], "Invalid value for '{dcgan|cgan|vae|classifier}'"),
        (["train", "vae", "--data", "fake:32", "--batch-size", "0", "--out", str(tmp_path / "x")],
         "batch_size must be an integer from 1 to 65,536"),
        (["train", "vae", "--data", "fake:8", "--batch-size", "16", "--out", str(tmp_path / "y")],
         "--batch-size 16 is larger than the 8 images"),
        (["train", "vae", "--steps", "1", "--out", str(out)], "already holds a training run"),
        (["train", "vae", "--device", "cuda", "--out", str(tmp_path / "z")], "--device cuda"),
        (["train", "cgan", "--lr", "nan", "--out", str(tmp_path / "n")], "lr must be a finite number, got nan"),
        (["train", "cgan", "--ema-decay", "1", "--out", str(tmp_path / "n")], "ema_decay must be in [0, 1)"),
        (["train", "cgan", "--minutes", "inf", "--out", str(tmp_path / "n")], "minutes must be a finite number"),
        (["train", "vae", "--data", "fake:32", "--out", str(tmp_path / "afile")], "--out " + str(tmp_path / "afile")
         + " is a file; give a folder for the run"),
        (["train", "vae", "--data", "fake:48", "--batch-size", "16", "--ngf", "8", "--ndf", "8", "--steps", "3",
          "--out", str(out), "--resume"], "but --data 'fake:48 (train)' gives 38 images"),
    ]:
        if "cuda" in message and torch.cuda.is_available():
            continue
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("genrt: error: ") and message in err and len(err.strip().splitlines()) == 1


def test_ddp_two_processes_on_cpu(tmp_path):
    """torchrun with 2 gloo processes: one finished checkpoint with the same shapes as a 1-process run."""
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "genrt.cli", "train", "cgan", "--data", "fake:64", "--split", "all", "--batch-size", "8", "--ngf", "8", "--ndf", "8",
           "--latent-dim", "16", "--epochs", "1", "--out", str(out), "--quiet", "--device", "cpu"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("done: ") == 1  # only rank 0 reports
    ck = load_checkpoint(out)
    assert ck.state["epoch"] == 1 and ck.state["step"] == 4  # 64 images / 2 processes / batch 8
    single = build_models(ModelConfig.from_dict(ck.model_config.to_dict()))
    for name, module in single.items():
        assert {k: v.shape for k, v in ck.module_state(name).items()} == {
            k: v.shape for k, v in module.state_dict().items()}
    assert (out / "samples" / "epoch_001.png").exists()


def test_ddp_backend_follows_the_chosen_device():
    """nccl only for a run that trains on CUDA: `--device cpu` on a GPU machine runs gloo (nccl refuses CPU tensors)."""
    from genrt.train.runs import distributed_backend

    assert distributed_backend("cpu", cuda_available=True) == "gloo"
    assert distributed_backend("cpu", cuda_available=False) == "gloo"
    assert distributed_backend("auto", cuda_available=False) == "gloo"
    assert distributed_backend("auto", cuda_available=True) == "nccl"
    assert distributed_backend("cuda", cuda_available=True) == "nccl"


def test_losses_are_read_once_per_interval_and_match_the_step_log(tmp_path):
    """The losses logged every step equal the last step's, though they are read from the device in batches."""
    out = tmp_path / "sync"
    config = TrainConfig(model="dcgan", data="fake:96", batch_size=8, ngf=8, ndf=8, latent_dim=8, epochs=1,
                         out=str(out), log_every=3, device="cpu", split="all")
    result = train(config, progress=False, log=lambda m: None)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if r["event"] == "step"]
    assert [r["step"] for r in steps] == [3, 6, 9, 12]
    assert all(math.isfinite(r["d_loss"]) and math.isfinite(r["g_loss"]) for r in steps)
    epoch = next(r for r in rows if r["event"] == "epoch")
    assert epoch["d_loss"] == steps[-1]["d_loss"] == result["metrics"]["d_loss"]


def test_the_train_commands_defaults_are_train_configs():
    """`genrt train` and `TrainConfig` are two doors to one run: every option's default is the field's default,
    so a run from Python and one from the command line with no options train the same model."""
    import dataclasses

    import click

    from genrt.cli.train import train as train_command

    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    options = [p for p in train_command.params if isinstance(p, click.Option)]
    shared = {p.name for p in options} & defaults.keys()
    assert len(shared) >= 30 and {p.name for p in options} - shared == {"resume", "no_amp", "quiet"}
    for option in options:
        if option.name in shared:
            default = option.get_default(click.Context(train_command))
            if option.name == "out":  # None: runs/MODEL, the field's default for the default model
                assert default is None and defaults["out"] == f"runs/{defaults['model']}"
            else:
                assert default == defaults[option.name], option.name
    assert defaults["amp"] is True  # --no-amp turns the field's default off
