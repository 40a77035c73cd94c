"""`genrt train --init-generator`: a run's generator started from a plain export (genrt.train.warmstart), on
real tiny runs, real exports and onnxruntime."""

import numpy as np
import onnxruntime as ort
import pytest
import torch

from genrt.cli import main
from genrt.errors import InputError
from genrt.export import export_checkpoint
from genrt.train import TrainConfig, build_models, train
from genrt.train.models import ModelConfig
from genrt.train.warmstart import init_generator

TINY = {"data": "fake:64", "split": "all", "batch_size": 16, "ngf": 8, "ndf": 8, "latent_dim": 16, "log_every": 1}
BUNDLED = ModelConfig(kind="cgan", image_shape=(1, 28, 28), latent_dim=100, num_classes=10, ngf=64, ndf=64,
                      norm="batch", likelihood="bernoulli", mbstd_group=0)


def quiet(message):
    pass


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """A tiny cgan trained for a few steps (its batch norms have moved off 0 and 1), exported without optimizing."""
    folder = tmp_path_factory.mktemp("source")
    run = train(TrainConfig(**TINY, model="cgan", steps=6, out=str(folder / "run")), progress=False, log=quiet)
    path = str(folder / "plain.onnx")
    export_checkpoint(run["checkpoint"], path, optimize=False, log=quiet)
    return path


def images(path, z, label):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(["image"], {"z": z.numpy(), "label": label.numpy()})[0]


def inputs(n=32, latent_dim=16, seed=7, classes=10):
    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed)), torch.arange(n) % classes


def test_the_loaded_generator_computes_the_files_images(plain):
    cfg = tiny_config(plain)
    generator = build_models(cfg)["generator"]
    before = generator.net[0].weight.clone()
    assert len(init_generator(generator, plain, cfg)) == 64
    assert not torch.equal(before, generator.net[0].weight)
    z, label = inputs()
    expected = images(plain, z, label)
    with torch.no_grad():
        assert np.abs(generator.eval()(z, label).numpy() - expected).max() < 1e-4
        training_mode = generator.train()(z, label).numpy()  # batch statistics, close to the measured ones
    assert np.abs(training_mode - expected).mean() < 0.05
    assert generator.training


def tiny_config(path) -> ModelConfig:
    """The tiny run's ModelConfig, its data's image shape and classes read from the export."""
    import onnx

    metadata = {p.key: p.value for p in onnx.load(path).metadata_props}
    return ModelConfig(kind="cgan", image_shape=tuple(int(v) for v in metadata["genrt.image_shape"].split(",")),
                       latent_dim=16, num_classes=int(metadata["genrt.num_classes"]), ngf=8, ndf=8, norm="batch",
                       likelihood="bernoulli", mbstd_group=0)


def test_a_run_started_from_an_export_exports_the_same_images(plain, tmp_path):
    config = TrainConfig(**TINY, model="cgan", steps=3, lr=1e-9, lr_d=2e-4, ema_warmup=1.0, ema_decay=0.9999,
                         init_generator=plain, out=str(tmp_path / "tuned"))
    lines = []
    run = train(config, progress=False, log=lines.append)
    assert any(line.startswith(f"the generator starts from {plain} (sha256 ") for line in lines)
    again = str(tmp_path / "again.onnx")
    export_checkpoint(run["checkpoint"], again, optimize=False, log=quiet)
    z, label = inputs()
    difference = np.abs(images(again, z, label) - images(plain, z, label))
    assert difference.mean() < 5e-3 and difference.max() < 0.1  # the batch norms' statistics, measured again
    fresh = TrainConfig(**TINY, model="cgan", steps=3, lr=1e-9, out=str(tmp_path / "fresh"))
    other = str(tmp_path / "fresh.onnx")
    export_checkpoint(train(fresh, progress=False, log=quiet)["checkpoint"], other, optimize=False, log=quiet)
    assert np.abs(images(other, z, label) - images(plain, z, label)).mean() > 10 * difference.mean()


def test_files_that_do_not_fit_the_run_are_refused_with_what_to_do(plain, tmp_path):
    generator = build_models(BUNDLED)["generator"]
    with pytest.raises(InputError, match="is an optimized graph .*--no-optimize"):
        init_generator(generator, "genrt/runtime/default.onnx", BUNDLED)
    with pytest.raises(InputError, match="has genrt.latent_dim '16' but this run makes '100'; use --latent-dim 16"):
        init_generator(generator, plain, BUNDLED)
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x07not a protobuf at all" * 10)
    with pytest.raises(InputError, match="is not an ONNX file"):
        init_generator(generator, str(tmp_path / "junk.onnx"), BUNDLED)
    with pytest.raises(InputError, match="cannot read --init-generator .*missing.onnx"):
        init_generator(generator, str(tmp_path / "missing.onnx"), BUNDLED)
    with pytest.raises(InputError, match="init_generator starts a GAN's generator; vae has none"):
        TrainConfig(model="vae", init_generator=plain)


def test_cli_init_generator_and_its_one_line_error(plain, tmp_path, capsys):
    common = ["--data", "fake:64", "--split", "all", "--batch-size", "16", "--ndf", "8", "--steps", "2", "--quiet",
              "--init-generator", plain]
    assert main(["train", "cgan", "--ngf", "8", "--latent-dim", "16", "--out", str(tmp_path / "ok"), *common]) == 0
    assert "done: " in capsys.readouterr().out
    status = main(["train", "cgan", "--ngf", "16", "--latent-dim", "16", "--out", str(tmp_path / "wide"), *common])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and err[0].startswith("genrt: error: --init-generator ")
    assert "train with the file's widths (--ngf)" in err[0]
    assert not (tmp_path / "wide" / "checkpoint.safetensors").exists()
