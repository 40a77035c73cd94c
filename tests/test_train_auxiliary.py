"""`genrt train cgan --class-weight W`: the auxiliary classifier beside the discriminator (genrt.train.auxiliary),
on real tiny runs over the bundled digits, their checkpoints and exports."""

import json

import onnx
import torch

from genrt.cli import main
from genrt.export import export_checkpoint
from genrt.train import TrainConfig, load_checkpoint, train
from genrt.train.auxiliary import AuxiliaryClassifier, class_loss
from genrt.train.config import AUXILIARY
from genrt.train.models import Generator, ModelConfig

SMALL = {"model": "cgan", "data": "digits", "batch_size": 32, "ngf": 8, "ndf": 8, "latent_dim": 16, "log_every": 1}
CONFIG = ModelConfig(kind="cgan", image_shape=(1, 28, 28), latent_dim=16, num_classes=10, ngf=8, ndf=8,
                     norm="batch", likelihood="bernoulli", mbstd_group=0)


def quiet(message):
    pass


def losses(folder, key):
    with open(folder / "metrics.jsonl") as f:
        rows = [json.loads(line) for line in f]
    return [row[key] for row in rows if key in row]


def test_the_classifier_learns_the_real_digits_from_the_images_alone(tmp_path):
    run = train(TrainConfig(**SMALL, class_weight=1.0, steps=60, lr_d=1e-3, out=str(tmp_path / "run")),
                progress=False, log=quiet)
    a_loss = losses(tmp_path / "run", "a_loss")
    assert len(a_loss) == 60
    assert sum(a_loss[:5]) / 5 > 1.8  # near ln 10 = 2.3 at the start: it knows nothing
    assert sum(a_loss[-10:]) / 10 < 0.6 * sum(a_loss[:5]) / 5  # and then reads the digits
    assert AuxiliaryClassifier(CONFIG).features.net[0].in_channels == 1  # no label planes to read the answer from
    saved = load_checkpoint(run["checkpoint"])
    assert saved.module_state(AUXILIARY) and saved.optimizer_state(AUXILIARY)["state"]


def test_the_class_term_reaches_the_generator_and_only_with_its_weight(tmp_path):
    def generator_after(name, weight):
        run = train(TrainConfig(**SMALL, class_weight=weight, steps=3, out=str(tmp_path / name)),
                    progress=False, log=quiet)
        return load_checkpoint(run["checkpoint"]).module_state("generator")

    plain, weighted = generator_after("plain", 0.0), generator_after("weighted", 5.0)
    assert any(not torch.equal(plain[key], weighted[key]) for key in plain)
    assert not load_checkpoint(tmp_path / "plain" / "checkpoint.safetensors").module_state(AUXILIARY)

    torch.manual_seed(0)
    G, A = Generator(CONFIG), AuxiliaryClassifier(CONFIG)
    z, y = torch.randn(8, 16), torch.arange(8) % 10
    class_loss(A, G(z, y), y).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters() if p.requires_grad)


def test_a_run_resumed_with_a_class_weight_starts_its_classifier_fresh(tmp_path):
    out = tmp_path / "run"
    train(TrainConfig(**SMALL, steps=3, out=str(out)), progress=False, log=quiet)
    run = train(TrainConfig(**SMALL, steps=6, class_weight=0.5, out=str(out)), resume=True, progress=False,
                log=quiet)
    assert len(losses(out, "a_loss")) == 3  # the three steps after the resume
    assert load_checkpoint(run["checkpoint"]).module_state(AUXILIARY)


def test_the_export_leaves_the_classifier_out(tmp_path, capsys):
    run = train(TrainConfig(**SMALL, steps=2, class_weight=0.5, out=str(tmp_path / "run")), progress=False,
                log=quiet)
    path = str(tmp_path / "g.onnx")
    export_checkpoint(run["checkpoint"], path, optimize=False, log=quiet)
    graph = onnx.load(path).graph
    assert [i.name for i in graph.input] == ["z", "label"] and [o.name for o in graph.output] == ["image"]
    assert not any(AUXILIARY in init.name for init in graph.initializer)

    assert main(["train", "dcgan", "--class-weight", "0.5", "--out", str(tmp_path / "d"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("genrt: error: ") and "class_weight needs class labels" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "d").exists()
